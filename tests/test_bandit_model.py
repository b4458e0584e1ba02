"""Unit tests of the bandit model: voweler.models.beta (checked against scipy), experiment.py,
posterior.py and choices.py, and the tests' own all-in-one Bandit (tests/bandit_model.py).

scipy is a test dependency only: it checks our own Beta maths, which are pure numpy.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import integrate, special, stats

from bandit_model import Bandit
from voweler.models import (
    DEFAULT_PRIOR_CTR,
    DEFAULT_PRIOR_IMPRESSIONS,
    MAX_ARMS,
    MAX_NAME_LENGTH,
    NEW_ARM_IMPRESSIONS,
    Arm,
    ArmConflict,
    ChoiceQueue,
    Experiment,
    ExperimentError,
    Posterior,
    UnknownArm,
    beta,
    check_arm_name,
    check_prior,
    thompson_choices,
)
from voweler.state.frame import decode_state, encode_state

WIN_TOLERANCE = 1e-6  # documented in voweler/models/beta.py
QUANTILE_TOLERANCE = 1e-7  # in probability: |F(end) - level|


# -- references from scipy ----------------------------------------------------------------------


def quad_win(a, b) -> np.ndarray:
    """P(i wins) by adaptive quadrature: with u = F_i(x), P_i = ∫_0^1 Π_{j≠i} F_j(F_i^-1(u)) du.

    The integrand is bounded and increasing in u, which adaptive quadrature handles well even
    when another arm's CDF jumps from 0 to 1 inside arm i's range.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    result = []
    for i in range(a.size):
        others = [j for j in range(a.size) if j != i]

        def integrand(u, i=i, others=others):
            x = special.betaincinv(a[i], b[i], u)
            return float(np.prod([special.betainc(a[j], b[j], x) for j in others]))

        edges = np.linspace(0.0, 1.0, 21)
        total = 0.0
        for lo, hi in zip(edges, edges[1:]):
            total += integrate.quad(integrand, lo, hi, limit=500, epsabs=1e-12, epsrel=1e-10)[0]
        result.append(total)
    return np.array(result)


