"""Induced error analysis (voweler/models/robustness.py), checked by fuzzing the letters for real."""

from __future__ import annotations

import numpy as np
import pytest

from voweler.models.perceptron import IS_VOWEL, Perceptron
from voweler.models.robustness import flip_distances, robust_correct, worst_perturbation
from voweler.services.perceptron import boundaries

SAMPLES = 400  # random perturbations per letter and boundary


def trained(dim: int, seed: int) -> Perceptron:
    model = Perceptron(dim=dim, seed=seed)
    model.learn_many("abcdefghijklmnopqrstuvwxyz" * 3)
    return model


def random_within(rng, dim: int, radius: float, norm: str, count: int) -> np.ndarray:
    """``count`` random changes of size at most ``radius``: inside the ball and on its surface."""
    if norm == "l2":
        directions = rng.standard_normal((count, dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        sizes = radius * np.concatenate([np.ones(count // 2), rng.random(count - count // 2) ** (1 / dim)])
        return directions * sizes[:, None]
    corners = rng.choice([-1.0, 1.0], size=(count // 2, dim)) * radius  # vertices: where L-inf attacks live
    inside = rng.uniform(-radius, radius, size=(count - count // 2, dim))
    return np.vstack([corners, inside])


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("dim, seed", [(2, 0), (8, 1), (16, 0), (64, 3)])
def test_no_perturbation_inside_the_flip_distance_flips_and_the_worst_case_just_outside_does(dim, seed, norm):
    rng = np.random.default_rng(seed)
    model = trained(dim, seed)
    X = model.embedding
    for name, (w, b) in boundaries(model).items():
        distances = flip_distances(X, w, b, norm)
        decisions = X @ w + b > 0
        for i, x in enumerate(X):
            d = distances[i]
            inside = x + random_within(rng, dim, 0.999 * d, norm, SAMPLES)
            assert ((inside @ w + b > 0) == decisions[i]).all(), (name, i)
            worst_inside = x + worst_perturbation(x, w, b, norm, 0.999 * d)
            assert (worst_inside @ w + b > 0) == decisions[i], (name, i)
            worst_outside = x + worst_perturbation(x, w, b, norm, 1.001 * d)
            assert (worst_outside @ w + b > 0) != decisions[i], (name, i)
            size = np.linalg.norm(worst_outside - x, ord=2 if norm == "l2" else np.inf)
            assert size == pytest.approx(1.001 * d, rel=1e-12)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_robust_accuracy_counts_letters_that_no_change_within_eps_makes_wrong(norm):
    rng = np.random.default_rng(7)
    model = trained(8, 1)
    X = model.embedding
    for name, (w, b) in boundaries(model).items():
        distances = flip_distances(X, w, b, norm)
        correct = (X @ w + b > 0) == IS_VOWEL
        for eps in (0.0, 0.01, 0.03, float(np.median(distances)), 0.2):
            robust = robust_correct(correct, distances, eps)
            for i, x in enumerate(X):
                attacked = x + worst_perturbation(x, w, b, norm, eps)
                still_right = ((attacked @ w + b > 0) == IS_VOWEL[i]) and correct[i]
                if robust[i]:
                    fuzzed = x + random_within(rng, 8, eps, norm, 100)
                    assert ((fuzzed @ w + b > 0) == IS_VOWEL[i]).all() and still_right, (name, eps, i)
                elif correct[i]:
                    assert not still_right or distances[i] == eps, (name, eps, i)  # the adversary wins


def test_a_zero_weight_vector_is_never_flipped():
    X = np.eye(3)
    assert np.isinf(flip_distances(X, np.zeros(3), 0.5, "l2")).all()


def test_the_optimum_is_the_most_robust_in_l2_when_separable():
    """The maximum-margin boundary's smallest L2 flip distance is the margin, the largest any boundary has."""
    model = trained(16, 0)
    smallest = {name: flip_distances(model.embedding, w, b, "l2").min() for name, (w, b) in boundaries(model).items()}
    assert model.optimum.separable
    assert smallest["optimum"] == pytest.approx(model.optimum.margin, rel=1e-9)
    assert smallest["optimum"] >= max(smallest.values()) * (1 - 1e-12)
