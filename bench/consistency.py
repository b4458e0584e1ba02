"""Consistency of voweler under a mixed concurrent load, with workers killed, reloaded, restarted.

    python -m bench.consistency                                   # 20,000 operations, 4 workers, 16 clients
    python -m bench.consistency --kill-workers 2                  # SIGKILL a busy worker every 2 s
    python -m bench.consistency --reload 2 --restart              # two graceful reloads, one full restart
    python -m bench.consistency --rate 800 --operations 10000     # open loop: Poisson arrivals, 800/s
    python -m bench.consistency --url http://127.0.0.1:9090 --stats 127.0.0.1:9191 --kill-workers 5

(from the checkout, with its virtualenv's Python).

It starts ``uwsgi --ini uwsgi.ini`` on free ports (or targets a running deployment with
``--url``: it resets that deployment's perceptron and bandit, and must be its only client),
resets both models, and sends a mix of training, bandit serves, bandit rewards and reads from
concurrent clients, while the faults you ask for happen. Then it settles every reward whose
answer was lost (sending its ticket again: 200 says it had not counted, 409 that it had), reads
the final state from every worker, and checks:

  answers        every answer is complete JSON of the documented shape; no 5xx but 503; no
                 unexpected 4xx (no torn or half-written answer)
  lost-updates   every acknowledged letter, serve and click is counted
  versions       each model's versions are consecutive: every acknowledged write has its own,
                 and every version nobody was answered belongs to a distinct unacknowledged
                 request that was in flight when it was committed
  replay         learning the acknowledged training requests in version order from the initial
                 state, with each unanswered version filled by one unacknowledged request, gives
                 bit-identical weights at every acknowledged version, at every read and at the end
  bandit-counts  impressions = acknowledged serves + the unacknowledged serves the versions say
                 were committed; clicks = tickets redeemed with a click, exactly, per arm
  reads          every read shows a committed state at least as new as any version answered
                 before it was sent, and that state is the replayed one (bandit: counts bounded)
  workers-agree  at the end every worker reports the same perceptron and bandit
  faults         every fault asked for happened, and the deployment came back after each

A request refused, cut or answered 503 is not an error: it is counted as unacknowledged, and
the client goes on with a new request (a training request is never sent twice: it could apply
twice). It ends with PASS or FAIL on stdout, exit code 0 (PASS), 1 (FAIL) or 2 (usage error, or
the deployment could not be started or reached); ``--json PATH`` writes every figure.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import platform
import queue
import random
import shlex
import stat
import sys
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from voweler.models.perceptron import ALPHABET
from voweler.uwsgi_stats import live_workers, read_stats
from voweler_tools.checks import (
    BanditRead, Findings, ModelState, PerceptronRead, Redeemed, Serve, Train, Unacked, Window, bandit_document_problems,
    check_bandit, check_perceptron, disagreements, error_problems, every_worker, perceptron_document_problems,
    shape_problems, REWARD_KEYS, SERVE_KEYS,
)  # fmt: skip
from voweler_tools.client import ANSWERED, REFUSED, TIMEOUT, Answer, Client, HttpError
from voweler_tools.deployment import Deployment, Instance

KINDS = ("train", "serve", "reward", "read")
DEFAULT_MIX = "train=4,serve=3,reward=2,read=1"
ARMS = [
    {"name": "red", "prior_ctr": 0.05, "prior_impressions": 20},
    {"name": "green", "prior_ctr": 0.05, "prior_impressions": 20},
    {"name": "blue"},
]
CLICK_PROBABILITY = 0.5  # of a reward: the others are "clicked": false, which use the ticket up too
LONGEST_BATCH = 6  # letters per training request: 1 to this many
LATE = 0.1  # seconds: an open-loop arrival that starts later than this waited for a free client
CHECKS = {
    "answers": "every answer parses, has its shape; no 5xx but 503, no unexpected 4xx (no torn read)",
    "lost-updates": "every acknowledged letter, serve and click is counted",
    "versions": "versions consecutive: each acknowledged once, every other one an unacknowledged request's",
    "replay": "the perceptron replayed in version order is bit-identical at every answer and at the end",
    "bandit-counts": "impressions and clicks per arm exactly what was acknowledged and committed",
    "reads": "reads are never older than an earlier answer, and show the replayed state",
    "workers-agree": "every worker reports the same perceptron and bandit at the end",
    "faults": "every fault asked for happened, and the deployment came back",
}
SAMPLE = 20  # problems kept per check in the report and the JSON


class SetupError(Exception):
    """The bench could not run at all (exit code 2)."""


# -- the deployment under test ------------------------------------------------------------------


def is_fifo(path) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


@contextmanager
def open_target(args):
    if args.url:
        if args.workers is None:  # ask its stats server how many workers it runs
            try:
                args.workers = len(live_workers(read_stats(args.stats, timeout=5))) if args.stats else 4
            except (OSError, KeyError) as error:
                raise SetupError(f"could not read the stats server at {args.stats}: {error}") from None
        target = Instance(args.url, args.stats, args.fifo, args.workers)
        try:
            target.wait_ready(10)
        except RuntimeError as error:
            raise SetupError(str(error)) from None
        yield target
        return
    env = {"VOWELER_STATE": args.state} if args.state else {}
    # the log is kept until the verdict: main() removes it on PASS
    deployment = Deployment(processes=args.workers, args=tuple(shlex.split(args.uwsgi_args)), env=env, keep_log=True)
    say(args, f"starting uWSGI with {args.workers} workers (log: {deployment.log_path})")
    try:
        try:
            deployment.start()
        except (RuntimeError, OSError) as error:
            raise SetupError(f"uWSGI did not start: {error}") from None
        yield deployment
    finally:
        deployment.__exit__(None, None, None)  # stops uWSGI, removes its data directory


def say(args, line: str) -> None:
    if not args.quiet:
        print(line, file=sys.stderr, flush=True)


# -- the load -----------------------------------------------------------------------------------


@dataclass
class KindFigures:
    sent: int = 0
    acked: int = 0
    unacked: Counter = field(default_factory=Counter)  # by reason
    latencies: list = field(default_factory=list)  # seconds, acknowledged requests


@dataclass
class Pending:
    """A reward whose outcome is unknown: its ticket is sent again when the load is over."""

    ticket: str
    arm: str
    clicked: bool
    attempts: list = field(default_factory=list)  # (maybe applied, lowest version, failed at, sent at)


class Load:
    """Sends the operations and records every answer; thread-safe."""

    def __init__(self, args, http: Client, arms: set[str]):
        self.args, self.http, self.arms = args, http, arms
        self.kinds = [k for k in KINDS if args.mix.get(k)]
        self.weights = [args.mix[k] for k in self.kinds]
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.started = 0  # operations begun
        self.finished = 0
        self.acked = 0
        self.unacked = 0
        self.figures = {kind: KindFigures() for kind in KINDS}
        self.floor = {"perceptron": 0, "bandit": 0}  # the highest version answered so far
        self.timeline = {"perceptron": [], "bandit": []}  # (sent, highest version an earlier failure can have)
        self.trains: list[Train] = []
        self.failed_trains: list[tuple] = []  # (letters, lowest, failed at, timeout)
        self.serves: list[Serve] = []
        self.failed_serves: list[tuple] = []  # (lowest, failed at, timeout)
        self.tickets: deque = deque()  # (ticket, arm) of acknowledged serves, not yet rewarded
        self.redeemed: list[Redeemed] = []
        self.pending: list[Pending] = []
        self.perceptron_reads: list[PerceptronRead] = []
        self.bandit_reads: list[BanditRead] = []
        self.anomalies: list[str] = []
        self.anomaly_count = 0
        self.pids: set[int] = set()
        self.arrivals = {"arrivals": 0, "dropped": 0, "late": 0, "delays": []}  # open loop
        self.gate = lambda: math.inf  # closed loop: begin no operation past this count (see Faults.gate)

    # -- bookkeeping ------------------------------------------------------------------------

    def anomaly(self, what: str, answer: Answer, problems: list[str] | None = None) -> None:
        detail = "; ".join(problems or []) or answer.problem
        body = answer.body if isinstance(answer.body, dict) else {}
        line = f"{what}: HTTP {answer.status} {body.get('error', '')} {body.get('message', '')} {detail}".strip()
        with self.lock:
            self.anomaly_count += 1
            if len(self.anomalies) < 200:
                self.anomalies.append(" ".join(line.split())[:300])

    def answered(self, model: str, version: int, answer: Answer, write: bool) -> None:
        with self.lock:
            if version > self.floor[model]:
                self.floor[model] = version
        # a request sent after another one failed sees that one's version, if it was committed:
        # a write sent later commits above it, a read sent later shows it
        self.timeline[model].append((answer.sent, version - 1 if write else version))
        if isinstance(answer.body, dict) and isinstance(answer.body.get("pid"), int):
            self.pids.add(answer.body["pid"])

    def classify(self, kind: str, answer: Answer, problems) -> tuple[bool, bool]:
        """(acknowledged, may have been applied) for an answer; records figures and anomalies.
        ``problems``: what is wrong with a 200 body (a function)."""
        figures = self.figures[kind]
        if answer.outcome != ANSWERED:
            reason, applied = answer.outcome, answer.outcome != REFUSED
        elif answer.status == 200:
            found = [answer.problem] if answer.body is None else problems(answer.body)
            if not found:
                figures.latencies.append(answer.done - answer.sent)
                with self.lock:
                    figures.acked += 1
                    self.acked += 1
                return True, True
            self.anomaly(f"{kind} answered 200", answer, found)
            reason, applied = "malformed", True
        elif answer.status == 503:
            found = [answer.problem] if answer.body is None else error_problems(answer.body, 503)
            if found:
                self.anomaly(f"{kind} answered 503", answer, found)
            reason, applied = "503", True  # "try again"; on Redis, a lost reply may have applied
        elif answer.status >= 500:
            self.anomaly(f"{kind} answered {answer.status}", answer)
            reason, applied = "5xx", True
        else:
            if kind != "reward":  # the reward path judges its own refusals
                self.anomaly(f"{kind} answered {answer.status}", answer)
            reason, applied = f"{answer.status}", False  # a 4xx changes nothing
        with self.lock:
            figures.unacked[reason] += 1
            self.unacked += 1
        return False, applied

    # -- operations -------------------------------------------------------------------------

    def operate(self, kind: str, rng: random.Random, client: dict) -> bool:
        """Send one operation; True if it was acknowledged."""
        if kind == "reward":
            try:
                ticket, arm = self.tickets.popleft()
            except IndexError:
                kind = "serve"  # no ticket to redeem yet
        with self.lock:
            self.figures[kind].sent += 1
        try:
            if kind == "train":
                return self.train(rng)
            if kind == "serve":
                return self.serve()
            if kind == "reward":
                return self.reward(ticket, arm, rng.random() < CLICK_PROBABILITY)
            client["reads"] = client.get("reads", 0) + 1
            return self.read_bandit() if client["reads"] % 2 == 0 else self.read_perceptron()
        finally:
            with self.lock:
                self.finished += 1

    def train(self, rng: random.Random) -> bool:
        letters = "".join(rng.choices(ALPHABET, k=rng.randint(1, LONGEST_BATCH)))
        lowest = self.floor["perceptron"] + 1
        answer = self.http.call("POST", "/api/perceptron/train", {"letters": letters})
        acked, applied = self.classify("train", answer, perceptron_document_problems)
        if acked:
            body = answer.body
            self.answered("perceptron", body["version"], answer, write=True)
            self.trains.append(Train(letters, body["version"], body["updates"], body["pid"], ModelState.of_document(body)))
        elif applied:
            self.failed_trains.append((letters, lowest, answer.done, answer.outcome == TIMEOUT))
        return acked

    def serve(self) -> bool:
        lowest = self.floor["bandit"] + 1
        answer = self.http.call("POST", "/api/bandit/serve", {})
        acked, applied = self.classify("serve", answer, self._serve_problems)
        if acked:
            body = answer.body
            self.answered("bandit", body["version"], answer, write=True)
            self.serves.append(Serve(body["arm"], body["version"]))
            self.tickets.append((body["ticket"], body["arm"]))
        elif applied:
            self.failed_serves.append((lowest, answer.done, answer.outcome == TIMEOUT))
        return acked

    def _serve_problems(self, body) -> list[str]:
        found = shape_problems(body, SERVE_KEYS, "serve answer")
        if not found and body["arm"] not in self.arms:
            found.append(f"serve answer: arm {body['arm']!r} is not one of {sorted(self.arms)}")
        return found

    def reward(self, ticket: str, arm: str, clicked: bool, pending: Pending | None = None) -> bool:
        lowest = self.floor["bandit"] + 1
        answer = self.http.call("POST", "/api/bandit/reward", {"ticket": ticket, "clicked": clicked})
        acked, applied = self.classify("reward", answer, lambda body: shape_problems(body, REWARD_KEYS, "reward answer"))
        if acked:
            body = answer.body
            if body["clicked"] is not clicked:
                self.anomaly("reward answered 200", answer, [f"clicked {body['clicked']} for a reward sent clicked {clicked}"])
            self.answered("bandit", body["version"], answer, write=True)
            self.redeemed.append(Redeemed(arm, clicked, body["version"], answered_arm=body["arm"]))
            return True
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.outcome == ANSWERED and answer.status == 409 and body.get("error") == "ticket_redeemed":
            tries = pending.attempts if pending else []
            maybe = [a for a in tries if a[0]]
            if maybe:  # an earlier try was applied though its answer was lost
                highest = max(self.highest("bandit", a[2]) for a in maybe)
                self.redeemed.append(Redeemed(arm, clicked, None, min(a[1] for a in maybe), highest))
                return True
            self.anomaly(
                "reward answered 409", answer, ["the ticket was redeemed, but no earlier reward for it can have been applied"]
            )
            return False
        if answer.outcome == ANSWERED and 400 <= answer.status < 500:
            self.anomaly(f"reward answered {answer.status}", answer)
            return False
        if pending is None:
            pending = Pending(ticket, arm, clicked)
            self.pending.append(pending)
        pending.attempts.append((applied, lowest, answer.done, answer.outcome == TIMEOUT))
        return False

    def read_perceptron(self) -> bool:
        floor = self.floor["perceptron"]
        answer = self.http.call("GET", "/api/perceptron")
        acked, _ = self.classify("read", answer, perceptron_document_problems)
        if acked:
            body = answer.body
            self.answered("perceptron", body["version"], answer, write=False)
            self.perceptron_reads.append(PerceptronRead(body["version"], floor, ModelState.of_document(body)))
        return acked

    def read_bandit(self) -> bool:
        floor = self.floor["bandit"]
        answer = self.http.call("GET", "/api/bandit")
        acked, _ = self.classify("read", answer, bandit_document_problems)
        if acked:
            body = answer.body
            self.answered("bandit", body["version"], answer, write=False)
            arms = {arm["name"]: (arm["impressions"], arm["clicks"]) for arm in body["arms"]}
            self.bandit_reads.append(BanditRead(body["version"], floor, arms))
        return acked

    # -- windows of unacknowledged requests -------------------------------------------------

    def freeze_timelines(self) -> None:
        """Index each model's (sent, bound) pairs for ``highest``: suffix minima by send time."""
        self._index = {}
        for model, pairs in self.timeline.items():
            pairs = sorted(pairs)
            suffix, low = [0] * len(pairs), math.inf
            for i in range(len(pairs) - 1, -1, -1):
                low = min(low, pairs[i][1])
                suffix[i] = low
            self._index[model] = ([p[0] for p in pairs], suffix)

    def highest(self, model: str, failed_at: float, timeout: bool = False) -> float:
        """The highest version a request that failed at ``failed_at`` can have committed."""
        if timeout:
            return math.inf  # it may still have been waiting in the server's queue
        times, suffix = self._index[model]
        i = bisect.bisect_left(times, failed_at)
        return suffix[i] if i < len(suffix) else math.inf

    # -- closed and open loop ---------------------------------------------------------------

    def closed_loop(self) -> None:
        threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(self.args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _client(self, index: int) -> None:
        rng, client, failures = random.Random(f"{self.args.seed}:{index}"), {}, 0
        while not self.stop.is_set():
            with self.lock:
                if self.started >= self.args.operations:
                    return
                if self.started >= self.gate():  # a staged fault is due but still waits for the one before
                    blocked = True
                else:
                    blocked = False
                    self.started += 1
            if blocked:
                time.sleep(0.01)
                continue
            kind = rng.choices(self.kinds, self.weights)[0]
            if self.operate(kind, rng, client):
                failures = 0
            else:  # the server may be down: back off a little, then go on with a new request
                failures += 1
                time.sleep(min(0.5, 0.01 * 2 ** min(failures, 6)))

    def open_loop(self) -> None:
        """Poisson arrivals at ``--rate``: exponential gaps from a seeded generator, each arrival
        handed to a pool of ``--clients`` threads, so a slow server never slows the arrivals."""
        jobs: queue.Queue = queue.Queue()
        threads = [threading.Thread(target=self._worker, args=(jobs,), daemon=True) for _ in range(self.args.clients)]
        for thread in threads:
            thread.start()
        rng = random.Random(self.args.seed)
        due = time.monotonic()
        for _ in range(self.args.operations):
            if self.stop.is_set():
                break
            due += rng.expovariate(self.args.rate)
            kind, op_seed = rng.choices(self.kinds, self.weights)[0], rng.getrandbits(64)
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.arrivals["arrivals"] += 1
            if jobs.qsize() >= self.args.backlog:
                self.arrivals["dropped"] += 1
                continue
            jobs.put((kind, due, op_seed))
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join()

    def _worker(self, jobs: queue.Queue) -> None:
        client = {}
        while (job := jobs.get()) is not None:
            kind, due, op_seed = job
            delay = time.monotonic() - due
            self.arrivals["delays"].append(max(0.0, delay))
            if delay > LATE:
                self.arrivals["late"] += 1
            with self.lock:
                self.started += 1
            self.operate(kind, random.Random(op_seed), client)


# -- faults -------------------------------------------------------------------------------------


class Faults:
    """One thread injects every fault, one at a time: a worker SIGKILLed every ``--kill-workers``
    seconds, and the reloads and restarts spread evenly over the operations."""

    def __init__(self, args, target, load: Load):
        self.args, self.target, self.load = args, target, load
        self.rng = random.Random(f"{args.seed}:faults")
        self.kills: list[dict] = []
        self.reloads: list[dict] = []
        self.restarts: list[dict] = []
        self.errors: list[str] = []
        self.busy = ""  # what is being done right now, for the progress line
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        staged, reloads, restarts = [], args.reload, args.restart
        while reloads or restarts:  # alternate them: reload, restart, reload, ...
            if reloads:
                staged.append("reload")
                reloads -= 1
            if restarts:
                staged.append("restart")
                restarts -= 1
        # the i-th of n staged faults happens when (i + 1) / (n + 1) of the operations have begun
        self.staged = [(args.operations * (i + 1) / (len(staged) + 1), kind) for i, kind in enumerate(staged)]
        self.begun = 0  # staged faults begun
        self.slack = max(1.0, args.operations / (len(staged) + 1) / 2)

    def gate(self) -> float:
        """How many operations the closed loop may begin: a staged fault that is due while the one
        before it still runs (a slow restart) must still happen under load, so the load waits a
        little past its point for it, rather than running out first."""
        if self.begun >= len(self.staged) or not self.thread.is_alive():
            return math.inf
        return self.staged[self.begun][0] + self.slack

    def start(self) -> None:
        self.began = time.monotonic()
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as error:  # noqa: BLE001 - reported as a faults problem
            self.errors.append(f"the fault thread stopped: {type(error).__name__}: {error}")

    def _loop(self) -> None:
        period = self.args.kill_workers
        next_kill = self.began + period if period else math.inf
        staged = list(self.staged)
        while not self.done.is_set():
            if staged and self.load.started >= staged[0][0]:
                _, kind = staged.pop(0)
                self.begun += 1
                self._staged(kind)
                continue
            if time.monotonic() >= next_kill:
                self._kill()
                next_kill = max(next_kill + period, time.monotonic() + period / 2)
                continue
            self.done.wait(0.01)

    def _staged(self, kind: str) -> None:
        began = time.monotonic()
        record = {"at_s": round(began - self.began, 3), "operations_begun": self.load.started}
        self.busy = kind
        try:
            if kind == "reload":
                record["command"] = self.args.reload_command
                fifo = self.target.fifo
                if not is_fifo(fifo):
                    raise RuntimeError(f"no master FIFO at {fifo} (uwsgi.ini needs master-fifo)")
                self.target.reload(self.args.reload_command)
            else:  # stop, then start on the same ports and data directory (Deployment.restart), timed apart
                self.target.stop()
                record["stop_s"] = round(time.monotonic() - began, 3)
                self.target.start()
            record["ok"] = True
        except Exception as error:  # noqa: BLE001 - a fault that failed is reported, not raised
            record["ok"] = False
            record["error"] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            self.errors.append(f"{kind} at {record['at_s']} s: {record['error']}")
        finally:
            self.busy = ""
        record["took_s"] = round(time.monotonic() - began, 3)
        (self.reloads if kind == "reload" else self.restarts).append(record)

    def _kill(self) -> None:
        """SIGKILL a worker, one busy with a request if uWSGI reports one (so the kill cuts it off)."""
        try:
            killed = self.target.kill_worker(self.rng, spare={k["pid"] for k in self.kills})
        except PermissionError as error:
            self.errors.append(f"cannot kill a worker: {error}")
            return
        if killed is not None:
            victim, busy = killed
            self.kills.append({"at_s": round(time.monotonic() - self.began, 3), "pid": victim, "busy": busy})


# -- progress -----------------------------------------------------------------------------------


def progress(args, load: Load, faults: Faults, began: float, stop: threading.Event) -> None:
    last_done, last_time = 0, began
    while not stop.wait(args.progress):
        now = time.monotonic()
        done = load.finished
        rate = (done - last_done) / max(now - last_time, 1e-9)
        last_done, last_time = done, now
        parts = [
            f"[{now - began:6.1f}s] {done:,}/{args.operations:,} ops",
            f"{rate:,.0f}/s",
            f"acked {load.acked:,}",
            f"unacked {load.unacked:,}",
        ]
        if args.kill_workers:
            parts.append(f"kills {len(faults.kills)}")
        if args.reload:
            parts.append(f"reloads {len(faults.reloads)}/{args.reload}")
        if args.restart:
            parts.append(f"restarts {len(faults.restarts)}/{args.restart}")
        if args.rate:
            parts.append(f"late {load.arrivals['late']:,} dropped {load.arrivals['dropped']:,}")
        if load.anomaly_count:
            parts.append(f"BAD ANSWERS {load.anomaly_count:,}")
        if faults.busy:
            parts.append(f"({faults.busy} in progress)")
        print("  ".join(parts), file=sys.stderr, flush=True)


# -- one run ------------------------------------------------------------------------------------


def reset_models(http: Client, dim: int, seed: int) -> tuple[dict, dict]:
    p = http.call("POST", "/api/perceptron/reset", {"dim": dim, "seed": seed, "learning_rate": 0.1})
    b = http.call("POST", "/api/bandit/reset", {"arms": ARMS})
    for what, answer, shape in (("perceptron", p, perceptron_document_problems), ("bandit", b, bandit_document_problems)):
        if answer.status != 200 or answer.body is None or shape(answer.body):
            raise SetupError(
                f"could not reset the {what}: {answer.outcome} {answer.status} {answer.problem or str(answer.body)[:200]}"
            )
    return p.body, b.body


def fetch(http: Client, path: str, shape, tries: int = 50) -> dict:
    for _ in range(tries):
        answer = http.call("GET", path)
        if answer.status == 200 and answer.body is not None and not shape(answer.body):
            return answer.body
        time.sleep(0.2)
    raise SetupError(f"GET {path} did not answer a well-formed 200: {answer.outcome} {answer.status} {answer.problem}")


def settle_rewards(load: Load, deadline: float) -> list[str]:
    """Send the ticket of every reward whose answer was lost again, until each one is settled."""
    unsettled = []
    for pending in load.pending:
        while True:
            with load.lock:
                load.figures["reward"].sent += 1
            before = len(pending.attempts)
            if load.reward(pending.ticket, pending.arm, pending.clicked, pending) or len(pending.attempts) == before:
                break  # acknowledged, found redeemed, or refused for good (an anomaly)
            if time.monotonic() > deadline:
                unsettled.append(pending.ticket)
                break
            time.sleep(0.2)
    return unsettled


@dataclass
class Collected:
    """Everything a run saw, for the checks (which run after uWSGI has been stopped)."""

    load: Load
    faults: Faults
    url: str
    initial: tuple
    final: tuple | None = None  # (perceptron, bandit) documents at the end
    agree: list = field(default_factory=list)  # workers-agree problems
    trouble: list = field(default_factory=list)  # faults problems found while settling
    unsettled: list = field(default_factory=list)
    live_pids: set = field(default_factory=set)
    durations: dict = field(default_factory=dict)


def run(args, target) -> Collected:
    """Reset, load with faults, settle, and read the end state from every worker."""
    http = Client(target.url, args.timeout)
    setup_began = time.monotonic()
    initial_p, initial_b = reset_models(http, args.dim, args.seed)
    load = Load(args, http, {arm["name"] for arm in initial_b["arms"]})
    load.floor = {"perceptron": initial_p["version"], "bandit": initial_b["version"]}
    faults = Faults(args, target, load)
    load.gate = faults.gate
    seen = Collected(load, faults, http.url, (initial_p, initial_b))
    mode = f"open loop at {args.rate:g}/s, {args.clients} clients" if args.rate else f"closed loop, {args.clients} clients"
    say(args, f"{args.operations:,} operations ({args.mix_text}), {mode}, {fault_text(args)}, against {target.url}")

    began = time.monotonic()
    stop_progress = threading.Event()
    if not args.quiet:
        threading.Thread(target=progress, args=(args, load, faults, began, stop_progress), daemon=True).start()
    faults.start()
    try:
        load.open_loop() if args.rate else load.closed_loop()
    finally:
        load.stop.set()
        faults.stop()
        stop_progress.set()
    load_s = time.monotonic() - began
    say(args, f"load done in {load_s:.1f} s: {load.acked:,} acknowledged, {load.unacked:,} unacknowledged; settling")

    settle_began = time.monotonic()
    try:
        target.wait_replaced({k["pid"] for k in faults.kills}, 90)
    except RuntimeError as error:
        seen.trouble.append(f"the deployment did not come back after the load: {str(error).splitlines()[0]}")
    load.freeze_timelines()
    seen.unsettled = settle_rewards(load, time.monotonic() + 60)
    load.freeze_timelines()  # the settling rewards bound the windows too
    try:
        seen.final = (
            fetch(http, "/api/perceptron", perceptron_document_problems),
            fetch(http, "/api/bandit", bandit_document_problems),
        )
        workers_p = every_worker(http.url, args.workers, path="/api/perceptron")
        workers_b = every_worker(http.url, args.workers, path="/api/bandit")
        seen.agree += disagreements(workers_p, args.workers, "workers (perceptron)")
        seen.agree += disagreements(workers_b, args.workers, "workers (bandit)")
        for what, documents, final in (("perceptron", workers_p, seen.final[0]), ("bandit", workers_b, seen.final[1])):
            if {d["version"] for d in documents.values()} != {final["version"]}:
                seen.agree.append(
                    f"the workers' {what} versions {sorted(d['version'] for d in documents.values())} are not the final {final['version']}"
                )
    except SetupError as error:
        seen.trouble.append(str(error))
    except (HttpError, KeyError) as error:
        seen.agree.append(f"could not read every worker: {type(error).__name__}: {error}")
    if not args.url or args.stats:
        seen.live_pids = set(target.worker_pids())
    seen.durations = {"setup": began - setup_began, "load": load_s, "settle": time.monotonic() - settle_began}
    return seen


def evaluate(args, seen: Collected) -> Findings:
    load, faults = seen.load, seen.faults
    findings = Findings()
    if seen.final is None:
        for name in ("lost-updates", "versions", "replay", "bandit-counts", "reads"):
            findings.fail(name, "not checked: the deployment did not answer the final state")
    else:
        (initial_p, initial_b), (final_p, final_b) = seen.initial, seen.final
        trains = [
            Unacked(letters, lowest, load.highest("perceptron", failed_at, timeout))
            for letters, lowest, failed_at, timeout in load.failed_trains
        ]
        check_perceptron(initial_p, load.trains, final_p, trains, load.perceptron_reads, findings)
        serves = [Window(lowest, load.highest("bandit", failed_at, timeout)) for lowest, failed_at, timeout in load.failed_serves]
        check_bandit(initial_b, load.serves, load.redeemed, final_b, serves, load.bandit_reads, findings)
        findings.note(
            "workers-agree", workers=args.workers, perceptron_version=final_p["version"], bandit_version=final_b["version"]
        )
    if load.anomaly_count:
        findings.fail("answers", f"{load.anomaly_count:,} answers were torn, malformed or unexpected; first: {load.anomalies[0]}")
        for line in load.anomalies[1:SAMPLE]:
            findings.fail("answers", line)
    findings.note("answers", **answer_figures(load))
    for ticket in seen.unsettled:
        findings.fail(
            "bandit-counts", f"a reward whose answer was lost could not be settled within 60 s (ticket {ticket[:12]}...)"
        )
    for line in seen.agree:
        findings.fail("workers-agree", line)
    for line in seen.trouble:
        findings.fail("faults", line)
    check_faults(args, faults, seen.live_pids, findings)
    return findings


def check_faults(args, faults: Faults, live_pids: set, findings: Findings) -> None:
    for error in faults.errors:
        findings.fail("faults", error)
    killed = [k["pid"] for k in faults.kills]
    if args.kill_workers and not killed:
        findings.fail("faults", f"no worker was killed: the load was over within {args.kill_workers:g} s (make it longer)")
    if killed and live_pids:
        alive = sorted(set(killed) & live_pids)
        if alive:
            findings.fail("faults", f"killed workers are still listed as live: {alive}")
        if len(live_pids) != args.workers:
            findings.fail("faults", f"{len(live_pids)} of {args.workers} workers are live after the load")
    for kind, asked, done in (("reloads", args.reload, faults.reloads), ("restarts", args.restart, faults.restarts)):
        if len(done) != asked:
            findings.fail(
                "faults",
                f"{len(done)} of {asked} {kind} happened while loading: the load ended first (give it more --operations)",
            )
    findings.note(
        "faults",
        kills=len(killed),
        kills_of_busy_workers=sum(k["busy"] for k in faults.kills),
        reloads=len(faults.reloads),
        restarts=len(faults.restarts),
        reload_s=[r["took_s"] for r in faults.reloads],
        restart_s=[r["took_s"] for r in faults.restarts],
        restart_stop_s=[r.get("stop_s") for r in faults.restarts],
    )


def answer_figures(load: Load) -> dict:
    reasons = Counter()
    for figures in load.figures.values():
        reasons.update(figures.unacked)
    return {
        "operations": load.finished,
        "acknowledged": load.acked,
        "unacknowledged": load.unacked,
        "unacknowledged_by_reason": dict(sorted(reasons.items())),
        "bad_answers": load.anomaly_count,
        "worker_pids_seen": len(load.pids),
        "rewards_settled_after_load": len(load.pending),
    }


def percentiles(samples: list[float]) -> dict:
    """p50, p99 and max in milliseconds (nearest rank)."""
    if not samples:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000, 2)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(ordered[-1] * 1000, 2)}


