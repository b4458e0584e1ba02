"""Every setting of voweler, defined once: its environment variable, default, range and help.

The app reads its settings once, in :func:`load` (``create_app``); uWSGI reads the ones marked
``uwsgi.ini`` itself (they decide ports, processes and files before Python runs), and the
flusher mule reads ``VOWELER_FLUSH_SECONDS`` through :func:`value`. A test checks the README's
configuration table, and the defaults written in ``uwsgi.ini``, against this table.

A setting that is out of range stops the app from starting, with a sentence naming the variable,
what it accepts and what it got: under uWSGI that is a failed start (``need-app``), not a worker
that fails later.
"""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass
from typing import Any, Callable, Mapping


def _text(raw: str) -> str:
    return raw


def _state_url(raw: str) -> str:
    from voweler.state import StateError, open_backend

    try:
        open_backend(raw)  # checks the scheme (and a Redis URL's form); connects to nothing
    except StateError as error:
        raise ValueError(f"is not a state URL voweler can use: {error}") from None
    return raw


def _secret(raw: str | bytes) -> bytes:
    secret = raw.encode() if isinstance(raw, str) else raw
    if len(secret) < 16:
        raise ValueError(
            "must be at least 16 bytes long; for example: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return secret


def _admin_token(raw: str | bytes) -> bytes:
    token = raw.encode() if isinstance(raw, str) else raw
    if len(token) < 32 or not token.isascii() or any(c <= 32 or c == 127 for c in token):
        raise ValueError(
            "must be at least 32 printable ASCII bytes without spaces; for example: "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token


def _networks(raw: str | list) -> tuple:
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    networks = []
    for part in (str(p).strip() for p in parts):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"must be IP addresses or networks separated by commas, like 127.0.0.1,10.0.0.0/8; got {part!r}") from None
    return tuple(networks)


def _ticket_ttl(raw: str | int) -> int:
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 30 * 86400:
        raise ValueError(f"must be a whole number of seconds from 1 to 2592000 (30 days); got {text!r}")
    return int(text)


def _flush_seconds(raw: str | float) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0.05 <= seconds <= 3600:
        raise ValueError(f"must be a number of seconds from 0.05 to 3600; got {raw!r}")
    return seconds


@dataclass(frozen=True)
class Setting:
    """One setting: where it comes from, what it defaults to, how it is checked, what it means."""

    env: str  # the environment variable
    default: str  # as it would be written in the environment; "" for none (the value is then None)
    help: str  # one line, as the README's table says it
    shown_default: str  # the default as the README's table shows it
    config: str | None = None  # the app.config key, for settings the app reads
    parse: Callable[[Any], Any] = _text  # raw text -> value, ValueError (the reason) if out of range
    read_by: str = "the app"  # or "uwsgi.ini", or "the flusher"


SETTINGS: tuple[Setting, ...] = (
    Setting("VOWELER_HTTP", "127.0.0.1:9090", "address to serve HTTP on", "`127.0.0.1:9090`", read_by="uwsgi.ini"),
    Setting("VOWELER_PROCESSES", "4", "number of worker processes", "`4`", read_by="uwsgi.ini"),
    Setting("VOWELER_STATS", "127.0.0.1:9191", "uWSGI stats server (uwsgitop)", "`127.0.0.1:9191`", read_by="uwsgi.ini"),
    Setting(
        "VOWELER_DATA_DIR", "", "where the state lives on disk ([durable state](#durable-state)); one uWSGI per directory",
        "`data/` beside `uwsgi.ini`", read_by="uwsgi.ini",
    ),
    Setting(
        "VOWELER_FLUSH_SECONDS", "1", "how often changed state is snapshotted against a machine crash (0.05 to 3600)",
        "`1`", "FLUSH_SECONDS", _flush_seconds, read_by="the flusher",
    ),
    Setting(
        "VOWELER_STATE", "",
        "where state lives: `sharedarea://`, `memory://`, or `redis://host:port/db` for several hosts "
        "([below](#several-hosts-redis))",
        "`sharedarea://` under uWSGI, else `memory://`", "STATE_URL", _state_url,
    ),
    Setting(
        "VOWELER_SECRET", "",
        "a second secret in the key that signs the bandit's tickets; at least 16 bytes",
        "none: the tally's own generated secret alone (see below)", "SECRET", _secret,
    ),
    Setting(
        "VOWELER_TICKET_TTL", "3600", "seconds a bandit ticket can be redeemed (1 to 2,592,000)", "`3600`",
        "TICKET_TTL", _ticket_ttl,
    ),
    Setting(
        "VOWELER_ADMIN_TOKEN", "",
        "the operator token that [management requests](#who-may-change-what) must send; at least 32 bytes",
        "none: management only from this machine", "ADMIN_TOKEN", _admin_token,
    ),
    Setting(
        "VOWELER_TRUSTED_PROXIES", "",
        "the proxies whose `X-Forwarded-For` is believed: addresses or networks, separated by commas",
        "none: the connection's address is the client's", "TRUSTED_PROXIES", _networks,
    ),
)  # fmt: skip

BY_ENV = {setting.env: setting for setting in SETTINGS}


def value(env: str, environ: Mapping[str, str] = os.environ) -> Any:
    """One setting's checked value from ``environ``.

    >>> value("VOWELER_FLUSH_SECONDS", {"VOWELER_FLUSH_SECONDS": "0.5"}), value("VOWELER_FLUSH_SECONDS", {})
    (0.5, 1.0)
    >>> value("VOWELER_TICKET_TTL", {"VOWELER_TICKET_TTL": "soon"})
    Traceback (most recent call last):
    ...
    ValueError: VOWELER_TICKET_TTL must be a whole number of seconds from 1 to 2592000 (30 days); got 'soon'
    """
    setting = BY_ENV[env]
    raw = environ.get(env, setting.default)
    return check(setting, None if raw == "" == setting.default else raw)


def check(setting: Setting, raw: Any) -> Any:
    """``raw`` parsed and checked for ``setting``; ValueError naming the variable if out of range.

    None stays None for a setting without a default (not set); for any other it is refused.
    """
    if raw is None and not setting.default:
        return None
    try:
        return setting.parse(raw)
    except ValueError as error:
        raise ValueError(f"{setting.env} {error}") from None


def load(environ: Mapping[str, str] = os.environ, overrides: Mapping[str, Any] | None = None) -> dict:
    """The app's settings as ``app.config`` keys: the environment, then ``overrides`` (tests).

    Every value, overridden or not, is checked: a bad one raises ValueError before anything runs.
    A variable without a default that is set to the empty string counts as not set.
    """
    overrides = dict(overrides or {})
    config = {}
    for setting in SETTINGS:
        if setting.config is None:
            continue
        if setting.config in overrides:
            config[setting.config] = check(setting, overrides.pop(setting.config))
        else:
            config[setting.config] = value(setting.env, environ)
    return {**config, **overrides}
