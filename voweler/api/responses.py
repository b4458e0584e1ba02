"""JSON out: every response names the worker process that answered."""

from __future__ import annotations

import json
import os

from flask import Response

_dumps = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def encode(body: dict) -> str:
    """``body`` plus ``"pid"``, as compact JSON. Kept apart so a document can be cached per state version."""
    return _dumps({**body, "pid": os.getpid()})


def json_response(body: dict | str, status: int = 200) -> Response:
    """A JSON response from a dict, or from a document :func:`encode` already made."""
    return Response(body if isinstance(body, str) else encode(body), status=status, mimetype="application/json")