# -- the report ---------------------------------------------------------------------------------


def summary(name: str, n: dict) -> str:
    """One line of figures for a check."""
    try:
        if name == "answers":
            reasons = ", ".join(f"{k} {v:,}" for k, v in n["unacknowledged_by_reason"].items()) or "none"
            return (
                f"{n['acknowledged']:,} answers complete and well-formed, {n['bad_answers']:,} bad; "
                f"{n['unacknowledged']:,} unacknowledged ({reasons}); {n['worker_pids_seen']} worker pids answered"
            )
        if name == "lost-updates":
            return (
                f"perceptron {n['perceptron_letters_acknowledged']:,} letters acknowledged, {n['perceptron_letters_counted']:,} counted; "
                f"bandit {n['bandit_serves_acknowledged']:,} serves acknowledged, {n['bandit_impressions']:,} impressions, "
                f"{n['bandit_clicks_redeemed']:,} clicks redeemed, {n['bandit_clicks']:,} counted"
            )
        if name == "versions":
            return (
                f"perceptron {n['perceptron_versions']:,} versions: {n['perceptron_acknowledged']:,} acknowledged, "
                f"{n['perceptron_gaps']} never answered (of {n['perceptron_unacknowledged']} unacknowledged requests); "
                f"bandit {n['bandit_versions']:,}: {n['bandit_acknowledged']:,} acknowledged, {n['bandit_gaps']} never answered "
                f"({n['bandit_rewards_settled_redeemed']} lost rewards found redeemed, the rest of "
                f"{n['bandit_unacknowledged_serves']} unacknowledged serves)"
            )
        if name == "replay":
            if "perceptron_replayed_versions" not in n:
                return "not replayed"
            return (
                f"{n['perceptron_replayed_versions']:,} versions replayed bit-identically, {n['perceptron_gaps_filled']} of them "
                f"by unacknowledged requests that were applied ({plural(n['perceptron_letters_filled'], 'letter')})"
            )
        if name == "bandit-counts":
            return (
                f"impressions {n['impressions']:,} = {n['serves_acknowledged']:,} acknowledged + {n['serves_committed_unacknowledged']} "
                f"unacknowledged serves; clicks {n['clicks']:,} = {n['clicks_redeemed']:,} of {n['rewards_redeemed']:,} tickets redeemed"
            )
        if name == "reads":
            return (
                f"{n['perceptron_reads']:,} perceptron reads ({n.get('perceptron_reads_replayed', 0):,} compared with the replay), "
                f"{n['bandit_reads']:,} bandit reads"
            )
        if name == "workers-agree":
            return (
                f"{n['workers']} workers: perceptron version {n['perceptron_version']:,}, bandit version {n['bandit_version']:,}"
            )
        if name == "faults":
            parts = [
                f"{plural(n['kills'], 'worker')} killed ({n['kills_of_busy_workers']} busy)",
                plural(n["reloads"], "reload"),
                plural(n["restarts"], "restart"),
            ]
            if n["reload_s"]:
                parts.append("reloads took " + ", ".join(f"{t:.1f}" for t in n["reload_s"]) + " s")
            if n["restart_s"]:
                parts.append(
                    "restarts took "
                    + ", ".join(
                        f"{t:.1f}" + (f" (stop {stop:.1f})" if stop is not None else "")
                        for t, stop in zip(n["restart_s"], n["restart_stop_s"], strict=True)
                    )
                    + " s"
                )
            return ", ".join(parts)
    except (KeyError, TypeError):
        pass
    return "not measured"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def fault_text(args) -> str:
    parts = []
    if args.kill_workers:
        parts.append(f"a worker killed every {args.kill_workers:g} s")
    if args.reload:
        parts.append(f"{args.reload} reload{'s' if args.reload > 1 else ''} ({args.reload_command})")
    if args.restart:
        parts.append(f"{args.restart} restart{'s' if args.restart > 1 else ''}")
    return ", ".join(parts) or "no faults"


