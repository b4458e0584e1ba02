"""Simulate the Thompson-sampling bandit against known click-through rates.

Offline (the default), the bandit model runs against the true CTRs beside uniform random
allocation, many times over, and the two are compared::

    voweler-simulate 0.02 0.012 0.03
    voweler-simulate red=0.02 green=0.012 blue=0.03 --impressions 5000 --runs 500 --json

With ``--url`` it drives a running voweler server instead: it asks the server which arm to
show, decides the click from that arm's true CTR, sends the reward on a click, and at the end
checks the server's counts against its own::

    voweler-simulate --url http://127.0.0.1:9090 --reset red=0.02 green=0.012 blue=0.03

Each ARM is ``CTR`` or ``NAME=CTR``; unnamed arms are called arm1, arm2, ... by position.
HTTP mode uses only the standard library (urllib.request and concurrent.futures).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import math
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Callable

import numpy as np

from voweler.models.bandit import (
    DEFAULT_PRIOR_CTR, DEFAULT_PRIOR_IMPRESSIONS, MAX_ARMS, Experiment, check_arm_name, check_prior, thompson_choices,
)  # fmt: skip

DEFAULT_IMPRESSIONS = 1500
DEFAULT_RUNS = 200
DEFAULT_CONCURRENCY = 8
MAX_IMPRESSIONS = 10_000_000
MAX_SIMULATED = 100_000_000  # impressions x runs offline: about a minute
MAX_CONCURRENCY = 256
TIMEOUT = 10.0  # seconds per HTTP request


class SimulationError(Exception):
    """The simulation cannot run as asked (the message says why and what to do)."""


# -- arguments ----------------------------------------------------------------------------------


def parse_arms(texts: list[str]) -> list[tuple[str, float]]:
    """``["0.02", "blue=0.03"]`` -> ``[("arm1", 0.02), ("blue", 0.03)]``; ValueError if invalid.

    >>> parse_arms(["0.02", "blue=0.03"])
    [('arm1', 0.02), ('blue', 0.03)]
    >>> parse_arms(["red=2%"])
    Traceback (most recent call last):
    ...
    ValueError: arm 'red=2%': the CTR must be a number from 0 to 1, like 0.02; got '2%'
    """
    if not texts:
        raise ValueError("give at least one arm, as CTR or NAME=CTR (for example 0.02 0.012 0.03)")
    if len(texts) > MAX_ARMS:
        raise ValueError(f"at most {MAX_ARMS} arms; got {len(texts)}")
    arms, seen = [], set()
    for position, text in enumerate(texts, start=1):
        name, equals, value = text.rpartition("=")
        if not equals:
            name = f"arm{position}"
        try:
            check_arm_name(name)
        except ValueError as error:
            raise ValueError(f"arm {text!r}: {error}") from None
        try:
            ctr = float(value)
        except ValueError:
            ctr = math.nan
        if not 0 <= ctr <= 1:  # NaN fails too
            raise ValueError(f"arm {text!r}: the CTR must be a number from 0 to 1, like 0.02; got {value!r}")
        if name in seen:
            raise ValueError(f"arm {text!r}: the name {name!r} is used twice; names must be unique")
        seen.add(name)
        arms.append((name, ctr))
    return arms


def _arm_specs(arms, prior_ctr, prior_impressions) -> list[dict]:
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


# -- offline ------------------------------------------------------------------------------------


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
    :class:`~voweler.models.bandit.Experiment`, so exactly the model's), with
    :func:`~voweler.models.bandit.thompson_choices`. With ``runs=1`` the choices are those a
    ``Bandit(arms, seed=seed)`` would make.

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
    experiment = Experiment(_arm_specs(arms, prior_ctr, prior_impressions))
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


# -- HTTP ---------------------------------------------------------------------------------------


class HttpFailure(Exception):
    """A request that did not succeed: an HTTP status, or "connection" when no answer came."""

    def __init__(self, status, message: str):
        self.status, self.message = status, message
        super().__init__(f"{status}: {message}")


class _Client:
    """JSON over HTTP with urllib; no proxies (the server is local)."""

    def __init__(self, url: str, timeout: float):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body=None) -> dict:
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        data = data if method == "POST" else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                message = json.loads(raw).get("message", "")
            except (ValueError, AttributeError):
                message = raw[:200].decode("utf-8", "replace")
            raise HttpFailure(error.code, message) from None
        except (urllib.error.URLError, OSError, ValueError) as error:  # refused, reset, timeout, bad JSON
            raise HttpFailure("connection", str(getattr(error, "reason", error))) from None


def drive(
    url: str,
    arms: list[tuple[str, float]],
    impressions: int = DEFAULT_IMPRESSIONS,
    concurrency: int = DEFAULT_CONCURRENCY,
    seed: int = 0,
    reset: bool = False,
    prior_ctr: float | None = None,
    prior_impressions: float | None = None,
    progress: Callable[[str], None] | None = None,
    timeout: float = TIMEOUT,
) -> dict:
    """Drive a running voweler server's bandit with simulated visitors; return a result dict.

    For each of ``impressions`` visitors, from ``concurrency`` threads: ``POST
    /api/bandit/serve``, decide the click with the true CTR of the arm served (one seeded
    uniform draw per visitor, in visitor order), and on a click ``POST /api/bandit/reward``.
    With ``reset`` the server's bandit is first reset to these arms (and priors); otherwise its
    arms must already have these names. ``progress``, if given, receives a line about once a
    second.

    The result counts serves answered, clicks sent and accepted, failures by status, and the
    worker pids seen, and compares the server's final counts (``GET /api/bandit``) with its
    counts before plus what this client saw: ``ok`` is True only if no request failed and
    every count matches. Raises SimulationError if the run cannot start (server unreachable,
    arms differ).
    """
    if not 1 <= impressions <= MAX_IMPRESSIONS or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(
            f"need 1 <= impressions <= {MAX_IMPRESSIONS:,} and 1 <= concurrency <= {MAX_CONCURRENCY}; "
            f"got {impressions} and {concurrency}"
        )
    client = _Client(url, timeout)
    names = [name for name, _ in arms]
    truth = dict(arms)
    try:
        if reset:
            before = client.call("POST", "/api/bandit/reset", {"arms": _arm_specs(arms, prior_ctr, prior_impressions)})
        else:
            before = client.call("GET", "/api/bandit")
    except HttpFailure as failure:
        raise SimulationError(f"cannot {'reset' if reset else 'read'} the bandit at {url}: {failure}") from None
    try:
        server_names = [arm["name"] for arm in before["arms"]]
        start_counts = {arm["name"]: (arm["impressions"], arm["clicks"]) for arm in before["arms"]}
    except (KeyError, TypeError) as error:
        raise SimulationError(
            f"unexpected answer from the bandit at {url} (no {error}): is it a voweler server?"
        ) from None
    if sorted(server_names) != sorted(names):
        raise SimulationError(
            f"the server's arms are {', '.join(server_names)}; these arms are {', '.join(names)}. "
            "Run again with --reset to reset the server's bandit to these arms (its counts start over), "
            f"or name the arms as the server does (e.g. {' '.join(f'{n}=0.02' for n in server_names[:3])})"
        )

    draws = np.random.default_rng(seed).random(impressions).tolist()  # visitor i clicks if draws[i] < CTR
    lock = threading.Lock()
    visitors = itertools.count()
    served = dict.fromkeys(names, 0)
    accepted = dict.fromkeys(names, 0)
    expected = [0.0]
    sent = [0]
    errors: dict[str, int] = {}
    samples: list[str] = []
    pids: set[int] = set()

    def fail(what: str, failure: HttpFailure) -> None:
        with lock:
            errors[str(failure.status)] = errors.get(str(failure.status), 0) + 1
            sample = f"{what}: {failure}"
            if len(samples) < 5 and sample not in samples:  # a few distinct examples
                samples.append(sample)

    def visit() -> None:
        while True:
            with lock:
                i = next(visitors)
            if i >= impressions:
                return
            try:
                answer = client.call("POST", "/api/bandit/serve")
            except HttpFailure as failure:
                fail("serve", failure)
                continue
            arm = answer.get("arm")
            if arm not in truth:
                fail("serve", HttpFailure("unknown arm", f"the server served {arm!r}, which is not one of these arms"))
                continue
            click = draws[i] < truth[arm]
            with lock:
                served[arm] += 1
                expected[0] += truth[arm]
                sent[0] += click
                pids.add(answer.get("pid"))
            if click:
                try:
                    reward = client.call("POST", "/api/bandit/reward", {"ticket": answer["ticket"], "clicked": True})
                except HttpFailure as failure:
                    fail("reward", failure)
                    continue
                with lock:
                    accepted[arm] += 1
                    pids.add(reward.get("pid"))

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(visit) for _ in range(concurrency)]
        while True:
            done, pending = concurrent.futures.wait(futures, timeout=1.0)
            if progress is not None:
                with lock:
                    line = (
                        f"{sum(served.values()):,}/{impressions:,} served, {sent[0]:,} clicks, "
                        f"{sum(errors.values())} failed, pids {' '.join(str(p) for p in sorted(pids))}"
                    )
                progress(line)
            if not pending:
                break
        for future in futures:
            future.result()  # a bug in visit() should not pass silently
    seconds = time.perf_counter() - started

    try:
        after = client.call("GET", "/api/bandit")
    except HttpFailure as failure:
        raise SimulationError(f"the run finished but the bandit at {url} cannot be read: {failure}") from None
    final = {arm["name"]: (arm["impressions"], arm["clicks"]) for arm in after.get("arms", [])}
    counts, match = {}, after.get("test") == before.get("test")
    for name in names:
        imp0, clk0 = start_counts[name]
        expected_counts = (imp0 + served[name], clk0 + accepted[name])
        server = final.get(name)
        same = server == expected_counts
        match = match and same
        counts[name] = {
            "expected_impressions": expected_counts[0],
            "expected_clicks": expected_counts[1],
            "server_impressions": None if server is None else server[0],
            "server_clicks": None if server is None else server[1],
            "match": same,
        }
    answered = sum(served.values())
    return {
        "mode": "http",
        "url": url,
        "arms": [{"name": name, "ctr": c} for name, c in arms],
        "impressions": impressions,
        "concurrency": concurrency,
        "seed": seed,
        "reset": reset,
        "test": before.get("test"),
        "serves": answered,
        "served": served,
        "clicks_sent": sent[0],
        "clicks_accepted": sum(accepted.values()),
        "failures": errors,
        "failure_samples": samples,
        "pids": sorted(p for p in pids if p is not None),
        "counts": counts,
        "counts_match": match,
        "test_changed": after.get("test") != before.get("test"),
        "expected_clicks_served": expected[0],
        "expected_clicks_uniform": answered * float(np.mean([c for _, c in arms])),
        "seconds": round(seconds, 3),
        "requests_per_second": round((answered + sum(accepted.values())) / seconds, 1) if seconds > 0 else None,
        "ok": not errors and match,
    }


def format_http(result: dict) -> str:
    """The HTTP result as a short report for people."""
    failed = sum(result["failures"].values())
    lines = [
        f"{result['url']}: {result['impressions']:,} visitors from {result['concurrency']} threads in "
        f"{result['seconds']:.1f} s ({result['requests_per_second']} requests/s)",
        f"serves answered: {result['serves']:,} of {result['impressions']:,}",
        f"clicks sent: {result['clicks_sent']:,}, accepted: {result['clicks_accepted']:,}",
        "failed requests: "
        + (", ".join(f"{n} x {status}" for status, n in sorted(result["failures"].items())) if failed else "none"),
        *(f"  e.g. {sample}" for sample in result["failure_samples"]),
        f"worker pids that answered ({len(result['pids'])}): {' '.join(str(p) for p in result['pids'])}",
        "",
        "counts on the server after the run, against its counts before plus what this client saw:",
    ]
    for name, c in result["counts"].items():
        verdict = "match" if c["match"] else "DIFFER"
        lines.append(
            f"  {name}: impressions {c['server_impressions']} (expected {c['expected_impressions']}), "
            f"clicks {c['server_clicks']} (expected {c['expected_clicks']}): {verdict}"
        )
    if result["test_changed"]:
        lines.append("  the server's test number changed during the run: someone reset the bandit")
    lines.append(
        "The server's counts match exactly." if result["counts_match"]
        else "The server's counts DO NOT match what this client saw (another client may have been using it)."
    )
    lines.append(
        f"clicks: {result['clicks_sent']:,} (expected {result['expected_clicks_served']:.1f} from the arms served; "
        f"uniform allocation would expect {result['expected_clicks_uniform']:.1f})"
    )
    if result["ok"]:
        lines.append("OK: every request succeeded and the server's counts match.")
    else:
        problems = [f"{failed} requests failed"] if failed else []
        problems += [] if result["counts_match"] else ["the counts do not match"]
        lines.append("FAILED: " + " and ".join(problems) + ".")
    return "\n".join(lines)


# -- command ------------------------------------------------------------------------------------


def _positive_int(limit: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None
        if not 1 <= value <= limit:
            raise argparse.ArgumentTypeError(f"must be from 1 to {limit:,}; got {value:,}")
        return value

    return parse


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number; got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**63 - 1; got {value}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voweler-simulate",
        description="Simulate the Thompson-sampling bandit against known click-through rates: offline "
        "against uniform random allocation (the default), or against a running server (--url).",
        epilog="examples: voweler-simulate 0.02 0.012 0.03 | "
        "voweler-simulate --url http://127.0.0.1:9090 --reset red=0.02 green=0.012 blue=0.03",
    )
    parser.add_argument("arms", nargs="+", metavar="ARM", help="an arm's true CTR, as CTR or NAME=CTR (0 to 1)")
    parser.add_argument(
        "--impressions", type=_positive_int(MAX_IMPRESSIONS), default=DEFAULT_IMPRESSIONS,
        help=f"impressions (visitors) per run (default {DEFAULT_IMPRESSIONS})",
    )
    parser.add_argument(
        "--runs", type=_positive_int(MAX_SIMULATED), default=None,
        help=f"offline: independent runs to average (default {DEFAULT_RUNS})",
    )
    parser.add_argument("--seed", type=_seed, default=0, help="seed of every random draw (default 0)")
    parser.add_argument("--prior-ctr", type=_number, help="prior CTR of every arm, in (0, 1) (default 0.5)")
    parser.add_argument(
        "--prior-impressions", type=_number, help="weight of that prior in impressions, in (0, 1e9] (default 2)"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--url", help="drive the voweler server at this address instead, e.g. http://127.0.0.1:9090")
    parser.add_argument(
        "--concurrency", type=_positive_int(MAX_CONCURRENCY), default=None,
        help=f"with --url: client threads (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--reset", action="store_true", help="with --url: first reset the server's bandit to these arms and priors"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        arms = parse_arms(args.arms)
    except ValueError as error:
        parser.error(str(error))
    if args.prior_ctr is not None or args.prior_impressions is not None:
        ctr = DEFAULT_PRIOR_CTR if args.prior_ctr is None else args.prior_ctr
        weight = DEFAULT_PRIOR_IMPRESSIONS if args.prior_impressions is None else args.prior_impressions
        try:
            check_prior(ctr, weight)
        except ValueError as error:
            parser.error(str(error))
    if args.url is None:
        if args.concurrency is not None or args.reset:
            parser.error("--concurrency and --reset apply only with --url")
        runs = DEFAULT_RUNS if args.runs is None else args.runs
        if args.impressions * runs > MAX_SIMULATED:
            parser.error(f"--impressions x --runs must be at most {MAX_SIMULATED:,}; got {args.impressions * runs:,}")
        result = simulate(arms, args.impressions, runs, args.seed, args.prior_ctr, args.prior_impressions)
        print(json.dumps(result, indent=2) if args.json else format_offline(result))
        return 0

    if args.runs is not None:
        parser.error("--runs applies only offline (without --url)")
    if not args.url.startswith(("http://", "https://")):
        parser.error(f"--url must start with http:// or https://; got {args.url!r}")
    if (args.prior_ctr is not None or args.prior_impressions is not None) and not args.reset:
        parser.error("--prior-ctr and --prior-impressions are set when the server's bandit is reset: add --reset")
    try:
        result = drive(
            args.url, arms, args.impressions, args.concurrency or DEFAULT_CONCURRENCY, args.seed, args.reset,
            args.prior_ctr, args.prior_impressions, progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except SimulationError as error:
        print(f"voweler-simulate: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.json else format_http(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
