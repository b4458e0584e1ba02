"""The bandit simulated offline: Thompson sampling against uniform random allocation, on known CTRs.

``voweler-simulate`` (voweler_tools/simulate.py) runs it by default; ``--url`` drives a server
instead (voweler_tools/drive.py). Arms are ``(name, true CTR)`` pairs, as ``parse_arms`` makes them.
"""

from __future__ import annotations

import time

import numpy as np

from voweler.models import Experiment, thompson_choices

DEFAULT_IMPRESSIONS = 1500
DEFAULT_RUNS = 200
MAX_IMPRESSIONS = 10_000_000
MAX_SIMULATED = 100_000_000  # impressions x runs offline: about a minute


def arm_specs(arms, prior_ctr, prior_impressions) -> list[dict]:
    """The arms as Experiment.reset and POST /api/bandit/reset take them."""
    specs = []
    for name, _ in arms:
        spec = {"name": name}
        if prior_ctr is not None:
            spec["prior_ctr"] = prior_ctr
        if prior_impressions is not None:
            spec["prior_impressions"] = prior_impressions
        specs.append(spec)
    return specs


def simulate(
    arms: list[tuple[str, float]],
    impressions: int = DEFAULT_IMPRESSIONS,
    runs: int = DEFAULT_RUNS,
    seed: int = 0,
    prior_ctr: float | None = None,
    prior_impressions: float | None = None,
) -> dict:
    """Thompson sampling against uniform random allocation, ``runs`` times, on known CTRs.

    All runs advance together, one impression at a time, as arrays. At each impression every
    run's Thompson choice is drawn from its own current posterior (priors from an
    :class:`~voweler.models.Experiment`, so exactly the model's), with
    :func:`~voweler.models.thompson_choices`. With ``runs=1`` the choices are those a
    ``Bandit(arms, seed=seed)`` would make (tests/bandit_model.py, the tests' reference).

    **Common random numbers:** one uniform draw per run and impression decides the click for
    both policies (a click if it is below the CTR of the arm shown), so the comparison is
    paired: the difference comes from which arms were shown, not from luck with clicks.

    Returns a dict of plain values: per policy, the mean and 10th/90th percentiles over runs
    of clicks, expected clicks, expected regret (``Σ best CTR - CTR shown``) and each arm's
    share of traffic; and Thompson's extra clicks over uniform, in percent.
    """
    if not arms:
        raise ValueError("give at least one arm")
    if not 1 <= impressions <= MAX_IMPRESSIONS or not 1 <= runs or impressions * runs > MAX_SIMULATED:
        raise ValueError(
            f"need 1 <= impressions <= {MAX_IMPRESSIONS:,}, runs >= 1 and impressions x runs <= {MAX_SIMULATED:,}; "
            f"got {impressions:,} and {runs:,}"
        )
    started = time.perf_counter()
    experiment = Experiment(arm_specs(arms, prior_ctr, prior_impressions))
    alpha0 = np.array([arm.alpha0 for arm in experiment.arms])
    beta0 = np.array([arm.beta0 for arm in experiment.arms])
    ctr = np.array([c for _, c in arms])
    k = len(arms)

    choice_rng = np.random.default_rng(seed)  # Thompson's draws, as Bandit(seed=seed) makes them
    click_rng = np.random.default_rng([seed, 1])  # the common random numbers
    uniform_rng = np.random.default_rng([seed, 2])  # uniform allocation's choices
    rows = np.arange(runs)
    shown = {policy: np.zeros((runs, k), dtype=np.int64) for policy in ("thompson", "uniform")}
    clicked = {policy: np.zeros((runs, k), dtype=np.int64) for policy in ("thompson", "uniform")}
    expected = {policy: np.zeros(runs) for policy in ("thompson", "uniform")}
    for _ in range(impressions):
        n, c = shown["thompson"], clicked["thompson"]
        pick = thompson_choices(choice_rng, alpha0 + c, beta0 + (n - c))
        u = click_rng.random(runs)
        for policy, arm in (("thompson", pick), ("uniform", uniform_rng.integers(k, size=runs))):
            shown[policy][rows, arm] += 1
            clicked[policy][rows, arm] += u < ctr[arm]
            expected[policy] += ctr[arm]

    best = float(ctr.max())
    report = {}
    for policy in ("thompson", "uniform"):
        clicks = clicked[policy].sum(axis=1)
        report[policy] = {
            "clicks": _spread(clicks),
            "expected_clicks": _spread(expected[policy]),
            "regret": _spread(impressions * best - expected[policy]),
            "shares": {name: _spread(shown[policy][:, i] / impressions) for i, (name, _) in enumerate(arms)},
        }
    ts_clicks = clicked["thompson"].sum(axis=1)
    uniform_clicks = clicked["uniform"].sum(axis=1)
    return {
        "mode": "offline",
        "arms": [{"name": name, "ctr": c} for name, c in arms],
        "impressions": impressions,
        "runs": runs,
        "seed": seed,
        "prior": {"prior_ctr": experiment.arms[0].prior_ctr, "prior_impressions": experiment.arms[0].prior_impressions},
        "best_expected_clicks": impressions * best,
        **report,
        "extra_clicks": {
            "percent": _percent(ts_clicks.mean(), uniform_clicks.mean()),
            "percent_expected": _percent(expected["thompson"].mean(), expected["uniform"].mean()),
            "paired_difference": _spread(ts_clicks - uniform_clicks),
        },
        "seconds": round(time.perf_counter() - started, 3),
    }


