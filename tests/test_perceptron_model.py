"""Unit tests of the pure-numpy models: voweler.models.perceptron and voweler.models.lda."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from voweler.models.lda import fisher_lda
from voweler.models.perceptron import (
    ALPHABET,
    HISTORY_LENGTH,
    IS_VOWEL,
    MAX_SEED,
    VOWELS,
    Perceptron,
    check_config,
)

LEARNED = ("dim", "seed", "learning_rate", "updates", "mistakes", "bias")


def snapshot(model: Perceptron) -> tuple:
    """Everything learned, as comparable values (arrays as raw bytes, so comparison is bit-exact)."""
    return (*(getattr(model, key) for key in LEARNED), model.weights.tobytes(), model.history.tobytes())


def model_with(weights, bias: float, learning_rate: float = 0.25, seed: int = 0) -> Perceptron:
    """A model whose weights and bias are set by hand (through from_state)."""
    weights = np.asarray(weights, dtype=np.float64)
    state = Perceptron(dim=len(weights), seed=seed, learning_rate=learning_rate).to_state()
    return Perceptron.from_state({**state, "weights": weights, "bias": bias})


def trained(dim: int = 16, seed: int = 0, letters: str = "thequickbrownfoxjumpsoveralazydog") -> Perceptron:
    model = Perceptron(dim=dim, seed=seed)
    model.learn_many(letters)
    return model


# -- determinism --------------------------------------------------------------------------------


def test_same_dim_and_seed_give_identical_embedding_and_initial_weights():
    a, b = Perceptron(dim=12, seed=7), Perceptron(dim=12, seed=7)
    assert a.embedding.shape == (26, 12)
    assert a.embedding.tobytes() == b.embedding.tobytes()
    assert a.weights.tobytes() == b.weights.tobytes()
    assert (a.bias, a.updates, a.mistakes) == (0.0, 0, 0)


def test_different_seed_gives_different_embedding_and_initial_weights():
    a, b = Perceptron(dim=12, seed=7), Perceptron(dim=12, seed=8)
    assert not np.array_equal(a.embedding, b.embedding)
    assert not np.array_equal(a.weights, b.weights)


def test_learning_does_not_change_what_a_new_model_starts_from():
    fresh = Perceptron(dim=8, seed=5)
    start = (fresh.embedding.tobytes(), fresh.weights.tobytes())
    trained(dim=8, seed=5)
    again = Perceptron(dim=8, seed=5)
    assert (again.embedding.tobytes(), again.weights.tobytes()) == start


# -- the learning rule --------------------------------------------------------------------------

# Weights all zero, so a letter's score is the bias alone: the outcome can be checked by hand.
# A letter is predicted a vowel iff its score > 0; a mistake is a wrong prediction.
RULE_CASES = [
    # bias, letter, is a mistake, y
    pytest.param(-1.0, "a", True, +1, id="vowel-scored-negative-is-a-mistake"),
    pytest.param(+1.0, "b", True, -1, id="consonant-scored-positive-is-a-mistake"),
    pytest.param(0.0, "a", True, +1, id="vowel-scored-zero-is-a-mistake"),
    pytest.param(-1.0, "b", False, -1, id="consonant-scored-negative-is-correct"),
    pytest.param(+1.0, "a", False, +1, id="vowel-scored-positive-is-correct"),
    pytest.param(0.0, "b", False, -1, id="consonant-scored-zero-is-predicted-consonant-so-correct"),
]


@pytest.mark.parametrize("bias, letter, mistake, y", RULE_CASES)
def test_learning_rule_on_hand_checked_cases(bias, letter, mistake, y):
    lr = 0.25
    model = model_with(np.zeros(4), bias, learning_rate=lr)
    x = model.embedding[ALPHABET.index(letter)]
    assert model.predict_one(letter) == (bias > 0)
    assert (model.predict_one(letter) != (letter in VOWELS)) == mistake  # the case is what it says

    assert model.learn_one(letter) is mistake

    if mistake:  # w += lr * y * x, b += lr * y
        np.testing.assert_array_equal(model.weights, lr * y * x)
        assert model.bias == bias + lr * y
    else:  # nothing changes
        np.testing.assert_array_equal(model.weights, np.zeros(4))
        assert model.bias == bias
    assert (model.updates, model.mistakes) == (1, int(mistake))


def test_learning_rule_from_initial_weights():
    model = Perceptron(dim=6, seed=3, learning_rate=0.5)
    for letter in "abcdefghij":
        i = ALPHABET.index(letter)
        x, y = model.embedding[i], 1.0 if letter in VOWELS else -1.0
        w, b = model.weights.copy(), model.bias
        wrong = model.predict_one(letter) != (letter in VOWELS)
        assert model.learn_one(letter) is wrong
        np.testing.assert_array_equal(model.weights, w + 0.5 * y * x if wrong else w)
        assert model.bias == (b + 0.5 * y if wrong else b)
    assert 0 < model.mistakes < model.updates == 10  # both branches were taken


@pytest.mark.parametrize("bad", ["abC", "ab1", "ab c", "abé", "", 5, None, ["a", "b"]])
def test_learn_many_checks_every_letter_before_learning_any(bad):
    model = trained()
    before = snapshot(model)
    with pytest.raises(ValueError):
        model.learn_many(bad)
    assert snapshot(model) == before


def test_counters_count_letters_and_mistakes():
    model = Perceptron(dim=16, seed=1)
    total = 0
    for letters in ["hello", "world", "aeiouy", "zzz"]:
        before = model.mistakes
        mistakes = model.learn_many(letters)
        total += len(letters)
        assert model.updates == total
        assert model.mistakes - before == mistakes
        assert 0 <= mistakes <= len(letters)
    assert model.mistakes > 0


def test_history_has_one_point_per_learn_many_and_is_bounded():
    model = Perceptron(dim=16, seed=1)
    np.testing.assert_array_equal(model.history, [[0.0, model.accuracy()]])
    for n in range(1, HISTORY_LENGTH + 20):
        model.learn_many("ab")
        assert len(model.history) == min(n + 1, HISTORY_LENGTH)
        assert model.history[-1].tolist() == [float(model.updates), model.accuracy()]
    assert model.history[0, 0] == model.updates - 2 * (HISTORY_LENGTH - 1)  # the oldest points went
    assert (np.diff(model.history[:, 0]) == 2).all()


# -- reading the model --------------------------------------------------------------------------


@pytest.mark.parametrize("dim, seed", [(2, 0), (16, 1), (32, 0), (300, 9)])
def test_margins_are_signed_distances_positive_on_the_vowel_side(dim, seed):
    model = trained(dim, seed)
    margins = model.margins()
    unit = model.weights / np.linalg.norm(model.weights)
    # Stepping back by the margin along the unit normal lands each letter on the boundary.
    on_boundary = model.embedding - margins[:, None] * unit
    np.testing.assert_allclose(on_boundary @ model.weights + model.bias, 0, atol=1e-9)
    assert ((margins > 0) == model.predictions()).all()


@pytest.mark.parametrize("dim, seed", [(2, 0), (16, 1), (32, 0), (300, 9)])
def test_projection_exceeds_threshold_exactly_where_a_vowel_is_predicted(dim, seed):
    model = trained(dim, seed)
    values, threshold = model.projection()
    assert values.shape == (26,) and math.isfinite(threshold)
    assert ((values > threshold) == model.predictions()).all()


def test_accuracy_is_the_fraction_of_letters_classified_correctly():
    model = trained()
    assert model.accuracy() == sum(model.predict_one(c) == (c in VOWELS) for c in ALPHABET) / 26


# -- reset and state ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change", [{}, {"dim": 8}, {"seed": 9}, {"learning_rate": 0.5}, {"dim": 4, "seed": 2, "learning_rate": 3}]
)
def test_reset_changes_only_the_given_settings_and_starts_over(change):
    model = Perceptron(dim=16, seed=1, learning_rate=0.2)
    model.learn_many("abcdefghij")
    model.reset(**change)
    expected = {"dim": 16, "seed": 1, "learning_rate": 0.2, **change}
    assert (model.dim, model.seed, model.learning_rate) == tuple(expected[k] for k in ("dim", "seed", "learning_rate"))
    assert snapshot(model) == snapshot(Perceptron(**expected))


def test_reset_with_a_bad_setting_changes_nothing():
    model = trained()
    before = snapshot(model)
    with pytest.raises(ValueError, match="dim"):
        model.reset(dim=0)
    assert snapshot(model) == before


def test_state_round_trip_is_bit_identical():
    model = trained(dim=24, seed=4)
    copy = Perceptron.from_state(model.to_state())
    assert snapshot(copy) == snapshot(model)
    assert copy.scores().tobytes() == model.scores().tobytes()


def test_state_round_trip_gives_an_independent_model():
    model = trained(dim=24, seed=4)
    before = snapshot(model)
    copy = Perceptron.from_state(model.to_state())
    copy.learn_many(ALPHABET * 3)
    assert snapshot(copy) != before
    assert snapshot(model) == before  # learning on the copy must not change the original


# -- configuration ------------------------------------------------------------------------------

BAD_CONFIGS = [
    *[pytest.param("dim", v, id=f"dim={v!r}") for v in (0, -1, 4097, 1.5, 16.0, "16", True, None, math.nan, math.inf)],
    *[pytest.param("seed", v, id=f"seed={v!r}") for v in (-1, 2**32, 1.0, "0", False, None, math.nan)],
    *[
        pytest.param("learning_rate", v, id=f"learning_rate={v!r}")
        for v in (0, 0.0, -0.1, 1000.0001, 1001, "0.1", True, None, math.nan, math.inf, -math.inf)
    ],
    pytest.param("learning_rate", 10**400, id="learning_rate=10**400"),  # an int too large for a float
]


@pytest.mark.parametrize("field, value", BAD_CONFIGS)
def test_check_config_rejects_out_of_range_or_wrong_type(field, value):
    config = {"dim": 16, "seed": 0, "learning_rate": 0.1, field: value}
    with pytest.raises(ValueError, match=field):
        check_config(**config)
    with pytest.raises(ValueError, match=field):
        Perceptron(**config)


@pytest.mark.parametrize(
    "dim, seed, learning_rate",
    [(1, 0, 0.1), (4096, MAX_SEED, 1000), (np.int64(8), np.uint32(3), 1e-9), (16, 0, 1)],
)
def test_check_config_accepts_the_limits(dim, seed, learning_rate):
    check_config(dim, seed, learning_rate)
    assert Perceptron(dim, seed, learning_rate).weights.shape == (dim,)


# -- Fisher's discriminant ----------------------------------------------------------------------


@pytest.mark.parametrize("dim", [2, 5, 50])
def test_lda_separates_separable_data_with_a_unit_direction(dim):
    rng = np.random.default_rng(dim)
    y = np.arange(40) % 3 == 0
    X = rng.standard_normal((40, dim)) * 0.3 + np.where(y[:, None], 2.0, -2.0)
    lda = fisher_lda(X, y)
    assert lda.accuracy == 1.0
    assert math.isclose(np.linalg.norm(lda.direction), 1.0, rel_tol=1e-12)
    assert ((lda.project(X) > lda.threshold) == y).all()
    assert lda.project(X)[y].mean() > lda.project(X)[~y].mean()  # positives project higher


@pytest.mark.parametrize("dim", [25, 26, 32, 100, 1024])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_letters_are_linearly_separable_from_25_dimensions(dim, seed):
    lda = Perceptron(dim=dim, seed=seed).lda
    assert lda.accuracy == 1.0
    assert ((lda.project(Perceptron(dim=dim, seed=seed).embedding) > lda.threshold) == IS_VOWEL).all()


def test_lda_is_fast_and_finite_at_dim_4096():
    X = np.random.default_rng(0).standard_normal((26, 4096)) / 64
    best = math.inf
    for _ in range(3):
        start = time.perf_counter()
        lda = fisher_lda(X, IS_VOWEL)
        best = min(best, time.perf_counter() - start)
    assert best < 0.25, f"fisher_lda took {best:.3f} s at dim 4096: it should be linear in dim"
    assert np.isfinite(lda.direction).all() and math.isfinite(lda.threshold)
    assert math.isclose(np.linalg.norm(lda.direction), 1.0, rel_tol=1e-12)
    assert lda.accuracy == 1.0


def test_lda_rejects_a_single_class():
    with pytest.raises(ValueError, match="both classes"):
        fisher_lda(np.ones((4, 2)), np.array([True] * 4))


# -- convergence --------------------------------------------------------------------------------


def test_perceptron_learns_every_letter_in_32_dimensions():
    model = Perceptron(dim=32, seed=0)
    assert model.accuracy() < 1.0
    for _ in range(20):
        model.learn_many(ALPHABET)
    assert model.accuracy() == 1.0
    assert all(model.predict_one(c) == (c in VOWELS) for c in ALPHABET)


# -- export and import -------------------------------------------------------------------------


def _exported():
    from voweler.models.perceptron import export_document

    model = Perceptron(dim=6, seed=2)
    model.learn_many("abcdefghij")
    return model, export_document(model)


def test_export_import_round_trip_is_bit_identical():
    from voweler.models.perceptron import import_document

    model, document = _exported()
    copy = import_document(document)
    assert copy.to_state().keys() == model.to_state().keys()
    for key, value in model.to_state().items():
        assert np.array_equal(copy.to_state()[key], value), key
    assert copy.accuracy() == model.accuracy()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"weights": [float("nan")] * 6}, "finite numbers"),
        ({"weights": [float("inf")] * 6}, "finite numbers"),
        ({"weights": [True] * 6}, "finite numbers"),
        ({"bias": float("nan")}, "bias must be a finite number"),
        ({"bias": True}, "bias must be a finite number"),
        ({"updates": 1.0}, "integers"),
        ({"dim": True}, "dim must be an integer"),
        ({"history": [[0, float("nan")]]}, "history"),
        ({"history": "[]"}, "history"),
    ],
)
def test_import_refuses_inconsistent_documents(change, message):
    from voweler.models.perceptron import import_document

    _model, document = _exported()
    with pytest.raises(ValueError, match=message):
        import_document({**document, **change})


def test_replace_with_becomes_the_other_model():
    from voweler.models.perceptron import import_document

    model, document = _exported()
    target = Perceptron(dim=40, seed=9)
    target.replace_with(import_document(document))
    assert (target.dim, target.seed, target.updates) == (6, 2, 10)
    assert target.weights.tobytes() == model.weights.tobytes()
    assert target.embedding is model.embedding  # the per-process letter space, not a copy


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"weights": [1e308] * 4}, "at most 1e\\+12 in size"),  # finite, but every score would overflow
        ({"bias": -1e300}, "at most 1e\\+12 in size"),
        ({"history": [[-5, 0.5], [1, 0.5]]}, "history's updates must be whole numbers"),
        ({"history": [[3, 0.5], [1, 0.5]]}, "never decreasing"),
        ({"history": [[0, 0.5], [1e300, 0.5]]}, "at most updates"),
    ],
)
def test_an_import_that_would_break_the_model_is_refused(change, fragment):
    from voweler.models.perceptron import export_document, import_document

    document = export_document(Perceptron(dim=4, seed=1))
    with pytest.raises(ValueError, match=fragment):
        import_document({**document, **change})
