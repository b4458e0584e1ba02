"""JSON out: every response names the worker process that answered.

Encoded with orjson: a perceptron document is a few hundred floats, which the standard
library's encoder takes about ten times longer to write (measured in bench/throughput.py's
terms, it decides whether training keeps up with reads). Floats are written as their shortest
round-trip form, so clients get the exact bits the model holds.
"""

from __future__ import annotations

import os

import orjson
from flask import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def encode(body: dict) -> bytes:
    """``body`` plus ``"pid"``, as JSON. Kept apart so a document can be cached per state version."""
    return orjson.dumps({**body, "pid": os.getpid()}, option=_OPTIONS)


def json_response(body: dict | bytes, status: int = 200) -> Response:
    """A JSON response from a dict, or from a document :func:`encode` already made."""
    return Response(body if isinstance(body, bytes) else encode(body), status=status, mimetype="application/json")
