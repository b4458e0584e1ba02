"""A perceptron that learns which letters are vowels.

Pure numpy: nothing here knows about Flask, uWSGI or shared memory. Each letter a-z is a random
vector drawn from ``seed``, so every process that builds ``Perceptron(dim, seed)`` gets the same
embedding and the same initial weights, and only the learned part (weights, bias, counters) has
to be shared. The embedding itself is never stored: it is rebuilt, and cached, per process.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from voweler.models.lda import Discriminant, fisher_lda
from voweler.models.optimum import Boundary, best_boundary

ALPHABET = "abcdefghijklmnopqrstuvwxyz"
VOWELS = "aeiouy"
IS_VOWEL = np.array([c in VOWELS for c in ALPHABET])
LABELS = np.where(IS_VOWEL, 1.0, -1.0)  # +1 vowel, -1 consonant
_INDEX = {c: i for i, c in enumerate(ALPHABET)}

MIN_DIM, MAX_DIM = 1, 4096
MAX_SEED = 2**32 - 1
MAX_LEARNING_RATE = 1000.0
DEFAULTS = {"dim": 16, "seed": 0, "learning_rate": 0.1}  # a new model's settings
HISTORY_LENGTH = 256  # (updates, accuracy) points kept for the accuracy-over-time line
EXPORT_FORMAT, EXPORT_VERSION = "voweler.perceptron", 1  # what an exported document says it is
EXPORT_FIELDS = ("format", "format_version", "dim", "seed", "learning_rate", "updates", "mistakes", "bias", "weights", "history")


@dataclass(frozen=True)
class LetterSpace:
    """What (dim, seed) determines: the embedding, the initial weights and the LDA baseline."""

    embedding: np.ndarray  # 26 x dim, read-only
    initial_weights: np.ndarray  # dim, read-only
    lda: Discriminant
    lda_projection: np.ndarray  # the letters on the LDA direction, read-only


@dataclass(frozen=True)
class LetterView:
    """Every letter as the perceptron sees it (arrays in a-z order)."""

    margins: np.ndarray  # signed distance to the boundary, positive on the vowel side
    predicted: np.ndarray  # True where predicted a vowel
    accuracy: float
    projection: np.ndarray  # on the unit weight vector
    threshold: float  # predicted a vowel where projection > threshold


@functools.lru_cache(maxsize=32)
def letter_space(dim: int, seed: int) -> LetterSpace:
    """Build (once per process) the letter vectors and initial weights for ``(dim, seed)``.

    >>> a, b = letter_space(8, 1), letter_space(8, 1)
    >>> a is b, a.embedding.shape, bool((a.embedding == letter_space(8, 2).embedding).all())
    (True, (26, 8), False)
    """
    rng = np.random.default_rng(seed)
    scale = 1.0 / math.sqrt(dim)  # keeps a letter's norm near 1 whatever the dimension
    embedding = rng.standard_normal((26, dim)) * scale
    initial_weights = rng.standard_normal(dim) * scale
    lda = fisher_lda(embedding, IS_VOWEL)
    lda_projection = lda.project(embedding)
    for array in (embedding, initial_weights, lda_projection):
        array.flags.writeable = False
    return LetterSpace(embedding, initial_weights, lda, lda_projection)


@functools.lru_cache(maxsize=32)
def letter_optimum(dim: int, seed: int) -> Boundary:
    """The best straight boundary between vowels and consonants for ``(dim, seed)``, once per process.

    Apart from :func:`letter_space` because it costs more (a few to a few hundred milliseconds, an
    LP, a QP and, when the letters are not separable, a MILP), and only reading needs it.

    >>> best = letter_optimum(3, 0)
    >>> best.separable, round(best.accuracy, 3), letter_space(3, 0).lda.accuracy < best.accuracy
    (False, 0.846, True)
    """
    return best_boundary(letter_space(dim, seed).embedding, IS_VOWEL)


def letter_indices(letters: str) -> list[int]:
    """The letters' positions in a-z, for :meth:`Perceptron.learn_indices`; checked once, here.

    >>> letter_indices("bad")
    [1, 0, 3]
    """
    check_letters(letters)
    return [_INDEX[c] for c in letters]


def check_letters(letters: str) -> None:
    """Raise ValueError unless ``letters`` is a non-empty string of a-z.

    >>> check_letters("aeiou")
    >>> check_letters("aE1")
    Traceback (most recent call last):
    ...
    ValueError: letters must be lowercase a-z; got 'E', '1'
    """
    if not isinstance(letters, str):
        raise ValueError("letters must be a string of lowercase a-z")
    if not letters:
        raise ValueError("letters must not be empty")
    bad = sorted({c for c in letters if c not in _INDEX}, key=letters.index)
    if bad:
        shown = ", ".join(repr(c) for c in bad[:10]) + (", ..." if len(bad) > 10 else "")
        raise ValueError(f"letters must be lowercase a-z; got {shown}")


class Perceptron:
    """Rosenblatt's perceptron over random letter vectors.

    Parameters
    ----------
    dim
        Dimension of each letter's vector, 1 to 4096.
    seed
        Seed of the letter vectors and initial weights, 0 to 2**32 - 1.
    learning_rate
        Step of the learning rule, a finite number in (0, 1000].

    A letter is predicted a vowel when ``x . w + b > 0``. Learning one letter applies the
    classic rule: on a mistake, ``w += lr * y * x`` and ``b += lr * y`` with ``y = +1`` for a
    vowel (a e i o u y) and ``-1`` for a consonant; a correct prediction changes nothing.

    Examples
    --------
    In 32 dimensions the 26 letters are linearly separable, and the perceptron finds a separator:

    >>> model = Perceptron(dim=32, seed=0)
    >>> round(model.accuracy(), 2), model.lda.accuracy
    (0.42, 1.0)
    >>> for _ in range(20):
    ...     _ = model.learn_many("abcdefghijklmnopqrstuvwxyz")
    >>> model.updates, model.accuracy(), model.predict_one("a")
    (520, 1.0, True)

    In 8 dimensions it depends on the seed. With seed 1 no straight boundary gets every letter
    right; the best gets 25 of 26, and LDA 21:

    >>> best = Perceptron(dim=8, seed=1).optimum
    >>> best.separable, round(best.accuracy * 26), round(Perceptron(dim=8, seed=1).lda.accuracy * 26)
    (False, 25, 21)

    The same seed and letters give bit-identical weights:

    >>> twin = Perceptron(dim=32, seed=0)
    >>> for _ in range(20):
    ...     _ = twin.learn_many("abcdefghijklmnopqrstuvwxyz")
    >>> twin.weights.tobytes() == model.weights.tobytes()
    True
    """

    def __init__(
        self, dim: int = DEFAULTS["dim"], seed: int = DEFAULTS["seed"], learning_rate: float = DEFAULTS["learning_rate"]
    ):
        self._configure(dim, seed, learning_rate)
        self.weights = self._space.initial_weights.copy()
        self.bias = 0.0
        self.updates = 0  # letters learned since the last reset
        self.mistakes = 0  # of those, how many changed the weights
        self.history = np.array([[0.0, self.accuracy()]])

    def _configure(self, dim: int, seed: int, learning_rate: float) -> None:
        check_config(dim, seed, learning_rate)
        self.dim, self.seed, self.learning_rate = int(dim), int(seed), float(learning_rate)
        self._space = letter_space(self.dim, self.seed)

    def reset(self, dim: int | None = None, seed: int | None = None, learning_rate: float | None = None) -> None:
        """Start over with a fresh embedding; a setting left out keeps its current value.

        >>> model = Perceptron(dim=8, seed=1)
        >>> _ = model.learn_many("abc")
        >>> model.reset(seed=2)
        >>> model.dim, model.seed, model.updates
        (8, 2, 0)
        """
        self.__init__(
            self.dim if dim is None else dim,
            self.seed if seed is None else seed,
            self.learning_rate if learning_rate is None else learning_rate,
        )

    # -- learning ---------------------------------------------------------------------------

    def learn_one(self, letter: str) -> bool:
        """Learn one letter; return True if it was a mistake (and so changed the weights)."""
        return self._learn(_INDEX[letter])

    def _learn(self, i: int) -> bool:
        x, y = self._space.embedding[i], LABELS[i]
        self.updates += 1
        if (float(x @ self.weights) + self.bias > 0) == IS_VOWEL[i]:  # predicted right: no change
            return False
        step = self.learning_rate * y
        self.weights += step * x
        self.bias += step
        self.mistakes += 1
        return True

    def learn_many(self, letters: str) -> int:
        """Learn the letters in order; return the number of mistakes.

        All letters are checked before any is learned, so bad input changes nothing. One point
        (updates, accuracy) is added to ``history`` per call.
        """
        return self.learn_indices(letter_indices(letters))

    def learn_indices(self, indices: list[int]) -> int:
        """:meth:`learn_many` for letters already checked (:func:`letter_indices`)."""
        mistakes = sum(self._learn(i) for i in indices)
        self.history = np.vstack([self.history, [float(self.updates), self.accuracy()]])[-HISTORY_LENGTH:]
        return mistakes

    # -- reading ----------------------------------------------------------------------------

    def letter_view(self) -> "LetterView":
        """Scores, margins, predictions, accuracy and projection of all 26 letters, computed once.

        >>> view = Perceptron(dim=8, seed=0).letter_view()
        >>> bool(((view.projection > view.threshold) == view.predicted).all())
        True
        """
        scores = self.scores()
        norm = self._weight_norm()
        predicted = scores > 0
        return LetterView(
            margins=scores / norm,
            predicted=predicted,
            accuracy=_accuracy(predicted),
            projection=(scores - self.bias) / norm,
            threshold=-self.bias / norm,
        )

    @property
    def embedding(self) -> np.ndarray:
        """The 26 x dim letter vectors (read-only)."""
        return self._space.embedding

    @property
    def lda(self) -> Discriminant:
        """Fisher's discriminant on this embedding: a good baseline, not the best boundary."""
        return self._space.lda

    @property
    def optimum(self) -> Boundary:
        """The best straight boundary on this embedding (:mod:`voweler.models.optimum`)."""
        return letter_optimum(self.dim, self.seed)

    @property
    def lda_projection(self) -> np.ndarray:
        """The letters projected on the LDA direction (read-only); compare with ``lda.threshold``."""
        return self._space.lda_projection

    def scores(self) -> np.ndarray:
        """``x . w + b`` for each letter a-z."""
        return self._space.embedding @ self.weights + self.bias

    def predictions(self) -> np.ndarray:
        """True where a letter is predicted to be a vowel, for a-z."""
        return self.scores() > 0

    def predict_one(self, letter: str) -> bool:
        """Whether ``letter`` is predicted to be a vowel."""
        return bool(self.predictions()[_INDEX[letter]])

    def accuracy(self) -> float:
        """Fraction of the 26 letters classified correctly."""
        return _accuracy(self.predictions())

    def margins(self) -> np.ndarray:
        """Signed distance of each letter to the decision boundary, positive on the vowel side.

        Its absolute value says how far a letter is from flipping class.
        """
        return self.letter_view().margins

    def projection(self) -> tuple[np.ndarray, float]:
        """Letters projected on the unit weight vector, and the threshold along it.

        A letter is predicted a vowel where its projection exceeds the threshold (``-b/|w|``).
        """
        view = self.letter_view()
        return view.projection, view.threshold

    def _weight_norm(self) -> float:
        norm = float(np.linalg.norm(self.weights))
        return norm if norm > 0 else 1.0

    # -- state ------------------------------------------------------------------------------

    def replace_with(self, other: "Perceptron") -> None:
        """Become ``other`` (an imported model), in place: the transaction commits it as one version."""
        self.__dict__.update(other.from_state(other.to_state()).__dict__)

    def to_state(self) -> dict:
        """Everything learned, as plain values and arrays; the embedding is rebuilt from the seed."""
        return {
            "dim": self.dim,
            "seed": self.seed,
            "learning_rate": self.learning_rate,
            "updates": self.updates,
            "mistakes": self.mistakes,
            "bias": self.bias,
            "weights": self.weights.copy(),
            "history": self.history.copy(),
        }

    @classmethod
    def from_state(cls, state: dict) -> "Perceptron":
        """Rebuild a model from :meth:`to_state`'s output.

        >>> model = Perceptron(dim=4, seed=3)
        >>> _ = model.learn_many("hello")
        >>> copy = Perceptron.from_state(model.to_state())
        >>> copy.weights.tobytes() == model.weights.tobytes(), copy.updates
        (True, 5)
        """
        model = cls.__new__(cls)  # no fresh weights to throw away: every field is set below
        model._configure(state["dim"], state["seed"], state["learning_rate"])
        weights = np.asarray(state["weights"], dtype=np.float64)
        if weights.shape != (model.dim,):
            raise ValueError(f"weights have shape {weights.shape}, expected ({model.dim},)")
        model.weights = weights
        model.bias = float(state["bias"])
        model.updates = int(state["updates"])
        model.mistakes = int(state["mistakes"])
        model.history = np.asarray(state["history"], dtype=np.float64).reshape(-1, 2)
        return model