def results(args, seen: Collected, findings: Findings) -> dict:
    load = seen.load
    checks = {}
    for name, description in CHECKS.items():
        problems = findings.problems.get(name, [])
        numbers = dict(findings.numbers.get(name, {}))
        checks[name] = {
            "ok": not problems,
            "description": description,
            "summary": summary(name, numbers),
            "figures": numbers,
            "problem_count": len(problems),
            "problems": problems[:SAMPLE],
        }
    verdict = "PASS" if all(c["ok"] for c in checks.values()) else "FAIL"
    by_kind = {
        kind: {
            "sent": f.sent,
            "acknowledged": f.acked,
            "unacknowledged": dict(sorted(f.unacked.items())),
            "latency_ms": percentiles(f.latencies),
        }
        for kind, f in load.figures.items()
    }
    final = None
    if seen.final:
        p, b = seen.final
        final = {
            "perceptron": {"version": p["version"], "updates": p["updates"], "accuracy": p["accuracy"]},
            "bandit": {"version": b["version"], "impressions": b["impressions"], "clicks": b["clicks"]},
        }
    initial_p, initial_b = seen.initial
    return {
        "bench": "consistency",
        "verdict": verdict,
        "exit_code": 0 if verdict == "PASS" else 1,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"host": platform.node(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "parameters": {
            "operations": args.operations,
            "workers": args.workers,
            "clients": args.clients,
            "loop": "open" if args.rate else "closed",
            "rate": args.rate,
            "backlog": args.backlog if args.rate else None,
            "mix": args.mix,
            "seed": args.seed,
            "dim": args.dim,
            "timeout_s": args.timeout,
            "kill_workers_s": args.kill_workers,
            "reload": args.reload,
            "reload_command": args.reload_command,
            "restart": args.restart,
            "url": args.url,
            "state": args.state,
            "uwsgi_args": args.uwsgi_args or None,
        },
        "target": seen.url,
        "durations_s": {k: round(v, 3) for k, v in seen.durations.items()},
        "operations": {
            "begun": load.started,
            "finished": load.finished,
            "acknowledged": load.acked,
            "unacknowledged": load.unacked,
            "per_second": round(load.finished / seen.durations["load"], 1) if seen.durations.get("load") else None,
            "by_kind": by_kind,
            "rewards_settled_after_load": len(load.pending),
        },
        "open_loop": None
        if not args.rate
        else {
            "arrivals": load.arrivals["arrivals"],
            "dropped": load.arrivals["dropped"],
            "late": load.arrivals["late"],
            "late_after_s": LATE,
            "start_delay_ms": percentiles(load.arrivals["delays"]),
        },
        "faults": {
            "kills": seen.faults.kills,
            "reloads": seen.faults.reloads,
            "restarts": seen.faults.restarts,
            "errors": seen.faults.errors,
        },
        "initial": {"perceptron_version": initial_p["version"], "bandit_version": initial_b["version"]},
        "final": final,
        "checks": checks,
    }


def report(result: dict) -> str:
    p, ops = result["parameters"], result["operations"]
    loop = f"open loop at {p['rate']:g}/s" if p["rate"] else "closed loop"
    lines = [
        f"voweler consistency bench against {result['target']}",
        f"  {ops['finished']:,} operations in {result['durations_s']['load']:.1f} s ({ops['per_second'] or 0:,.0f}/s), {loop}, "
        f"{p['clients']} clients, {p['workers']} workers, seed {p['seed']}",
        "  "
        + ", ".join(f"{kind} {f['sent']:,}" for kind, f in ops["by_kind"].items())
        + f"; acknowledged {ops['acknowledged']:,}, unacknowledged {ops['unacknowledged']:,}"
        + (
            f"; {ops['rewards_settled_after_load']:,} lost rewards sent again after the load"
            if ops["rewards_settled_after_load"]
            else ""
        ),
        "  latency ms p50/p99: "
        + ", ".join(
            f"{kind} {f['latency_ms']['p50']}/{f['latency_ms']['p99']}" for kind, f in ops["by_kind"].items() if f["acknowledged"]
        ),
    ]
    if result["open_loop"]:
        o = result["open_loop"]
        lines.append(
            f"  arrivals {o['arrivals']:,}: {o['late']:,} started over {o['late_after_s'] * 1000:g} ms late, {o['dropped']:,} dropped "
            f"(start delay p50/p99 {o['start_delay_ms']['p50']}/{o['start_delay_ms']['p99']} ms)"
        )
    faults = result["faults"]
    lines.append(
        f"  faults: {plural(len(faults['kills']), 'worker')} killed, {plural(len(faults['reloads']), 'reload')}, "
        f"{plural(len(faults['restarts']), 'restart')}"
    )
    lines.append("")
    for name, check in result["checks"].items():
        lines.append(f"  {'PASS' if check['ok'] else 'FAIL'}  {name:<14} {check['summary']}")
        for problem in check["problems"][:5]:
            lines.append(f"          - {problem}")
        if check["problem_count"] > 5:
            lines.append(f"          ... {check['problem_count'] - 5} more in the JSON results")
    lines += ["", result["verdict"]]
    return "\n".join(lines)


# -- command line -------------------------------------------------------------------------------


def parse_mix(text: str) -> dict:
    """``train=4,serve=3,reward=2,read=1`` -> weights; kinds left out weigh 0."""
    mix = dict.fromkeys(KINDS, 0)
    for part in text.split(","):
        name, equals, weight = part.partition("=")
        name = name.strip()
        if name not in mix or not equals:
            raise argparse.ArgumentTypeError(f"{part!r}: expected KIND=WEIGHT with KIND one of {', '.join(KINDS)}")
        try:
            mix[name] = int(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: the weight must be a whole number") from None
        if mix[name] < 0:
            raise argparse.ArgumentTypeError(f"{part!r}: the weight must not be negative")
    if not sum(mix.values()):
        raise argparse.ArgumentTypeError("the mix must give some kind a weight above 0")
    return mix


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.consistency",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load = parser.add_argument_group("load")
    load.add_argument(
        "--operations", type=int, default=20_000, metavar="N", help="operations to send in all (default %(default)s)"
    )
    load.add_argument(
        "--mix",
        type=parse_mix,
        default=parse_mix(DEFAULT_MIX),
        metavar="SPEC",
        help=f"relative weights of the operations (default {DEFAULT_MIX}): train = POST /api/perceptron/train with 1-{LONGEST_BATCH} "
        "random letters; serve = POST /api/bandit/serve; reward = POST /api/bandit/reward with the ticket of an earlier "
        f"acknowledged serve, clicked with probability {CLICK_PROBABILITY} (a serve when no ticket is left); read = GET "
        "/api/perceptron and GET /api/bandit in turn",
    )
    load.add_argument(
        "--clients",
        type=int,
        default=16,
        metavar="N",
        help="concurrent clients: closed loop, each sends its next request when the last one is answered; "
        "open loop, the threads that send the arrivals (default %(default)s)",
    )
    load.add_argument(
        "--rate",
        type=float,
        metavar="R",
        help="open loop instead: R requests per second on average, with Poisson arrivals (exponential gaps from the seed), whatever the server's speed",
    )
    load.add_argument(
        "--backlog",
        type=int,
        default=1000,
        metavar="N",
        help="open loop: arrivals waiting for a free client beyond this many are dropped and counted (default %(default)s)",
    )
    load.add_argument(
        "--seed", type=int, default=1, help="seeds the mix, the letters, the arrivals and the perceptron (default %(default)s)"
    )
    load.add_argument("--dim", type=int, default=16, help="the perceptron's dimension after its reset (default %(default)s)")
    load.add_argument(
        "--timeout",
        type=float,
        default=60,
        metavar="S",
        help="seconds to wait for an answer; a request that times out is unacknowledged (default %(default)s)",
    )
    faults = parser.add_argument_group("faults while loading (they can be combined)")
    faults.add_argument(
        "--kill-workers",
        type=float,
        metavar="K",
        help="SIGKILL a worker every K seconds; one busy with a request when uWSGI's stats show one",
    )
    faults.add_argument(
        "--reload",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="N",
        help="N graceful reloads through the master FIFO, spread evenly over the operations (default 1 when given)",
    )
    faults.add_argument(
        "--reload-command",
        choices=("r", "w", "c"),
        default="r",
        help="what a reload writes to the FIFO: r reloads the whole instance (the master re-executes itself: the harshest), "
        "w the workers, c a chain reload (default %(default)s)",
    )
    faults.add_argument(
        "--restart",
        type=int,
        nargs="?",
        const=1,
        default=0,
        metavar="N",
        help="N times, stop uWSGI (SIGTERM) and start it again on the same ports and data directory (default 1 when given)",
    )
    target = parser.add_argument_group("deployment (default: start uwsgi --ini uwsgi.ini on free ports)")
    target.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="worker processes to start (default 4), or that the --url deployment runs (default: as many as its --stats server lists, else 4)",
    )
    target.add_argument("--state", metavar="URL", help="VOWELER_STATE for the deployment started here (redis://host:port/db)")
    target.add_argument(
        "--uwsgi-args",
        default="",
        metavar="ARGS",
        help="more uWSGI options for the deployment started here, one shell-quoted string "
        '(e.g. "--pythonpath tests/uwsgi_apps --module unsafe:app")',
    )
    target.add_argument(
        "--url", help="target this running deployment instead (it resets its models; nothing else may use them meanwhile)"
    )
    target.add_argument(
        "--stats", metavar="HOST:PORT", help="with --url: its uWSGI stats server, to find the workers (needed by --kill-workers)"
    )
    target.add_argument("--fifo", metavar="PATH", help="with --url: its master FIFO (needed by --reload)")
    output = parser.add_argument_group("output")
    output.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    output.add_argument(
        "--progress", type=float, default=1.0, metavar="S", help="seconds between progress lines on stderr (default %(default)s)"
    )
    output.add_argument("--quiet", action="store_true", help="no progress on stderr: only the report")
    output.add_argument(
        "--keep-log",
        action="store_true",
        help="keep uWSGI's log of the deployment started here even when the run passes (it is always kept on FAIL)",
    )
    return parser


def validate(parser: argparse.ArgumentParser, args) -> None:
    if args.workers is None and not args.url:
        args.workers = 4
    for name in ("operations", "clients", "workers", "backlog"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("rate", "kill_workers"):
        value = getattr(args, name)
        if value is not None and not (value > 0 and math.isfinite(value)):
            parser.error(
                f"--{name.replace('_', '-')} must be a positive number of {'requests per second' if name == 'rate' else 'seconds'}"
            )
    if args.reload < 0 or args.restart < 0:
        parser.error("--reload and --restart take a count of at least 1")
    if not (args.timeout > 0 and args.progress > 0):
        parser.error("--timeout and --progress must be positive")
    if args.url:
        if args.restart:
            parser.error(
                "--restart stops and starts uWSGI, which the bench can do only to a deployment it started itself; "
                "leave out --url, or restart your deployment yourself while the bench runs without --restart"
            )
        if args.kill_workers and not args.stats:
            parser.error(
                "--kill-workers with --url needs --stats HOST:PORT (the deployment's uWSGI stats server) to find the workers"
            )
        if args.reload and not args.fifo:
            parser.error("--reload with --url needs --fifo PATH (the deployment's master FIFO)")
        if args.reload and not is_fifo(args.fifo):
            parser.error(f"--fifo {args.fifo}: not a FIFO (uWSGI's master-fifo option creates it)")
        if args.state or args.uwsgi_args:
            parser.error("--state and --uwsgi-args configure the deployment the bench starts; with --url it starts none")
        try:
            Client(args.url, 1)
        except ValueError as error:
            parser.error(str(error))
    elif args.stats or args.fifo:
        parser.error("--stats and --fifo describe a deployment given by --url")
    args.mix_text = ",".join(f"{k}={v}" for k, v in args.mix.items() if v)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    validate(parser, args)
    log_path = None
    try:
        with open_target(args) as target:
            log_path = getattr(target, "log_path", None)
            seen = run(args, target)
    except SetupError as error:
        print(f"consistency: {error}", file=sys.stderr)
        return 2
    checks_began = time.monotonic()
    findings = evaluate(args, seen)
    seen.durations["checks"] = time.monotonic() - checks_began
    result = results(args, seen, findings)
    print(report(result), flush=True)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        say(args, f"results written to {path}")
    if log_path is not None:
        if result["verdict"] == "PASS" and not args.keep_log:
            Path(log_path).unlink(missing_ok=True)
        else:
            print(f"uWSGI's log: {log_path}", file=sys.stderr)
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
