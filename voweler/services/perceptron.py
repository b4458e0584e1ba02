"""The perceptron as the app runs it: one shared model, trained and reset by transactions.

Every worker reads the same :class:`~voweler.models.Perceptron` from its store, and renders its
document once per state version: a read that finds nothing new costs a header peek.
"""

from __future__ import annotations

import logging
import math

import numpy as np

from voweler.models.perceptron import (
    ALPHABET,
    DEFAULTS,
    IS_VOWEL,
    Perceptron,
    check_config,
    export_document,
    import_document,
    letter_indices,
)
from voweler.models.robustness import check_norm, flip_distances, robust_correct
from voweler.services.base import Cache, Rejected, encode, refusing_bad_input
from voweler.state import Backend, Snapshot, Store, area_of

MAX_LETTERS = 4096  # per request: one transaction holds the lock for all of them
MAX_EPS = 100.0  # robustness: letters are about 1 long, so beyond this every answer is the same
BOUNDARIES = ("perceptron", "lda", "optimum")


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

    def robustness(self, eps: float, norm: str) -> bytes:
        """Induced error analysis of the three boundaries at ``eps`` in ``norm`` (l2 or linf)."""
        with refusing_bad_input():
            check_norm(norm)
            check_eps(eps)
        snapshot = self.store.read()
        distances = self._cache.get(f"flip-{norm}", snapshot.key, lambda: flips(snapshot.model, norm))
        return encode(render_robustness(snapshot.version, eps, norm, distances))

    def export(self) -> bytes:
        """The model's learned state, as a document :meth:`load` accepts."""
        snapshot = self.store.read()
        return self._cache.get("export", snapshot.key, lambda: encode({"version": snapshot.version, **export_document(snapshot.model)}))

    def load(self, document: dict) -> bytes:
        """Replace the model by an exported one, as one new version; the state it produced."""
        with refusing_bad_input():  # the whole document, before the state is touched
            imported = import_document({key: value for key, value in document.items() if key != "version"})
        snapshot, _ = self.store.transact(lambda model: model.replace_with(imported))
        return self._render(snapshot)

    def _render(self, snapshot: Snapshot[Perceptron]) -> bytes:
        return self._cache.get("document", snapshot.key, lambda: encode(render(snapshot.version, snapshot.model)))


def check_length(letters: str) -> None:
    """Refuse more letters than one transaction may hold the lock for."""
    if len(letters) > MAX_LETTERS:
        raise Rejected("bad_request", f"letters must be at most {MAX_LETTERS} characters; got {len(letters)}")


def check_eps(eps: float) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps <= MAX_EPS:  # NaN fails too
        raise ValueError(f"eps must be a number from 0 to {MAX_EPS:g}; got {eps!r}")


def boundaries(model: Perceptron) -> dict[str, tuple[np.ndarray, float]]:
    """The three straight boundaries as ``(w, b)``: a letter is predicted a vowel where ``x.w + b > 0``.

    The optimum is left out in the (so far unseen) case where its solvers could not certify it.
    """
    lda, best = model.lda, optimum_of(model)
    found = {"perceptron": (model.weights, model.bias), "lda": (lda.direction, -lda.threshold)}
    if best is not None:
        found["optimum"] = (best.weights, best.bias)
    return found


_UNCERTIFIED: set[tuple[int, int]] = set()  # (dim, seed) whose optimum failed: not tried again here


def optimum_of(model: Perceptron):
    """The model's optimum, or None if the solvers failed: then the document says ``null``, not a 500.

    The optimum is an extra, so any failure of the solvers (not only an uncertified answer) is
    logged once and remembered, rather than tried again at every version.
    """
    key = (model.dim, model.seed)
    if key in _UNCERTIFIED:
        return None
    try:
        return model.optimum
    except Exception:
        logging.getLogger(__name__).exception("no certified optimum for dim %d, seed %d", model.dim, model.seed)
        _UNCERTIFIED.add(key)
        return None


def flips(model: Perceptron, norm: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each boundary: which letters it gets right, and each letter's flip distance in ``norm``."""
    return {
        name: ((model.embedding @ w + b > 0) == IS_VOWEL, flip_distances(model.embedding, w, b, norm))
        for name, (w, b) in boundaries(model).items()
    }


def render_robustness(version: int, eps: float, norm: str, distances: dict) -> dict:
    return {
        "version": version,
        "eps": eps,
        "norm": norm,
        "boundaries": {
            name: {
                "accuracy": float(correct.mean()),
                "robust_accuracy": float(robust_correct(correct, flip, eps).mean()),
                "letters": [
                    {"letter": letter, "correct": right, "flip_distance": None if math.isinf(d) else d, "robust": robust}
                    for letter, right, d, robust in zip(
                        ALPHABET, correct.tolist(), flip.tolist(), robust_correct(correct, flip, eps).tolist()
                    )
                ],
            }
            for name, (correct, flip) in distances.items()
        },
    }


def render(version: int, model: Perceptron) -> dict:
    """Everything the page needs about the perceptron, as values orjson can encode."""
    view = model.letter_view()
    best = optimum_of(model)
    return {
        "version": version,
        "dim": model.dim,
        "seed": model.seed,
        "learning_rate": model.learning_rate,
        "updates": model.updates,
        "mistakes": model.mistakes,
        "accuracy": view.accuracy,
        "lda_accuracy": model.lda.accuracy,
        "optimum": None if best is None else {"accuracy": best.accuracy, "separable": best.separable, "margin": best.margin},
        "bias": model.bias,
        "weights": model.weights,
        "letters": [
            {"letter": letter, "vowel": vowel, "predicted": guess, "margin": margin}
            for letter, vowel, guess, margin in zip(ALPHABET, IS_VOWEL.tolist(), view.predicted.tolist(), view.margins.tolist())
        ],
        "projections": {
            "perceptron": {"values": view.projection, "threshold": view.threshold},
            "lda": {"values": model.lda_projection, "threshold": model.lda.threshold},
            **({} if best is None else {"optimum": {"values": model.embedding @ best.direction, "threshold": best.threshold}}),
        },
        "history": model.history,
    }