def export_document(model: Perceptron) -> dict:
    """The model's learned state as a JSON-ready document that :func:`import_document` reads back.

    >>> model = Perceptron(dim=4, seed=3)
    >>> _ = model.learn_many("hello")
    >>> copy = import_document(export_document(model))
    >>> copy.weights.tobytes() == model.weights.tobytes(), copy.updates, copy.history.tolist() == model.history.tolist()
    (True, 5, True)
    """
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        "dim": model.dim,
        "seed": model.seed,
        "learning_rate": model.learning_rate,
        "updates": model.updates,
        "mistakes": model.mistakes,
        "bias": float(model.bias),
        "weights": model.weights.tolist(),
        "history": model.history.tolist(),
    }


def import_document(document: dict) -> Perceptron:
    """A model from an exported document, every field checked; ValueError naming the first bad one.

    >>> doc = export_document(Perceptron(dim=4, seed=3))
    >>> import_document({**doc, "weights": [0.0] * 5})
    Traceback (most recent call last):
    ...
    ValueError: weights must be a list of 4 finite numbers (one per dimension); got 5 items
    >>> import_document({**doc, "format_version": 2})
    Traceback (most recent call last):
    ...
    ValueError: format_version 2 is not supported; this server reads version 1
    """
    if not isinstance(document, dict):
        raise ValueError("the document must be a JSON object")
    unknown = sorted(set(document) - set(EXPORT_FIELDS))
    missing = [key for key in EXPORT_FIELDS if key not in document]
    if unknown or missing:
        raise ValueError(f"unknown field {unknown[0]!r}" if unknown else f"missing field {missing[0]!r}")
    if document["format"] != EXPORT_FORMAT:
        raise ValueError(f"format must be {EXPORT_FORMAT!r}; got {document['format']!r}")
    if not _is_int(document["format_version"]) or document["format_version"] != EXPORT_VERSION:
        raise ValueError(f"format_version {document['format_version']!r} is not supported; this server reads version {EXPORT_VERSION}")
    check_config(document["dim"], document["seed"], document["learning_rate"])
    dim = document["dim"]
    updates, mistakes = document["updates"], document["mistakes"]
    if not _is_int(updates) or not _is_int(mistakes) or not 0 <= mistakes <= updates <= 2**53:
        raise ValueError(f"updates and mistakes must be integers with 0 <= mistakes <= updates; got {updates!r}, {mistakes!r}")
    if not _is_finite_number(document["bias"]):
        raise ValueError(f"bias must be a finite number; got {document['bias']!r}")
    weights = document["weights"]
    if not isinstance(weights, list) or len(weights) != dim or not all(map(_is_finite_number, weights)):
        got = f"{len(weights)} items" if isinstance(weights, list) else type(weights).__name__
        got = got if not isinstance(weights, list) or len(weights) != dim else "a value that is not a finite number"
        raise ValueError(f"weights must be a list of {dim} finite numbers (one per dimension); got {got}")
    history = document["history"]
    if (
        not isinstance(history, list)
        or not 1 <= len(history) <= HISTORY_LENGTH
        or not all(
            isinstance(point, list) and len(point) == 2 and all(map(_is_finite_number, point)) and 0 <= point[1] <= 1
            for point in history
        )
    ):
        raise ValueError(f"history must be a list of 1 to {HISTORY_LENGTH} [updates, accuracy] pairs, accuracy in [0, 1]")
    steps = [point[0] for point in history]
    if any(step < 0 or step != int(step) for step in steps) or steps != sorted(steps) or steps[-1] > document["updates"]:
        raise ValueError("history's updates must be whole numbers from 0, never decreasing, and at most updates")
    model = Perceptron.from_state({**document, "weights": np.array(weights, dtype=np.float64)})
    # Finite numbers whose products overflow would still break every score: keep them far from it.
    if not (np.abs(model.weights) <= MAX_IMPORTED).all() or not abs(model.bias) <= MAX_IMPORTED:
        raise ValueError(f"weights and bias must be at most {MAX_IMPORTED:g} in size")
    return model


MAX_IMPORTED = 1e12  # a letter is about 1 long: beyond what learning reaches (1000 per mistake), far from overflow


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _accuracy(predicted: np.ndarray) -> float:
    return float((predicted == IS_VOWEL).mean())


def check_config(dim: int, seed: int, learning_rate: float) -> None:
    """Raise ValueError, naming the field, unless the configuration is in range.

    >>> check_config(0, 0, 0.1)
    Traceback (most recent call last):
    ...
    ValueError: dim must be an integer from 1 to 4096; got 0
    """
    if not _is_int(dim) or not MIN_DIM <= dim <= MAX_DIM:
        raise ValueError(f"dim must be an integer from {MIN_DIM} to {MAX_DIM}; got {dim!r}")
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer from 0 to {MAX_SEED}; got {seed!r}")
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, (int, float))
        or (isinstance(learning_rate, float) and math.isnan(learning_rate))
        or not 0 < learning_rate <= MAX_LEARNING_RATE  # exact for ints of any size, and for inf
    ):
        raise ValueError(
            f"learning_rate must be a finite number in (0, {MAX_LEARNING_RATE:g}]; got {learning_rate!r}"
        )


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
