"""``/api/perceptron``: read the shared perceptron, train it, reset it, analyse, export and import it."""

from __future__ import annotations

from flask import Blueprint, request

from voweler.api.access import management, public
from voweler.api.errors import ApiError
from voweler.api.inputs import json_object, query_number, typed
from voweler.api.responses import json_response
from voweler.models.perceptron import EXPORT_FIELDS
from voweler.services import service

bp = Blueprint("perceptron", __name__, url_prefix="/api/perceptron")

# An export at dim 4096 is about 90 KB of JSON, over the app's 64 KiB for other bodies.
MAX_IMPORT_BYTES = 1024 * 1024
# An export carries what every response does; importing ignores them.
IGNORED_ON_IMPORT = {"version", "pid"}


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


@bp.get("/robustness")
@public
def robustness():
    """Induced error analysis: each letter's flip distance and the robust accuracy at ``eps``."""
    return json_response(service("perceptron").robustness(query_number("eps", 0.0), request.args.get("norm", "l2")))


@bp.get("/export")
@public
def export():
    """The model's learned state as a JSON document, for ``POST /api/perceptron/import``."""
    return json_response(service("perceptron").export())


@bp.post("/import")
@management
def import_():
    """Replace the model by an exported document, as one new version."""
    if (request.content_length or 0) > MAX_IMPORT_BYTES:
        raise ApiError(413, f"request body larger than {MAX_IMPORT_BYTES:,} bytes")
    request.max_content_length = MAX_IMPORT_BYTES
    body = json_object(set(EXPORT_FIELDS) | IGNORED_ON_IMPORT)
    document = {key: value for key, value in body.items() if key not in IGNORED_ON_IMPORT}
    return json_response(service("perceptron").load(document))
