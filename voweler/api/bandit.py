"""``/api/bandit``: serve alternatives by Thompson sampling, take rewards, edit the arms."""

from __future__ import annotations

import re

from flask import Blueprint, request

from voweler.api.access import management, public
from voweler.api.errors import ApiError
from voweler.api.inputs import json_object, only_keys, query_int, typed
from voweler.api.responses import json_response
from voweler.models import experiment
from voweler.services import service

bp = Blueprint("bandit", __name__, url_prefix="/api/bandit")

MAX_EVENTS = 5000  # per page of the event log
ARM_FIELDS = set(experiment.ARM_FIELDS)


@bp.get("")
@public
def show():
    return json_response(service("bandit").document())


@bp.post("/serve")
@public
def serve():
    """One visitor: which arm to show, with a ticket for its reward. Counts one impression."""
    json_object(set())
    return json_response(service("bandit").serve())


@bp.post("/reward")
@public
def reward():
    """A visitor's response to what it was served: counts one click if ``clicked``, once per ticket."""
    body = json_object({"ticket", "clicked"}, required={"ticket", "clicked"})
    return json_response(service("bandit").reward(typed(body, "ticket", "string"), typed(body, "clicked", "boolean")))


@bp.post("/arms")
@management
def add_arm():
    arm = _arm(json_object(ARM_FIELDS, required={"name"}))
    return json_response(service("bandit").add_arm(arm["name"], arm["prior_ctr"], arm["prior_impressions"]), status=201)


@bp.delete("/arms/<name>")
@management
def remove_arm(name: str):
    # uWSGI decodes a malformed escape such as "red%" or "%ZZ" into something: refuse it rather
    # than delete whatever it happened to decode to.
    if _BAD_ESCAPE.search(request.environ.get("REQUEST_URI", "")):
        raise ApiError(400, "the URL has a malformed percent-escape: encode the arm's name with %XX escapes")
    return json_response(service("bandit").remove_arm(name))


@bp.post("/reset")
@management
def reset():
    """Start a new test with these arms: counters from zero, older tickets void."""
    arms = typed(json_object({"arms"}, required={"arms"}), "arms", "array")
    given = []
    for i, arm in enumerate(arms):
        if not isinstance(arm, dict):
            raise ApiError(400, f"arms[{i}] must be an object like {{\"name\": \"red\"}}")
        given.append(_arm(only_keys(arm, ARM_FIELDS, required={"name"}, where=f"arms[{i}]."), f"arms[{i}]."))
    return json_response(service("bandit").reset(given))


@bp.get("/events")
@management
def events():
    """The event log, oldest first, from ``since`` (an event's ``seq``), at most ``limit`` events."""
    return json_response(service("bandit").events(query_int("since", 0, 0, 2**62), query_int("limit", 1000, 1, MAX_EVENTS)))


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _arm(body: dict, where: str = "") -> dict:
    """An arm's fields of their JSON types (the experiment checks their values); null priors: left out."""
    return {
        "name": typed(body, "name", "string", where),
        "prior_ctr": typed(body, "prior_ctr", "number", where) if body.get("prior_ctr") is not None else None,
        "prior_impressions": (
            typed(body, "prior_impressions", "number", where) if body.get("prior_impressions") is not None else None
        ),
    }
