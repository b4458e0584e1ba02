"""voweler: online-learning models shared correctly by every worker process of a web app."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from voweler.state.durable import flush_seconds

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then the environment, then ``test_config``.

    ``VOWELER_STATE`` picks the state backend (see :mod:`voweler.state`). ``VOWELER_SECRET``
    signs the bandit's tickets (without it, a secret is generated once and shared through the
    state backend); ``VOWELER_TICKET_TTL`` is how many seconds a ticket stays good.
    """
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config.from_mapping(
        STATE_URL=os.environ.get("VOWELER_STATE"),
        MAX_CONTENT_LENGTH=64 * 1024,  # bodies are small JSON documents; larger ones get a 413
        SECRET=os.environ.get("VOWELER_SECRET") or None,
        TICKET_TTL=os.environ.get("VOWELER_TICKET_TTL", "3600"),
    )
    if test_config:
        app.config.update(test_config)
    _check_config(app.config)

    from voweler import api, stores

    stores.init_app(app)
    api.init_app(app)
    return app


def _check_config(config) -> None:
    """Refuse to start on settings that would fail later, saying which and why."""
    secret = config["SECRET"]
    if isinstance(secret, str):
        secret = config["SECRET"] = secret.encode()
    if secret is not None and len(secret) < 16:
        raise ValueError(
            "VOWELER_SECRET must be at least 16 bytes long; for example: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    ttl = str(config["TICKET_TTL"])
    if not (ttl.isascii() and ttl.isdigit()) or not 1 <= int(ttl) <= 30 * 86400:
        raise ValueError(f"VOWELER_TICKET_TTL must be a whole number of seconds from 1 to 2592000 (30 days); got {ttl!r}")
    config["TICKET_TTL"] = int(ttl)
    # read by the flusher mule, which cannot stop uWSGI from starting: check it here, in the master
    flush_seconds(os.environ)