def grid_win(a, b, per_arm: int = 120) -> np.ndarray:
    """P(i wins) by Simpson's rule in logit space on a dense grid, with scipy's exact pdf and CDF.

    Below the highest lower end (a 1e-12 quantile) every integrand is negligible, so the grid
    starts there; each arm adds ``per_arm`` evenly spaced points over its own range.
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    lo = special.logit(special.betaincinv(a, b, 1e-12))
    hi = special.logit(special.betainccinv(a, b, 1e-12))
    start = lo.max()
    z = np.unique(np.concatenate([np.linspace(max(l, start), h, per_arm) for l, h in zip(lo, hi) if h > start]))
    x, xc = special.expit(z), special.expit(-z)
    pdf = np.exp(a[:, None] * np.log(x) + b[:, None] * np.log(xc) - special.betaln(a, b)[:, None])  # density of z
    cdf = np.where(x < 0.5, special.betainc(a[:, None], b[:, None], x), special.betaincc(b[:, None], a[:, None], xc))
    log_cdf = np.log(np.maximum(cdf, 1e-300))
    others = np.exp(log_cdf.sum(axis=0) - log_cdf)
    return integrate.simpson(pdf * others, x=z, axis=1)


# Cases from the brief: tiny and flat priors, peaked and broad arms, and mixtures of them.
CASES = {
    "a0.2-b9.8-vs-flat": ([0.2, 1.0], [9.8, 1.0]),
    "flat-vs-peaked": ([1.0, 30000.0], [1.0, 970000.0]),
    "small-vs-peaked": ([3.0, 30000.0], [300.0, 970000.0]),
    "mixture": ([0.2, 3.0, 30000.0, 1.0], [9.8, 300.0, 970000.0, 1.0]),
    "leader-two-and-a-new-arm": ([91.0, 61.0, 0.3], [2911.0, 2941.0, 9.7]),
    "three-close": ([3.0, 2.0, 4.0], [100.0, 80.0, 120.0]),
    "tiny-alpha": ([1e-3, 0.5, 2.0], [1.0, 5.0, 3.0]),
    "five": ([0.2, 1.0, 3.0, 12.0, 40.0], [9.8, 1.0, 300.0, 400.0, 1000.0]),
}


@pytest.fixture(scope="module")
def quad_references() -> dict:
    return {name: quad_win(a, b) for name, (a, b) in CASES.items()}


def sixty_four_arms() -> tuple[np.ndarray, np.ndarray]:
    """64 arms: many close enough to share the wins, plus a broad, a small and a very peaked one."""
    rng = np.random.default_rng(7)
    ctr, impressions = rng.uniform(0.02, 0.03, 64), 10 ** rng.uniform(3, 4.5, 64)
    a, b = ctr * impressions + 1, (1 - ctr) * impressions + 1
    a[:3], b[:3] = [0.2, 3.0, 30000.0], [9.8, 300.0, 970000.0]
    return a, b


# -- beta: win probabilities --------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_win_probabilities_match_scipy_quadrature(name, quad_references):
    a, b = CASES[name]
    p = beta.win_probabilities(a, b)
    np.testing.assert_allclose(p, quad_references[name], rtol=0, atol=WIN_TOLERANCE)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)
    assert (p >= 0).all()


def test_win_probability_of_a_flat_arm_is_one_minus_the_other_mean():
    # P(U > X) = 1 - E[X] for U uniform: exact, no quadrature needed.
    for a, b in [(30000.0, 970000.0), (3.0, 300.0), (0.2, 9.8), (5.0, 5.0)]:
        p = beta.win_probabilities([1.0, a], [1.0, b])
        assert p[0] == pytest.approx(1 - a / (a + b), abs=WIN_TOLERANCE)


def test_win_probabilities_of_64_arms_match_a_dense_scipy_grid():
    a, b = sixty_four_arms()
    p = beta.win_probabilities(a, b)
    reference = grid_win(a, b)
    np.testing.assert_allclose(p, reference, rtol=0, atol=WIN_TOLERANCE)
    assert (reference > 0.01).sum() >= 10  # the wins really are shared among many arms


def test_win_probabilities_agree_with_a_million_draws():
    a, b = np.array([0.2, 3.0, 12.0]), np.array([9.8, 100.0, 400.0])
    rng = np.random.default_rng(0)
    n = 10**6
    wins = np.bincount(np.argmax(rng.beta(a, b, size=(n, 3)), axis=1), minlength=3) / n
    p = beta.win_probabilities(a, b)
    assert np.abs(wins - p).max() < 5 * np.sqrt(p * (1 - p) / n).max()


@pytest.mark.parametrize(
    "a, b",
    [
        ([3e9, 3.00002e9], [7e9, 7e9]),
        ([3e8, 2.9999e8], [7e8, 7e8]),
        ([1e12, 1e12 + 3e6], [3e12, 3e12]),
        ([3e14, 3e14 + 3e7], [7e14, 7e14]),
    ],
)
def test_win_probabilities_keep_their_accuracy_with_parameters_in_the_billions(a, b):
    # Here Beta is Gaussian to within its skewness, about 1/sqrt(a): P(X1 > X2) = Φ(Δμ / σ).
    a, b = np.array(a), np.array(b)
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    expected = stats.norm.cdf((mean[0] - mean[1]) / math.sqrt(var.sum()))
    assert beta.win_probabilities(a, b)[0] == pytest.approx(expected, abs=WIN_TOLERANCE)


def test_identical_arms_win_equally():
    for a, b in [(1.0, 1.0), (0.2, 9.8), (30000.0, 970000.0)]:
        np.testing.assert_allclose(beta.win_probabilities([a] * 4, [b] * 4), 0.25, atol=1e-9)


def test_one_arm_always_wins_and_no_arms_is_empty():
    assert beta.win_probabilities([3.0], [7.0]).tolist() == [1.0]
    assert beta.win_probabilities([], []).shape == (0,)


def test_an_arm_far_below_another_gets_zero():
    p = beta.win_probabilities([10.0, 9000.0], [9000.0, 10.0])
    assert p.tolist() == [0.0, 1.0]


# -- beta: summaries ----------------------------------------------------------------------------

SUMMARY_CASES = [
    (0.2, 9.8), (1.0, 1.0), (3.0, 300.0), (30000.0, 970000.0), (0.3, 9.7), (0.5, 5.0), (2.0, 3.0), (9.8, 0.2)
]


@pytest.mark.parametrize("level", [0.95, 0.5, 0.9, 0.99])
def test_intervals_match_scipy_quantiles(level):
    a, b = np.array(SUMMARY_CASES).T
    means, lows, highs = beta.summaries(a, b, level)
    tail = (1 - level) / 2
    np.testing.assert_allclose(means, a / (a + b), rtol=1e-15)
    np.testing.assert_allclose(stats.beta.cdf(lows, a, b), tail, rtol=0, atol=QUANTILE_TOLERANCE)
    np.testing.assert_allclose(stats.beta.cdf(highs, a, b), 1 - tail, rtol=0, atol=QUANTILE_TOLERANCE)
    np.testing.assert_allclose(lows, stats.beta.ppf(tail, a, b), rtol=1e-5)
    np.testing.assert_allclose(highs, stats.beta.ppf(1 - tail, a, b), rtol=1e-5)
    assert (lows < highs).all()


def test_intervals_in_the_billions_match_scipy():
    a, b = np.array([3e9, 1e12, 4e14]), np.array([7e9, 3e12, 6e14])
    _, lows, highs = beta.summaries(a, b)
    np.testing.assert_allclose(stats.beta.cdf(lows, a, b), 0.025, atol=QUANTILE_TOLERANCE)
    np.testing.assert_allclose(stats.beta.cdf(highs, a, b), 0.975, atol=QUANTILE_TOLERANCE)


def test_intervals_where_scipys_inverse_is_wrong():
    # scipy 1.17's betaincinv is off for an integer shape of 1000 against a large other one (by
    # 1e-7 in probability at Beta(1000, 1e7), 2e-4 at 1e8, and low > high at 3e8), which is
    # why the intervals stay on our quadrature. scipy's CDF is right there (checked with mpmath).
    a, b = np.array([1000.0, 1000.0, 3e8]), np.array([1e8, 3e8, 1000.0])
    _, lows, highs = beta.summaries(a, b)
    np.testing.assert_allclose(stats.beta.cdf(lows, a, b), 0.025, atol=QUANTILE_TOLERANCE)
    np.testing.assert_allclose(stats.beta.cdf(highs, a, b), 0.975, atol=QUANTILE_TOLERANCE)


def test_extreme_parameters_give_finite_ordered_results():
    values = [1e-100, 1e-10, 1e-3, 0.5, 1.0, 1e3, 1e9, 1e15]
    a, b = np.array([(x, y) for x in values for y in values]).T
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow, NaN or division by 0
        means, lows, highs = beta.summaries(a, b)
        p = beta.win_probabilities(a, b)
    assert np.isfinite(lows).all() and np.isfinite(highs).all()
    assert ((0 <= lows) & (lows <= highs) & (highs <= 1)).all()
    assert np.isfinite(p).all() and p.sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "alpha, beta_, match",
    [
        ([1.0, 2.0], [1.0], "same length"),
        ([[1.0]], [[1.0]], "1-D"),
        ([0.0], [1.0], "between"),
        ([-1.0], [1.0], "between"),
        ([1.0], [np.nan], "between"),
        ([np.inf], [1.0], "between"),
        ([2e15], [1.0], "between"),
    ],
)
def test_bad_parameters_are_refused(alpha, beta_, match):
    with pytest.raises(ValueError, match=match):
        beta.win_probabilities(alpha, beta_)
    with pytest.raises(ValueError, match=match):
        beta.summaries(alpha, beta_)


@pytest.mark.parametrize("level", [0, 1, 1.5, -0.1, True, "0.95", float("nan")])
def test_bad_levels_are_refused(level):
    with pytest.raises(ValueError, match="level"):
        beta.summaries([1.0], [1.0], level)


def best_time(fn, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_beta_maths_are_fast():
    # About 0.3 ms for 3 arms and 2-5 ms for 64 on the development machine; generous bounds.
    a3, b3 = np.array([31.0, 21.0, 41.0]), np.array([971.0, 981.0, 1961.0])
    a64, b64 = sixty_four_arms()
    assert best_time(lambda: beta.win_probabilities(a3, b3), 20) < 0.002
    assert best_time(lambda: beta.summaries(a3, b3), 20) < 0.002
    assert best_time(lambda: beta.win_probabilities(a64, b64), 5) < 0.05
    assert best_time(lambda: beta.summaries(a64, b64), 5) < 0.05


# -- names and priors ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["A", "green button", "x" * MAX_NAME_LENGTH, "é-variant", "50% off", "a.b", "..."])
def test_good_arm_names_pass(name):
    check_arm_name(name)


@pytest.mark.parametrize(
    "name, match",
    [
        ("", "1 to 64 characters"),
        ("x" * (MAX_NAME_LENGTH + 1), "1 to 64 characters; got 65"),
        ("a/b", "must not contain '/'"),
        (" a", "whitespace"),
        ("a ", "whitespace"),
        ("a\nb", "printable"),
        ("a\tb", "printable"),
        ("\x00", "printable"),
        (".", "'.' or '..'"),
        ("..", "'.' or '..'"),
        (5, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_bad_arm_names_are_refused(name, match):
    with pytest.raises(ValueError, match=match) as info:
        check_arm_name(name)
    assert type(info.value) is ValueError  # a bad value, not a conflict with the experiment


@pytest.mark.parametrize(
    "ctr, weight",
    [(0.5, 2.0), (1e-9, 1e9), (0.999999, 1), (0.02, 1e9), (np.float64(0.3), np.int64(5))],
)
def test_good_priors_pass(ctr, weight):
    check_prior(ctr, weight)


@pytest.mark.parametrize(
    "ctr, weight, message",
    [
        (1.5, 100, "prior_ctr must be between 0 and 1 (exclusive); got 1.5"),
        (0, 100, "prior_ctr must be between 0 and 1 (exclusive); got 0"),
        (1, 100, "prior_ctr must be between 0 and 1 (exclusive); got 1"),
        (float("nan"), 100, "prior_ctr must be between 0 and 1 (exclusive); got nan"),
        (True, 100, "prior_ctr must be between 0 and 1 (exclusive); got True"),
        ("0.5", 100, "prior_ctr must be between 0 and 1 (exclusive); got '0.5'"),
        (0.5, 0, "prior_impressions must be a number greater than 0 and at most 1e+09; got 0"),
        (0.5, -3, "got -3"),
        (0.5, 2e9, "got 2000000000.0"),
        (0.5, float("inf"), "got inf"),
        (0.5, False, "got False"),
        (0.5, None, "got None"),
        (1e-300, 1e-300, "must be at least 1e-100"),
    ],
)
def test_bad_priors_are_refused_with_a_message_that_says_what_is_allowed(ctr, weight, message):
    with pytest.raises(ValueError) as info:
        check_prior(ctr, weight)
    assert message in str(info.value)


def test_prior_parameterisation():
    arm = Arm(uid=0, name="red", prior_ctr=0.02, prior_impressions=100.0)
    assert (arm.alpha0, arm.beta0) == (2.0, 98.0)
    assert arm.alpha0 + arm.beta0 == pytest.approx(arm.prior_impressions)
    default = Experiment().arms[0]
    assert (default.prior_ctr, default.prior_impressions) == (DEFAULT_PRIOR_CTR, DEFAULT_PRIOR_IMPRESSIONS)
    assert (default.alpha0, default.beta0) == (1.0, 1.0)  # the uniform prior


@pytest.mark.parametrize("ctr, weight", [(0.02, 100.0), (0.5, 2.0), (0.9, 1e9), (1e-6, 0.5), (0.3, 1e-3)])
def test_a_fresh_arm_has_its_prior_ctr_as_posterior_mean(ctr, weight):
    experiment = Experiment([{"name": "x", "prior_ctr": ctr, "prior_impressions": weight}])
    posterior = Posterior(experiment.arms, np.zeros(MAX_ARMS, int), np.zeros(MAX_ARMS, int))
    assert posterior.means()[0] == pytest.approx(ctr, rel=1e-12)
    assert posterior.alpha[0] + posterior.beta[0] == pytest.approx(weight, rel=1e-12)


def test_posterior_adds_counts_to_the_prior():
    experiment = Experiment([{"name": "red", "prior_ctr": 0.02, "prior_impressions": 100}, {"name": "blue"}])
    impressions, clicks = np.zeros(MAX_ARMS, int), np.zeros(MAX_ARMS, int)
    impressions[:2], clicks[:2] = [1000, 500], [30, 10]
    posterior = Posterior(experiment.arms, impressions, clicks)
    assert posterior.alpha.tolist() == [32.0, 11.0]
    assert posterior.beta.tolist() == [1068.0, 491.0]
    assert posterior.impressions.tolist() == [1000, 500] and posterior.clicks.tolist() == [30, 10]


@pytest.mark.parametrize(
    "impressions, clicks, match",
    [
        (np.zeros(1, int), np.zeros(MAX_ARMS, int), "length at least 2"),
        (np.zeros((MAX_ARMS, 1), int), np.zeros(MAX_ARMS, int), "1-D"),
        (np.full(MAX_ARMS, 5), np.full(MAX_ARMS, 6), "clicks <= impressions"),
        (np.full(MAX_ARMS, 5), np.full(MAX_ARMS, -1), "0 <= clicks"),
    ],
)
def test_posterior_refuses_bad_counts(impressions, clicks, match):
    with pytest.raises(ValueError, match=match):
        Posterior(Experiment().arms, impressions, clicks)


# -- the experiment: arms come and go -----------------------------------------------------------


def counts(**by_uid) -> tuple[np.ndarray, np.ndarray]:
    impressions, clicks = np.zeros(MAX_ARMS, np.int64), np.zeros(MAX_ARMS, np.int64)
    for uid, (n, c) in by_uid.items():
        impressions[int(uid[1:])], clicks[int(uid[1:])] = n, c
    return impressions, clicks


def test_default_experiment():
    experiment = Experiment()
    assert experiment.test == 1 and experiment.next_uid == 2 and experiment.retired == []
    assert [(arm.uid, arm.name) for arm in experiment.arms] == [(0, "A"), (1, "B")]


def test_uids_are_never_reused_within_a_test():
    experiment = Experiment()
    c = experiment.add_arm("C")
    assert c.uid == 2
    removed = experiment.remove_arm("C")
    assert removed == c and experiment.arm("C") is None
    again = experiment.add_arm("C")  # the same name again: a new arm in a new slot
    assert again.uid == 3 and experiment.next_uid == 4
    assert experiment.retired == [c]
    assert experiment.by_uid(2) == c and experiment.by_uid(3) == again and experiment.by_uid(9) is None
    assert [arm.name for arm in experiment.arms] == ["A", "B", "C"]


def test_removed_arms_keep_their_slot_and_can_still_be_named():
    experiment = Experiment()
    a = experiment.remove_arm("A")
    assert experiment.by_uid(0) == a and experiment.arm("A") is None
    assert [arm.uid for arm in experiment.arms] == [1]


def test_add_arm_errors():
    experiment = Experiment()
    with pytest.raises(ArmConflict, match="already exists"):
        experiment.add_arm("A")
    with pytest.raises(ValueError, match="must not contain"):
        experiment.add_arm("a/b")
    with pytest.raises(ValueError, match="prior_ctr"):
        experiment.add_arm("C", prior_ctr=2.0)
    with pytest.raises(ValueError, match="both impressions and clicks"):
        experiment.add_arm("C", impressions=np.zeros(MAX_ARMS, int))
    assert experiment == Experiment()  # nothing changed


def test_all_64_slots_then_conflict_until_reset():
    experiment = Experiment([{"name": "arm0"}])
    for uid in range(1, MAX_ARMS):
        assert experiment.add_arm(f"arm{uid}").uid == uid
    with pytest.raises(ArmConflict, match="all 64 arm slots"):
        experiment.add_arm("one more")
    experiment.remove_arm("arm5")
    with pytest.raises(ArmConflict, match="all 64 arm slots"):  # a removed arm's slot stays retired
        experiment.add_arm("one more")
    experiment.reset([{"name": "fresh"}])
    assert experiment.add_arm("one more").uid == 1


def test_remove_arm_errors():
    experiment = Experiment()
    with pytest.raises(UnknownArm, match="no arm named 'Z'"):
        experiment.remove_arm("Z")
    experiment.remove_arm("A")
    with pytest.raises(ArmConflict, match="last arm"):
        experiment.remove_arm("B")
    with pytest.raises(UnknownArm):  # a retired arm is not a current arm
        experiment.remove_arm("A")
    assert [arm.name for arm in experiment.arms] == ["B"]


def test_error_classes_map_to_http_statuses():
    assert issubclass(UnknownArm, ExperimentError) and issubclass(ArmConflict, ExperimentError)
    assert issubclass(ExperimentError, ValueError)


def test_a_new_arm_starts_level_with_the_leader():
    experiment = Experiment()
    impressions, clicks = counts(u0=(5000, 150), u1=(5000, 100))
    arm = experiment.add_arm("C", impressions=impressions, clicks=clicks)
    assert arm.prior_ctr == pytest.approx(151 / 5002)  # A's posterior mean under Beta(1, 1)
    assert arm.prior_impressions == NEW_ARM_IMPRESSIONS
    assert experiment.add_arm("D").prior_ctr == DEFAULT_PRIOR_CTR  # no counts: the default
    assert experiment.add_arm("E", prior_impressions=50, impressions=impressions, clicks=clicks).prior_impressions == 50


def test_a_new_arm_gets_a_meaningful_share_right_away():
    experiment = Experiment()
    impressions, clicks = counts(u0=(5000, 150), u1=(5000, 100))
    experiment.add_arm("C", impressions=impressions, clicks=clicks)
    p = Posterior(experiment.arms, impressions, clicks).propensities()
    assert p[2] > 0.1, f"a new arm should be explored: its propensity is {p[2]:.3f}"
    assert p[0] > p[1]


def test_reset_starts_a_new_test():
    experiment = Experiment()
    experiment.remove_arm("A")
    experiment.reset(
        [{"name": "red", "prior_ctr": 0.02, "prior_impressions": 100}, {"name": "blue", "prior_ctr": None}]
    )
    assert experiment.test == 2 and experiment.next_uid == 2 and experiment.retired == []
    assert experiment.arms == [Arm(0, "red", 0.02, 100.0), Arm(1, "blue", DEFAULT_PRIOR_CTR, DEFAULT_PRIOR_IMPRESSIONS)]
    experiment.reset([{"name": "x"}])
    assert experiment.test == 3


@pytest.mark.parametrize(
    "arms, match",
    [
        ([], "1 to 64 arms; got 0"),
        ([{"name": f"a{i}"} for i in range(MAX_ARMS + 1)], "1 to 64 arms; got 65"),
        ({"name": "a"}, "must be a list"),
        ("ab", "must be a list"),
        (None, "must be a list"),
        (["a"], r"arms\[0\]: each arm must be an object"),
        ([{"name": "a"}, {}], r"arms\[1\]: every arm needs a name"),
        ([{"name": "a", "ctr": 0.1}], r"arms\[0\]: unknown field 'ctr'"),
        ([{"name": "a"}, {"name": "a"}], r"arms\[1\]: the name 'a' is already used by arms\[0\]"),
        ([{"name": "a"}, {"name": "b/c"}], r"arms\[1\]: arm name must not contain '/'"),
        ([{"name": "a"}, {"name": "b", "prior_ctr": 1.5}], r"arms\[1\]: prior_ctr must be between 0 and 1"),
        ([{"name": "a", "prior_impressions": 0}], r"arms\[0\]: prior_impressions must be"),
        ([{"name": "a", "prior_ctr": "0.1"}], r"arms\[0\]: prior_ctr"),
    ],
)
def test_reset_checks_everything_first_and_changes_nothing_on_error(arms, match):
    experiment = Experiment()
    experiment.add_arm("C")
    experiment.remove_arm("A")
    before = experiment.to_state()
    with pytest.raises(ValueError, match=match) as info:
        experiment.reset(arms)
    assert not isinstance(info.value, ExperimentError)  # a bad request, not a conflict
    after = experiment.to_state()
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


# -- state ----------------------------------------------------------------------------------------


def busy_experiment() -> Experiment:
    experiment = Experiment([{"name": "red", "prior_ctr": 0.1 + 1e-17, "prior_impressions": 1 / 3}, {"name": "blue"}])
    experiment.add_arm("green", prior_ctr=0.0123456789012345, prior_impressions=123.456)
    experiment.add_arm("été ☀", prior_ctr=2**-30)
    experiment.remove_arm("red")
    experiment.reset(
        [
            {"name": n, "prior_ctr": c, "prior_impressions": w}
            for n, c, w in [("x", 0.3, 7.0), ("y", 1 / 7, 1e9), ("z", 0.5, 2.0)]
        ]
    )
    experiment.add_arm("w", prior_ctr=math.pi / 10)
    experiment.remove_arm("x")
    return experiment


def test_state_round_trip_is_exact():
    experiment = busy_experiment()
    copy = Experiment.from_state(experiment.to_state())
    assert copy == experiment
    assert (copy.test, copy.next_uid, copy.arms, copy.retired) == (2, 4, experiment.arms, experiment.retired)


def test_state_round_trip_through_the_state_layer_encoding_is_exact():
    experiment = busy_experiment()
    decoded = decode_state(encode_state(experiment.to_state()))  # read-only arrays, as readers get them
    assert Experiment.from_state(decoded) == experiment
    fresh = Experiment()  # no retired arms: empty arrays
    assert Experiment.from_state(decode_state(encode_state(fresh.to_state()))) == fresh


def test_state_is_a_copy_and_other_keys_are_ignored():
    experiment = busy_experiment()
    state = experiment.to_state()
    state["arm_prior_ctr"][0] = 0.9
    state["arm_name_bytes"][0] = ord("Y")
    assert experiment.arms[0].name == "y" and experiment.arms[0].prior_ctr == 1 / 7
    merged = {**experiment.to_state(), "impressions": np.arange(MAX_ARMS), "version": 7}
    assert Experiment.from_state(merged) == experiment


def test_from_state_refuses_an_inconsistent_state():
    state = busy_experiment().to_state()
    with pytest.raises(ValueError, match="different lengths"):
        Experiment.from_state({**state, "arm_uids": state["arm_uids"][:1]})
    with pytest.raises(ValueError, match="do not add up"):
        Experiment.from_state({**state, "arm_name_sizes": state["arm_name_sizes"] + 1})
    with pytest.raises(ValueError, match="inconsistent"):
        Experiment.from_state({**state, "next_uid": 1})


def test_the_largest_experiment_has_a_small_state():
    # 64 arms named with 64 four-byte characters each: 16 KiB of UTF-8, and little more encoded.
    names = [f"{i:02d}" + "\U0001F600" * 62 for i in range(MAX_ARMS)]
    experiment = Experiment([{"name": name, "prior_ctr": 0.1, "prior_impressions": 1e9} for name in names])
    payload = encode_state(experiment.to_state())
    assert len(payload) < 20_000
    assert Experiment.from_state(decode_state(payload)) == experiment


# -- Thompson draws ---------------------------------------------------------------------------------


def chi_square(observed: np.ndarray, p: np.ndarray) -> float:
    expected = observed.sum() * p
    keep = expected > 0
    assert observed[~keep].sum() == 0
    return float((((observed - expected) ** 2)[keep] / expected[keep]).sum())


@pytest.mark.parametrize(
    "alpha, beta_",
    [
        ([31.0, 21.0], [971.0, 981.0]),
        ([0.2, 1.0, 3.0], [9.8, 1.0, 300.0]),
        ([0.3, 91.0, 61.0], [9.7, 2911.0, 2941.0]),
        ([0.01, 0.01, 0.02], [1.0, 1.0, 1.0]),  # draws that round to 0.0 in x must not tie
        ([5.0] * 8, [95.0] * 8),
    ],
)
def test_draw_frequencies_match_propensities(alpha, beta_):
    arms = [Arm(i, f"arm{i}", 0.5, 2.0) for i in range(len(alpha))]
    posterior = Posterior(arms, np.zeros(MAX_ARMS, int), np.zeros(MAX_ARMS, int))
    posterior.alpha, posterior.beta = np.array(alpha), np.array(beta_)  # set by hand
    p = posterior.propensities()
    n = 200_000
    observed = np.bincount(posterior.draw(np.random.default_rng(3), n), minlength=len(alpha))
    # chi-square with k-1 degrees of freedom: its 99.99th percentile, so this fails by chance 1 in 10,000
    assert chi_square(observed, p) < stats.chi2.ppf(0.9999, len(alpha) - 1)


def test_tiny_shapes_do_not_favour_the_first_arm():
    # Beta(0.01, 1) draws are below 1e-30 half of the time: as floats in x they would tie at 0.
    choices = thompson_choices(np.random.default_rng(0), np.full((100_000, 2), 0.01), np.ones((100_000, 2)))
    assert abs(choices.mean() - 0.5) < 0.01


def test_thompson_choices_broadcast_and_are_deterministic():
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    alpha, beta_ = np.array([[1.0, 2.0, 3.0]] * 50), np.array([[5.0, 5.0, 5.0]] * 50)
    a = thompson_choices(rng_a, alpha, beta_)
    assert a.shape == (50,) and set(a.tolist()) <= {0, 1, 2}
    assert np.array_equal(a, thompson_choices(rng_b, alpha, beta_))


# -- the choice queue -----------------------------------------------------------------------------


def default_posterior() -> Posterior:
    impressions, clicks = counts(u0=(1000, 30), u1=(1000, 20))
    return Posterior(Experiment().arms, impressions, clicks)


def test_choice_queue_sizes_batches_from_the_largest_recent_consumption():
    queue = ChoiceQueue(np.random.default_rng(0), reserve=16, history=3)
    posterior = default_posterior()
    queue.refill(posterior, now=0.0)
    assert len(queue) == 16 and queue.batch_size == 16  # no traffic seen yet: the reserve
    sizes = []
    for used in [10, 4, 0, 1, 2, 3]:
        for _ in range(used):
            queue.pop()
        queue.refill(posterior, now=0.0)
        sizes.append(len(queue))
    # consumed [10], [10, 4], [10, 4, 0], [4, 0, 1], [0, 1, 2], [1, 2, 3]: 2 x max + 16
    assert sizes == [36, 36, 36, 24, 20, 22]
    assert list(queue.consumed) == [1, 2, 3]


def test_choice_queue_staleness():
    queue = ChoiceQueue(np.random.default_rng(0), reserve=2, max_age=0.2)
    assert queue.stale(0.0)  # empty
    queue.refill(default_posterior(), now=10.0)
    assert not queue.stale(10.0) and not queue.stale(10.2) and queue.stale(10.2001)
    queue.pop()
    queue.pop()
    assert queue.stale(10.0)  # empty again
    with pytest.raises(IndexError, match="refill"):
        queue.pop()


def test_choice_queue_gives_uids_and_the_posteriors_propensities_as_plain_values():
    experiment = Experiment([{"name": n} for n in "ABCD"])
    experiment.remove_arm("B")  # uids 0, 2, 3: indices into arms are not uids
    impressions, clicks = counts(u0=(400, 12), u1=(400, 40), u2=(400, 16), u3=(10, 0))
    posterior = Posterior(experiment.arms, impressions, clicks)
    queue = ChoiceQueue(np.random.default_rng(1), reserve=5000)
    queue.refill(posterior, now=0.0)
    propensity_of = dict(zip(posterior.uids.tolist(), posterior.propensities().tolist()))
    seen = []
    while len(queue):
        uid, propensity = queue.pop()
        assert type(uid) is int and type(propensity) is float
        assert propensity == propensity_of[uid]
        seen.append(uid)
    assert set(seen) <= {0, 2, 3} and len(seen) == 5000
    observed = np.array([seen.count(uid) for uid in (0, 2, 3)])
    assert chi_square(observed, posterior.propensities()) < stats.chi2.ppf(0.9999, 2)


def test_choice_queue_refuses_bad_settings():
    with pytest.raises(ValueError):
        ChoiceQueue(np.random.default_rng(0), reserve=0)
    with pytest.raises(ValueError):
        ChoiceQueue(np.random.default_rng(0), max_age=0)


# -- the whole bandit ---------------------------------------------------------------------------


def lockstep(ctr, impressions: int, runs: int, seed: int, tail: int) -> np.ndarray:
    """``runs`` independent Thompson bandits (uniform priors) on known CTRs, advanced together;
    returns each run's serves per arm over the last ``tail`` impressions."""
    ctr = np.asarray(ctr)
    rng, clicks_rng = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    n, c = np.zeros((runs, ctr.size)), np.zeros((runs, ctr.size))
    rows, late = np.arange(runs), np.zeros((runs, ctr.size))
    for step in range(impressions):
        pick = thompson_choices(rng, 1.0 + c, 1.0 + (n - c))
        n[rows, pick] += 1
        c[rows, pick] += clicks_rng.random(runs) < ctr[pick]
        if step >= impressions - tail:
            late[rows, pick] += 1
    return late