def _spread(values) -> dict:
    values = np.asarray(values, dtype=np.float64)
    p10, p90 = np.percentile(values, [10, 90])
    return {"mean": float(values.mean()), "p10": float(p10), "p90": float(p90)}


def _percent(new: float, old: float) -> float | None:
    return None if old == 0 else float(100.0 * (new / old - 1.0))


def format_offline(result: dict) -> str:
    """The offline result as a short report for people."""
    arms = result["arms"]
    width = max(6, *(len(arm["name"]) for arm in arms))
    prior = result["prior"]
    lines = [
        f"Thompson sampling vs uniform random allocation: {len(arms)} arms, {result['impressions']:,} impressions, "
        f"{result['runs']:,} runs (seed {result['seed']}; prior CTR {prior['prior_ctr']:g} "
        f"weighing {prior['prior_impressions']:g} impressions)",
        "Means over runs, with the 10th-90th percentile in brackets.",
        "",
        f"{'arm':<{width}}  {'true CTR':>8}  {'Thompson share':>22}  {'uniform share':>13}",
    ]
    for arm in arms:
        ts, un = result["thompson"]["shares"][arm["name"]], result["uniform"]["shares"][arm["name"]]
        spread = f"{ts['mean']:6.1%} ({ts['p10']:.1%}-{ts['p90']:.1%})"
        lines.append(f"{arm['name']:<{width}}  {arm['ctr']:8.4f}  {spread:>22}  {un['mean']:13.1%}")
    lines.append("")
    lines.append(f"{'':<16}  {'Thompson':>22}  {'uniform':>22}")
    for label, key in (("clicks", "clicks"), ("expected clicks", "expected_clicks"), ("expected regret", "regret")):
        cells = [_cell(result[policy][key]) for policy in ("thompson", "uniform")]
        lines.append(f"{label:<16}  {cells[0]:>22}  {cells[1]:>22}")
    extra = result["extra_clicks"]
    lines.append(f"best possible: {result['best_expected_clicks']:,.1f} expected clicks (always the best arm)")
    lines.append("")
    paired = extra["paired_difference"]
    if extra["percent"] is None:
        lines.append("Uniform allocation got no clicks at all: no percentage to compare.")
    else:
        lines.append(
            f"Thompson sampling got {_signed(extra['percent'])}% clicks compared with uniform allocation "
            f"({_signed(paired['mean'], '.1f')} clicks per run, {paired['p10']:+.0f} to {paired['p90']:+.0f}); "
            f"by expected clicks, {_signed(extra['percent_expected'])}%."
        )
    lines.append(f"({result['seconds']:.2f} s)")
    return "\n".join(lines)


def _cell(spread: dict) -> str:
    return f"{spread['mean']:.1f} ({spread['p10']:.1f}-{spread['p90']:.1f})"


def _signed(value: float, fmt: str = ".1f") -> str:
    return f"{value:+{fmt}}"
