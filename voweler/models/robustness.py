"""Induced error analysis for a straight boundary: how far each point is from being fuzzed into error.

Pure numpy. For the boundary ``x.w + b > 0`` the smallest change ``d`` that flips the decision
on ``x`` has size ``|x.w + b| / |w|_*``, where ``|.|_*`` is the dual norm of the norm ``d`` is
measured in: ``|w|_2`` for L2, ``|w|_1`` for L-infinity (Hölder's inequality, with equality at
:func:`worst_perturbation`). So the analysis is exact, and the tests check it by fuzzing.

A point counts as robustly right at ``eps`` when it is classified right and its flip distance
is larger than ``eps``: every vector within ``eps`` of it is then classified right. At exactly
``eps`` the worst case lands on the boundary, which counts as a flip (the conservative side).
"""

from __future__ import annotations

import numpy as np

NORMS = ("l2", "linf")
_DUAL = {"l2": 2, "linf": 1}


def check_norm(norm: str) -> None:
    """Raise ValueError unless ``norm`` is one of :data:`NORMS`.

    >>> check_norm("l1")
    Traceback (most recent call last):
    ...
    ValueError: norm must be one of l2, linf; got 'l1'
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {norm!r}")


def flip_distances(X: np.ndarray, weights: np.ndarray, bias: float, norm: str) -> np.ndarray:
    """For each row of ``X``, the size (in ``norm``) of the smallest change that flips its decision.

    ``inf`` where nothing flips it (``weights`` all zero: the decision does not depend on ``x``).

    >>> X = np.array([[1.0, 0.0], [0.0, -2.0]])
    >>> flip_distances(X, np.array([1.0, 1.0]), 0.0, "l2").round(4).tolist()
    [0.7071, 1.4142]
    >>> flip_distances(X, np.array([1.0, 1.0]), 0.0, "linf").tolist()
    [0.5, 1.0]
    """
    check_norm(norm)
    dual = float(np.linalg.norm(weights, ord=_DUAL[norm]))
    scores = np.abs(X @ weights + bias)
    if dual == 0:
        return np.full(len(X), np.inf)
    return scores / dual


def worst_perturbation(x: np.ndarray, weights: np.ndarray, bias: float, norm: str, eps: float) -> np.ndarray:
    """The change of size ``eps`` (in ``norm``) that moves ``x`` furthest toward the other side.

    >>> worst_perturbation(np.array([1.0, 0.0]), np.array([2.0, -1.0]), 0.0, "linf", 0.1).tolist()
    [-0.1, 0.1]
    """
    check_norm(norm)
    toward = -np.sign(float(x @ weights) + bias) or -1.0  # on the boundary: push toward "negative"
    if norm == "l2":
        length = float(np.linalg.norm(weights))
        return toward * eps * weights / length if length > 0 else np.zeros_like(weights)
    return toward * eps * np.sign(weights)


def robust_correct(correct: np.ndarray, distances: np.ndarray, eps: float) -> np.ndarray:
    """Right, and still right whatever change of size up to ``eps`` is made.

    >>> robust_correct(np.array([True, True, False]), np.array([0.5, 0.1, 0.9]), 0.2).tolist()
    [True, False, False]
    """
    return correct & (distances > eps)