def test_thompson_sampling_concentrates_on_the_best_arm():
    # The best arm's share of the last 5,000 of 20,000 serves. Checked locally on seeds 0-19
    # (10 runs each): the lowest share was 0.74, the lowest mean 0.95. (Over 400 runs of
    # another seeding, the lowest share was 0.67.)
    late = lockstep([0.02, 0.012, 0.03], impressions=20_000, runs=10, seed=0, tail=5_000)
    share = late[:, 2] / 5_000
    assert share.min() > 0.6 and share.mean() > 0.85, share


def test_bandit_chooses_records_and_is_seeded():
    def play(seed):
        bandit = Bandit([("red", 0.02, 100), "blue", {"name": "green", "prior_ctr": 0.03}], seed=seed)
        clicks = np.random.default_rng(9).random(200)
        made = []
        for u in clicks:
            name, propensity = bandit.choose()
            assert 0 < propensity <= 1
            made.append(name)
            bandit.record(name, clicked=bool(u < 0.05))
        return made, bandit

    first, bandit = play(4)
    again, _ = play(4)
    other, _ = play(5)
    assert first == again and first != other
    posterior = bandit.posterior()
    assert posterior.impressions.sum() == 200
    assert [arm.name for arm in posterior.arms] == ["red", "blue", "green"]
    assert posterior.alpha[0] == 2.0 + posterior.clicks[0]


def test_bandit_record_errors_and_arm_changes():
    bandit = Bandit(seed=0)
    with pytest.raises(UnknownArm):
        bandit.record("Z", True)
    with pytest.raises(ValueError, match="True or False"):
        bandit.record("A", 1)
    for _ in range(50):
        bandit.record("A", True)
    arm = bandit.add_arm("C")  # level with the leader, A
    assert arm.prior_ctr == pytest.approx(51 / 52) and arm.prior_impressions == NEW_ARM_IMPRESSIONS
    bandit.remove_arm("A")
    assert [arm.name for arm in bandit.posterior().arms] == ["B", "C"]
    assert bandit.impressions[0] == 50  # the slot keeps its counts
    assert Bandit(Experiment([{"name": "solo"}])).choose() == ("solo", 1.0)
    with pytest.raises(ValueError, match="arm tuple"):
        Bandit([("a", 0.1, 10, "extra")])
