"""``/api/names``: Markov chains over name corpora: generate, complete ``***base``, score, learn."""

from __future__ import annotations

from flask import Blueprint, request

from voweler.api.access import management, public
from voweler.api.errors import ApiError
from voweler.api.inputs import json_object, query_flag, query_int, query_text, typed
from voweler.api.responses import json_response
from voweler.models.markov import MAX_LENGTH
from voweler.services import service
from voweler.services.names import MAX_N

bp = Blueprint("names", __name__, url_prefix="/api/names")
SEEDS = 2**32 - 1


@bp.get("")
@public
def catalogue():
    return json_response(service("names").catalogue())


@bp.get("/<model>/<corpus>/generate")
@public
def generate(model: str, corpus: str):
    min_length = query_int("min_length", 1, 1, MAX_LENGTH)
    max_length = query_int("max_length", MAX_LENGTH, 1, MAX_LENGTH)
    if min_length > max_length:
        raise ApiError(400, f"min_length ({min_length}) must not exceed max_length ({max_length})")
    return json_response(service("names").generate(
        model, corpus, query_int("n", 10, 1, MAX_N), query_int("seed", None, 0, SEEDS), query_flag("novel"),
        min_length, max_length,
    ))  # fmt: skip


@bp.get("/<model>/<corpus>/complete")
@public
def complete(model: str, corpus: str):
    mode = request.args.get("mode", "top")
    if mode not in ("top", "sample"):
        raise ApiError(400, f"mode must be top or sample; got {mode!r}")
    pattern = query_text("q", MAX_LENGTH)
    return json_response(service("names").complete(
        model, corpus, pattern, query_int("n", 10, 1, MAX_N), mode, query_int("seed", None, 0, SEEDS),
    ))  # fmt: skip


@bp.get("/<model>/<corpus>/score")
@public
def score(model: str, corpus: str):
    return json_response(service("names").score(model, corpus, query_text("name", MAX_LENGTH)))


@bp.get("/<model>/<corpus>/transitions")
@public
def transitions(model: str, corpus: str):
    return json_response(service("names").transitions(model, corpus))


@bp.get("/<corpus>/learned")
@public
def learned(corpus: str):
    return json_response(service("names").learned(corpus))


@bp.post("/corpora")
@management
def create():
    """Create a corpus from a list of names (201)."""
    body = json_object({"name", "names"}, required={"name", "names"})
    name, names = typed(body, "name", "string"), typed(body, "names", "array")
    return json_response(service("names").create(name, names), status=201)


@bp.post("/<corpus>/learn")
@public
def learn(corpus: str):
    """Teach names to a corpus, as one transaction."""
    names = typed(json_object({"names"}, required={"names"}), "names", "array")
    return json_response(service("names").learn(corpus, names))
