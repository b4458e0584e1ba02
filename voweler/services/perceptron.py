"""The perceptron as the app runs it: one shared model, trained and reset by transactions.

Every worker reads the same :class:`~voweler.models.Perceptron` from its store, and renders its
document once per state version: a read that finds nothing new costs a header peek.
"""

from __future__ import annotations

from voweler.models.perceptron import ALPHABET, DEFAULTS, IS_VOWEL, Perceptron, check_config, letter_indices
from voweler.services.base import Cache, Rejected, encode, refusing_bad_input
from voweler.state import Backend, Snapshot, Store, area_of

MAX_LETTERS = 4096  # per request: one transaction holds the lock for all of them


class PerceptronService:
    """Read, train and reset the shared perceptron; answers are JSON documents (bytes).

    >>> from voweler.state import open_backend
    >>> service = PerceptronService.open(open_backend("memory://"), {})
    >>> import json
    >>> json.loads(service.train("aeiou"))["updates"]
    5
    """

    def __init__(self, store: Store[Perceptron]):
        self.store = store
        self._cache = Cache()

    @classmethod
    def open(cls, backend: Backend, config: dict) -> "PerceptronService":
        return cls(backend.store(area_of("perceptron"), Perceptron))

    def document(self) -> bytes:
        return self._render(self.store.read())

    def train(self, letters: str) -> bytes:
        """Learn the letters in order, as one transaction; the state it produced."""
        check_length(letters)
        with refusing_bad_input():  # before the state is touched: bad input is a 400 even with Redis down
            indices = letter_indices(letters)
        snapshot, _mistakes = self.store.transact(lambda model: model.learn_indices(indices))
        return self._render(snapshot)

    def reset(self, settings: dict) -> bytes:
        """Start over with a fresh embedding; settings left out keep their current values."""
        with refusing_bad_input():  # each given setting on its own, before the state is touched
            check_config(**{**DEFAULTS, **settings})
        snapshot, _ = self.store.transact(lambda model: model.reset(**settings))
        return self._render(snapshot)

    def _render(self, snapshot: Snapshot[Perceptron]) -> bytes:
        return self._cache.get("document", snapshot.key, lambda: encode(render(snapshot.version, snapshot.model)))


def check_length(letters: str) -> None:
    """Refuse more letters than one transaction may hold the lock for."""
    if len(letters) > MAX_LETTERS:
        raise Rejected("bad_request", f"letters must be at most {MAX_LETTERS} characters; got {len(letters)}")


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
