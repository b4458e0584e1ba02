"""voweler: online-learning models shared correctly by every worker process of a web app."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: defaults, then the environment, then ``test_config``.

    ``VOWELER_STATE`` picks the state backend (see :mod:`voweler.state`).
    """
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config.from_mapping(
        STATE_URL=os.environ.get("VOWELER_STATE"),
        MAX_CONTENT_LENGTH=64 * 1024,  # bodies are small JSON documents; larger ones get a 413
    )
    if test_config:
        app.config.update(test_config)

    from voweler import api, stores

    stores.init_app(app)
    api.init_app(app)
    return app
