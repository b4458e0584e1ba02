"""``/api/perceptron``: read the shared perceptron, train it, reset it."""

from __future__ import annotations

from flask import Blueprint

from voweler.api.errors import ApiError
from voweler.api.inputs import json_object, typed
from voweler.api.responses import encode, json_response
from voweler.models.perceptron import ALPHABET, DEFAULTS, IS_VOWEL, Perceptron, check_config, check_letters
from voweler.state import Snapshot
from voweler.stores import get_store

bp = Blueprint("perceptron", __name__, url_prefix="/api/perceptron")

MAX_LETTERS = 4096  # per request: one transaction holds the lock for all of them


@bp.get("")
def show():
    return json_response(_document(get_store("perceptron").read()))


@bp.post("/train")
def train():
    """Learn the letters in order, as one transaction; answer the state it produced."""
    letters = letters_to_train()
    snapshot, _mistakes = get_store("perceptron").transact(lambda model: model.learn_many(letters))
    return json_response(_document(snapshot))


@bp.post("/reset")
def reset():
    """Start over with a fresh embedding; settings left out keep their current values."""
    given = settings_to_reset()
    snapshot, _ = get_store("perceptron").transact(lambda model: model.reset(**given))
    return json_response(_document(snapshot))


def letters_to_train() -> str:
    """The request's ``letters``, checked: 1 to MAX_LETTERS lowercase a-z, or a 400."""
    letters = typed(json_object({"letters"}, required={"letters"}), "letters", "string")
    if len(letters) > MAX_LETTERS:
        raise ApiError(400, f"letters must be at most {MAX_LETTERS} characters; got {len(letters)}")
    try:
        check_letters(letters)
    except ValueError as error:
        raise ApiError(400, str(error)) from None
    return letters


def settings_to_reset() -> dict:
    """The request's reset settings that were given, each checked, or a 400."""
    kinds = {"dim": "integer", "seed": "integer", "learning_rate": "number"}
    body = json_object(set(kinds))
    given = {key: typed(body, key, kind) for key, kind in kinds.items() if key in body}
    try:
        check_config(**{**DEFAULTS, **given})  # each setting is checked on its own: defaults fill in
    except ValueError as error:
        raise ApiError(400, str(error)) from None
    return given


def _document(snapshot: Snapshot[Perceptron]) -> bytes:
    """The JSON answer for a state; rendered once per version per worker, then reused."""
    return snapshot.derive("json", lambda: encode(render(snapshot.version, snapshot.model)))


def render(version: int, model: Perceptron) -> dict:
    """Everything the page needs about the perceptron, as values orjson can encode."""
    view = model.letter_view()
    return {
        "version": version,
        "dim": model.dim,
        "seed": model.seed,
        "learning_rate": model.learning_rate,
        "updates": model.updates,
        "mistakes": model.mistakes,
        "accuracy": view.accuracy,
        "lda_accuracy": model.lda.accuracy,
        "bias": model.bias,
        "weights": model.weights,
        "letters": [
            {"letter": letter, "vowel": vowel, "predicted": guess, "margin": margin}
            for letter, vowel, guess, margin in zip(ALPHABET, IS_VOWEL.tolist(), view.predicted.tolist(), view.margins.tolist())
        ],
        "projections": {
            "perceptron": {"values": view.projection, "threshold": view.threshold},
            "lda": {"values": model.lda_projection, "threshold": model.lda.threshold},
        },
        "history": model.history,
    }
