"""One error type, one JSON error shape, one place that renders it.

Every error the API returns looks like::

    {"error": "bad_request", "status": 400, "message": "letters must be lowercase a-z; got 'A'", "pid": 4242}

``error`` is a stable machine-readable code, ``message`` says what is wrong in words a person
can act on, and ``pid`` names the worker that answered, as on every response.
"""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import HTTPException

from voweler.api.responses import json_response
from voweler.services import Rejected
from voweler.state import StateTooLarge, StateUnavailable


class ApiError(Exception):
    """An error answered to the client as JSON; raise it anywhere in a request."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or _CODES.get(status, "error")
        self.headers = headers or {}


_CODES = {
    400: "bad_request",
    404: "not_found",
    403: "forbidden",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    411: "length_required",
    413: "too_large",
    415: "unsupported_media_type",
    500: "internal_error",
    503: "unavailable",
}


# Why a service refused a request -> (status, error code). 410 says a ticket was good once.
REASONS = {
    "bad_request": (400, "bad_request"),
    "unknown_arm": (404, "unknown_arm"),
    "conflict": (409, "conflict"),
    "ticket_malformed": (400, "invalid_ticket"),
    "ticket_forged": (403, "forged_ticket"),
    "ticket_expired": (410, "expired_ticket"),
    "ticket_unknown": (410, "unknown_ticket"),
    "ticket_redeemed": (409, "ticket_redeemed"),
    "test_ended": (410, "test_ended"),
    "arm_removed": (410, "arm_removed"),
    "busy": (503, "unavailable"),
    "beyond_log": (400, "bad_request"),
    "unknown_model": (404, "unknown_model"),
    "unknown_corpus": (404, "unknown_corpus"),
}


def error_response(error: ApiError):
    body = {"error": error.code, "status": error.status, "message": error.message}
    response = json_response(body, status=error.status)
    response.headers.update(error.headers)
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(ApiError, error_response)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        # Werkzeug's own 404/405/413...: same shape, with a message that fits an API.
        message = {
            404: "no such endpoint; see the README for the API",
            405: f"method not allowed here; allowed: {', '.join(sorted(error.valid_methods or []))}"
            if getattr(error, "valid_methods", None)
            else "method not allowed here",
            413: f"request body larger than {app.config['MAX_CONTENT_LENGTH']:,} bytes",
        }.get(error.code, error.description)
        response = error_response(ApiError(error.code or 500, message))
        if error.code == 405 and getattr(error, "valid_methods", None):
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Rejected)
    def rejected(error: Rejected):
        status, code = REASONS[error.reason]
        return error_response(ApiError(status, str(error), code))

    @app.errorhandler(StateTooLarge)
    def too_large(error: StateTooLarge):
        return error_response(ApiError(413, str(error), "state_too_large"))

    @app.errorhandler(StateUnavailable)
    def unavailable(error: StateUnavailable):
        response = error_response(ApiError(503, str(error)))
        response.headers["Retry-After"] = "1"
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        # A bug, not bad input: log it with its traceback, answer the same shape, reveal nothing.
        app.logger.exception("unhandled error")
        return error_response(ApiError(500, "internal error; the server log has the details"))
