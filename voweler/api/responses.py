"""JSON out: every response names the worker process that answered (``"pid"``)."""

from __future__ import annotations

from flask import Response

from voweler.services.base import encode


def json_response(body: dict | bytes, status: int = 200) -> Response:
    """A JSON response from a dict, or from a document a service already encoded."""
    return Response(body if isinstance(body, bytes) else encode(body), status=status, mimetype="application/json")
