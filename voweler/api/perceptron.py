"""``/api/perceptron``: read the shared perceptron, train it, reset it."""

from __future__ import annotations

from flask import Blueprint

from voweler.api.access import management, public
from voweler.api.inputs import json_object, typed
from voweler.api.responses import json_response
from voweler.services import service

bp = Blueprint("perceptron", __name__, url_prefix="/api/perceptron")


@bp.get("")
@public
def show():
    return json_response(service("perceptron").document())


@bp.post("/train")
@public
def train():
    """Learn the letters in order, as one transaction; answer the state it produced."""
    return json_response(service("perceptron").train(letters_in_request()))


@bp.post("/reset")
@management
def reset():
    """Start over with a fresh embedding; settings left out keep their current values."""
    return json_response(service("perceptron").reset(settings_in_request()))


def letters_in_request() -> str:
    """The body's ``letters``: a JSON string (the model checks what it holds)."""
    return typed(json_object({"letters"}, required={"letters"}), "letters", "string")


def settings_in_request() -> dict:
    """The body's reset settings that were given, each of its JSON type (the model checks ranges)."""
    kinds = {"dim": "integer", "seed": "integer", "learning_rate": "number"}
    body = json_object(set(kinds))
    return {key: typed(body, key, kind) for key, kind in kinds.items() if key in body}
