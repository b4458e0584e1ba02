"""The bandit simulated against a running voweler server, over HTTP (``voweler-simulate --url``).

Simulated visitors, from several threads: each asks the server which arm to show (``POST
/api/bandit/serve``), clicks with that arm's true CTR, and on a click sends the reward. At the end
the server's counts are checked against its counts before plus what this client saw.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import threading
import time
from typing import Callable

import numpy as np

from voweler_tools.client import Client, HttpError
from voweler_tools.simulation import DEFAULT_IMPRESSIONS, MAX_IMPRESSIONS, arm_specs

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 256
TIMEOUT = 10.0  # seconds per HTTP request


class SimulationError(Exception):
    """The simulation cannot run as asked (the message says why and what to do)."""


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
    client = Client(url, timeout)
    before, start_counts = _start(client, url, arms, reset, prior_ctr, prior_impressions)
    draws = np.random.default_rng(seed).random(impressions).tolist()  # visitor i clicks if draws[i] < CTR
    visitors = _Visitors(client, dict(arms), draws)
    seconds = visitors.run(concurrency, progress)
    try:
        after = client.get("/api/bandit")
    except HttpError as failure:
        raise SimulationError(f"the run finished but the bandit at {url} cannot be read: {failure}") from None
    counts, match = _compare(before, start_counts, after, visitors)
    answered, accepted = sum(visitors.served.values()), sum(visitors.accepted.values())
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
        "served": visitors.served,
        "clicks_sent": visitors.sent,
        "clicks_accepted": accepted,
        "failures": visitors.errors,
        "failure_samples": visitors.samples,
        "pids": sorted(p for p in visitors.pids if p is not None),
        "counts": counts,
        "counts_match": match,
        "test_changed": after.get("test") != before.get("test"),
        "expected_clicks_served": visitors.expected,
        "expected_clicks_uniform": answered * float(np.mean([c for _, c in arms])),
        "seconds": round(seconds, 3),
        "requests_per_second": round((answered + accepted) / seconds, 1) if seconds > 0 else None,
        "ok": not visitors.errors and match,
    }


def _start(client: Client, url: str, arms, reset: bool, prior_ctr, prior_impressions) -> tuple[dict, dict]:
    """The bandit document to start from (first reset to ``arms`` if asked), and its counts per
    arm; SimulationError unless its arms are ``arms``."""
    names = [name for name, _ in arms]
    try:
        if reset:
            before = client.post("/api/bandit/reset", {"arms": arm_specs(arms, prior_ctr, prior_impressions)})
        else:
            before = client.get("/api/bandit")
    except HttpError as failure:
        raise SimulationError(
            f"cannot {'reset' if reset else 'read'} the bandit at {url}: {_label(failure)}: {failure.message}"
        ) from None
    try:
        server_names = [arm["name"] for arm in before["arms"]]
        start_counts = {arm["name"]: (arm["impressions"], arm["clicks"]) for arm in before["arms"]}
    except (KeyError, TypeError) as error:
        raise SimulationError(f"unexpected answer from the bandit at {url} (no {error}): is it a voweler server?") from None
    if sorted(server_names) != sorted(names):
        raise SimulationError(
            f"the server's arms are {', '.join(server_names)}; these arms are {', '.join(names)}. "
            "Run again with --reset to reset the server's bandit to these arms (its counts start over), "
            f"or name the arms as the server does (e.g. {' '.join(f'{n}=0.02' for n in server_names[:3])})"
        )
    return before, start_counts


def _label(failure: HttpError) -> str:
    """How a failure is counted: its HTTP status, or "connection" when no JSON answer came."""
    return str(failure.status) if failure.status is not None and not failure.answer.ok else "connection"


class _Visitors:
    """The simulated visitors, from several threads; what they saw is counted under one lock."""

    def __init__(self, client: Client, truth: dict[str, float], draws: list[float]):
        self.client, self.truth, self.draws = client, truth, draws
        self.lock = threading.Lock()
        self.numbers = itertools.count()  # the next visitor
        self.served = dict.fromkeys(truth, 0)  # serves answered, per arm
        self.accepted = dict.fromkeys(truth, 0)  # clicks accepted, per arm
        self.expected = 0.0  # expected clicks of the arms served
        self.sent = 0  # clicks sent
        self.errors: dict[str, int] = {}  # failed requests by status
        self.samples: list[str] = []  # a few distinct examples
        self.pids: set[int] = set()

    def run(self, concurrency: int, progress: Callable[[str], None] | None) -> float:
        """Every visitor, from ``concurrency`` threads; the seconds it took."""
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [pool.submit(self.visit) for _ in range(concurrency)]
            while True:
                done, pending = concurrent.futures.wait(futures, timeout=1.0)
                if progress is not None:
                    progress(self.progress_line())
                if not pending:
                    break
            for future in futures:
                future.result()  # a bug in visit() should not pass silently
        return time.perf_counter() - started

    def progress_line(self) -> str:
        with self.lock:
            return (
                f"{sum(self.served.values()):,}/{len(self.draws):,} served, {self.sent:,} clicks, "
                f"{sum(self.errors.values())} failed, pids {' '.join(str(p) for p in sorted(self.pids))}"
            )

    def fail(self, what: str, status: str, message: str) -> None:
        with self.lock:
            self.errors[status] = self.errors.get(status, 0) + 1
            sample = f"{what}: {status}: {message}"
            if len(self.samples) < 5 and sample not in self.samples:
                self.samples.append(sample)

    def visit(self) -> None:
        """Visitors one after the other, until there are none left."""
        while True:
            with self.lock:
                i = next(self.numbers)
            if i >= len(self.draws):
                return
            try:
                answer = self.client.post("/api/bandit/serve")
            except HttpError as failure:
                self.fail("serve", _label(failure), failure.message)
                continue
            arm = answer.get("arm")
            if arm not in self.truth:
                self.fail("serve", "unknown arm", f"the server served {arm!r}, which is not one of these arms")
                continue
            click = self.draws[i] < self.truth[arm]
            with self.lock:
                self.served[arm] += 1
                self.expected += self.truth[arm]
                self.sent += click
                self.pids.add(answer.get("pid"))
            if click:
                try:
                    reward = self.client.post("/api/bandit/reward", {"ticket": answer["ticket"], "clicked": True})
                except HttpError as failure:
                    self.fail("reward", _label(failure), failure.message)
                    continue
                with self.lock:
                    self.accepted[arm] += 1
                    self.pids.add(reward.get("pid"))


def _compare(before: dict, start: dict, after: dict, visitors: _Visitors) -> tuple[dict, bool]:
    """Per arm, the server's final counts against its counts before (``start``) plus what the
    visitors saw; and whether all of them match, in the same test."""
    final = {arm["name"]: (arm["impressions"], arm["clicks"]) for arm in after.get("arms", [])}
    counts, match = {}, after.get("test") == before.get("test")
    for name in visitors.truth:
        imp0, clk0 = start[name]
        expected = (imp0 + visitors.served[name], clk0 + visitors.accepted[name])
        server = final.get(name)
        same = server == expected
        match = match and same
        counts[name] = {
            "expected_impressions": expected[0],
            "expected_clicks": expected[1],
            "server_impressions": None if server is None else server[0],
            "server_clicks": None if server is None else server[1],
            "match": same,
        }
    return counts, match


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
