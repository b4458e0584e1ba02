"""``/api/bandit``: serve alternatives by Thompson sampling, take rewards, edit the arms."""

from __future__ import annotations

import contextlib
import re
import unicodedata

from flask import Blueprint, request

from voweler.api.errors import ApiError, error_response
from voweler.api.inputs import json_object, only_keys, typed
from voweler.api.responses import encode, json_response
from voweler.bandit_service import Rejected
from voweler.models.bandit import ArmConflict, UnknownArm
from voweler.stores import get_bandit

bp = Blueprint("bandit", __name__, url_prefix="/api/bandit")

MAX_EVENTS = 5000  # per page of the event log

# Why a reward or serve was refused -> (status, error code). 410 says the ticket was good once.
REASONS = {
    "ticket_malformed": (400, "invalid_ticket"),
    "ticket_forged": (403, "forged_ticket"),
    "ticket_expired": (410, "expired_ticket"),
    "ticket_unknown": (410, "unknown_ticket"),
    "ticket_redeemed": (409, "ticket_redeemed"),
    "test_ended": (410, "test_ended"),
    "arm_removed": (410, "arm_removed"),
    "busy": (503, "unavailable"),
    "beyond_log": (400, "bad_request"),
}


@bp.errorhandler(Rejected)
def rejected(error: Rejected):
    status, code = REASONS[error.reason]
    return error_response(ApiError(status, str(error), code))


@bp.get("")
def show():
    return json_response(_document())


@bp.post("/serve")
def serve():
    """One visitor: which arm to show, with a ticket for its reward. Counts one impression."""
    json_object(set())
    return json_response(get_bandit().serve())


@bp.post("/reward")
def reward():
    """A visitor's response to what it was served: counts one click if ``clicked``, once per ticket."""
    body = json_object({"ticket", "clicked"}, required={"ticket", "clicked"})
    token, clicked = typed(body, "ticket", "string"), typed(body, "clicked", "boolean")
    return json_response(get_bandit().reward(token, clicked))


@bp.post("/arms")
def add_arm():
    body = json_object({"name", "prior_ctr", "prior_impressions"}, required={"name"})
    name, ctr, impressions = _arm_fields(body)
    with _model_errors():
        get_bandit().add_arm(name, ctr, impressions)
    return json_response(_document(), status=201)


@bp.delete("/arms/<name>")
def remove_arm(name: str):
    # uWSGI decodes a malformed escape such as "red%" or "%ZZ" into something: refuse it rather
    # than delete whatever it happened to decode to.
    if _BAD_ESCAPE.search(request.environ.get("REQUEST_URI", "")):
        raise ApiError(400, "the URL has a malformed percent-escape: encode the arm's name with %XX escapes")
    with _model_errors():
        get_bandit().remove_arm(unicodedata.normalize("NFC", name))
    return json_response(_document())


@bp.post("/reset")
def reset():
    """Start a new test with these arms: counters from zero, older tickets void."""
    arms = typed(json_object({"arms"}, required={"arms"}), "arms", "array")
    given = []
    for i, arm in enumerate(arms):
        where = f"arms[{i}]."
        if not isinstance(arm, dict):
            raise ApiError(400, f"arms[{i}] must be an object like {{\"name\": \"red\"}}")
        only_keys(arm, {"name", "prior_ctr", "prior_impressions"}, required={"name"}, where=where)
        name, ctr, impressions = _arm_fields(arm, where)
        given.append({"name": name, "prior_ctr": ctr, "prior_impressions": impressions})
    with _model_errors():
        get_bandit().reset(given)
    return json_response(_document())


@bp.get("/events")
def events():
    """The event log, oldest first, from ``since`` (an event's ``seq``), at most ``limit`` events."""
    since = _query_int("since", 0, 0, 2**62)
    limit = _query_int("limit", 1000, 1, MAX_EVENTS)
    return json_response(get_bandit().events(since, limit))


_encoded: tuple[dict | None, bytes] = (None, b"")  # this worker's last document, and its JSON


def _document() -> bytes:
    """The bandit document as JSON, encoded again only when the service renders a new one."""
    global _encoded
    document = get_bandit().document()
    if _encoded[0] is not document:
        _encoded = (document, encode(document))
    return _encoded[1]


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _arm_fields(body: dict, where: str = ""):
    # Names are compared after NFC normalization, so that "grün" typed two ways is one arm.
    name = unicodedata.normalize("NFC", typed(body, "name", "string", where))
    ctr = typed(body, "prior_ctr", "number", where) if body.get("prior_ctr") is not None else None
    impressions = typed(body, "prior_impressions", "number", where) if body.get("prior_impressions") is not None else None
    return name, ctr, impressions


def _query_int(key: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(key)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ApiError(400, f"{key} must be an integer from {low} to {high:,}; got {raw!r}")
    return int(raw)


@contextlib.contextmanager
def _model_errors():
    """The model's refusals as API errors: an unknown arm 404, a conflict 409, a bad value 400."""
    try:
        yield
    except UnknownArm as error:
        raise ApiError(404, str(error), "unknown_arm") from None
    except ArmConflict as error:
        raise ApiError(409, str(error), "conflict") from None
    except ValueError as error:
        raise ApiError(400, str(error)) from None
