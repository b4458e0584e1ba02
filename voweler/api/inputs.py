"""JSON in: request bodies are parsed and checked one way, and bad input becomes an ApiError."""

from __future__ import annotations

import math

import orjson
from flask import request

from voweler.api.errors import ApiError


def json_object(allowed: set[str], required: set[str] = frozenset()) -> dict:
    """The request body as a JSON object with only ``allowed`` keys, all ``required`` ones present.

    An empty body counts as ``{}``. Unknown keys are refused: a typo should not be ignored silently.
    """
    if request.content_length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        raise ApiError(411, "send the body with a Content-Length header (chunked bodies are not read)")
    raw = request.get_data(cache=False)
    if not raw.strip():
        body = {}
    else:
        if not request.is_json:
            raise ApiError(415, "send a JSON body with Content-Type: application/json")
        try:
            # orjson is strict where the standard library is lenient: NaN, Infinity and numbers
            # that overflow to infinity are not JSON, and are refused here.
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise ApiError(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"the body must be a JSON object, not {_json_type(body)}")
    return only_keys(body, allowed, required)


def typed(body: dict, key: str, kind: str, where: str = ""):
    """``body[key]`` if it has the JSON type ``kind``, else a 400 naming ``where + key``.

    Kinds: "string", "integer", "number", "boolean", "array".
    """
    value = body[key]
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
    }[kind]
    if not ok:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ApiError(400, f"{where}{key} must be {article} {kind}, not {_json_type(value)}")
    return value


def only_keys(body: dict, allowed: set[str], required: set[str] = frozenset(), where: str = "") -> dict:
    """Refuse unknown and missing keys of a JSON object (``where`` names it in messages)."""
    inside = f" in {where.rstrip('.')}" if where else ""
    unknown = sorted(set(body) - allowed)
    if unknown and not allowed:
        raise ApiError(400, f"unknown field {unknown[0]!r}{inside}: this request takes no fields")
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}{inside}; allowed: {', '.join(sorted(allowed))}")
    missing = sorted(required - set(body))
    if missing:
        raise ApiError(400, f"missing field {missing[0]!r}{inside}")
    return body


def query_int(key: str, default: int, low: int, high: int) -> int:
    """The query parameter ``key`` as an integer from ``low`` to ``high``, ``default`` if absent, or a 400."""
    raw = request.args.get(key)
    if raw is None:
        return default
    # the length first: Python refuses to convert more than 4,300 digits (a ValueError, not a 400)
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 24) or not low <= int(raw) <= high:
        raise ApiError(400, f"{key} must be an integer from {low} to {high:,}; got {raw!r}")
    return int(raw)


def query_number(key: str, default: float) -> float:
    """The query parameter ``key`` as a finite number, ``default`` if absent, or a 400 (the service checks its range)."""
    raw = request.args.get(key)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{key} must be a number; got {raw!r}") from None
    if not math.isfinite(value):
        raise ApiError(400, f"{key} must be a finite number; got {raw!r}")
    return value


def query_text(key: str, longest: int) -> str:
    """A required query parameter of 1 to ``longest`` characters, or a 400."""
    value = request.args.get(key)
    if value is None or not 1 <= len(value) <= longest:
        got = "nothing" if value is None else f"{len(value)} characters"
        raise ApiError(400, f"{key} must be 1 to {longest} characters; got {got}")
    return value


def query_flag(key: str) -> bool:
    """The query parameter ``key`` as true/false (or 1/0), false if absent, or a 400."""
    raw = request.args.get(key, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise ApiError(400, f"{key} must be true or false; got {raw!r}")
    return raw in ("true", "1")


def _json_type(value) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__
    )
