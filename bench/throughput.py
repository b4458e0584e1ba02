"""Throughput and latency of voweler's endpoints, as ratios to GET /api/health in the same run,
beside a naive baseline.

    python -m bench.throughput                      # 2 workers; voweler and the naive baseline
    python -m bench.throughput --workers 1 2 4 --rounds 3 --duration 4 \\
        --json bench/results/throughput-sharedarea.json --chart bench/results/throughput.png
    python -m bench.throughput --workers 1 2 4 --state redis://127.0.0.1:6379/0 --no-naive
    python -m bench.throughput --url http://127.0.0.1:9090 --dims   # a running deployment (it trains it!); no dims runs

(from the checkout, with its virtualenv's Python).

Load: wrk (``apt-get install wrk``) when it is on the PATH, else a Python load generator
(``--load wrk|python|auto``). Both keep 16 connections busy (``--connections``) from 2 threads
or processes (``--threads``), and report requests/s and p50/p90/p99 latency. Compare ratios,
not absolute figures: this machine is shared and noisy, so requests per second drift from run
to run, and each ratio divides two figures measured minutes apart at most, by the same
generator. Within one generator the ratios are comparable; across generators less so (the
Python one is slower and caps health's figure sooner).

Each round measures every endpoint one after the other and divides by the health figure of
the same round (latency too: ``p50_ratio``, ``p99_ratio``); the report gives the median over
rounds, and the JSON every round. After each run that changes a model (train, serve, reward),
the model's own counter (perceptron updates, bandit impressions, bandit clicks) is checked
against what the generator says was acknowledged, so a fast but lossy server cannot pass
unnoticed; training runs also record every version answered, and count versions answered twice.

Rewards need a fresh ticket each: the bench keeps the tickets of the timed serve run, serves
more (untimed) until it has enough for the reward run, and hands each connection its own share.

The naive baseline (``bench/naive/``) is the original design, for comparison; it loses updates
by design: the perceptron as JSON in a SharedArea, read, updated and written back with no lock
or transaction. It runs beside voweler, round by round, with the same worker count, on the
same endpoints (health, GET perceptron, train; it has no bandit), and its lost updates are
counted the same way.

``--dims`` measures training as the perceptron's dimension grows (2 to 4096): state bytes as
stored (voweler's binary frame, the baseline's JSON) and train throughput and latency, for
``--dims-workers`` workers (default 4). ``--dims`` with no values skips it.

``--json`` writes every figure, with the commit, date, machine and generator; ``--chart``
draws them (bench/chart.py; needs matplotlib: ``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from bench import names as names_bench
from bench.naive import json_state
from voweler.models import Perceptron
from voweler.state.frame import Frame, encode_state
from voweler_tools.client import Client
from voweler_tools.deployment import REPO, UWSGI_INI, Deployment, uwsgi_binary

BENCH = REPO / "bench"

LETTERS = "aeiou"  # one fixed batch: the update check needs to know how many letters each request adds
DIMS = [2, 16, 128, 512, 1024, 4096]
HEALTH, READ, TRAIN = "GET /api/health", "GET /api/perceptron", "POST /api/perceptron/train"
# names: unseeded (each request draws anew), and the talk's completion on the largest shipped corpus
GENERATE = "GET /api/names/markov2/pypi/generate?n=10"
COMPLETE = "GET /api/names/markov3/pypi/complete?q=***base&n=10"  # the same request: a kept completion
SAMPLE = "GET /api/names/markov3/pypi/complete?q=***base&n=10&mode=sample"  # a new seed each: computed every time


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    body: str | None = None  # a fixed POST body
    counter: tuple[str, str] | None = None  # (GET path, JSON key) of the counter each request adds to
    adds: int = 1
    tickets: bool = False  # each request redeems a fresh ticket
    capture: str | None = None  # record from each answer: "version" (to find versions answered twice) or "ticket"


ENDPOINTS = {
    HEALTH: Endpoint("GET", "/api/health"),
    READ: Endpoint("GET", "/api/perceptron"),
    TRAIN: Endpoint(
        "POST", "/api/perceptron/train", json.dumps({"letters": LETTERS}), ("/api/perceptron", "updates"), len(LETTERS), capture="version"
    ),
    "GET /api/bandit": Endpoint("GET", "/api/bandit"),
    "POST /api/bandit/serve": Endpoint("POST", "/api/bandit/serve", "{}", ("/api/bandit", "impressions"), capture="ticket"),
    "POST /api/bandit/reward": Endpoint("POST", "/api/bandit/reward", None, ("/api/bandit", "clicks"), tickets=True),
    GENERATE: Endpoint("GET", "/api/names/markov2/pypi/generate?n=10"),
    COMPLETE: Endpoint("GET", "/api/names/markov3/pypi/complete?q=***base&n=10"),
    SAMPLE: Endpoint("GET", "/api/names/markov3/pypi/complete?q=***base&n=10&mode=sample"),
}


@dataclass(frozen=True)
class Target:
    """A deployment the bench measures: voweler itself, or the naive baseline."""

    name: str
    label: str
    endpoints: tuple[str, ...]
    ini: Path | None = None  # None: the project's uwsgi.ini

    def state_bytes(self, dim: int) -> int:
        """Bytes this target stores for a perceptron of ``dim`` trained as the bench trains it.

        Encoded by the target's own code, for a model that has learned ``LETTERS`` in 300
        requests, so that its history is full (256 points), as after any long run: the size of a
        served state depends on how many requests a short run managed.
        """
        model = _trained(dim)
        if self.name == "naive":
            return len(json_state.dumps(1 + 300, model))
        return Frame.build(1 + 300, encode_state(model.to_state())).size


@functools.lru_cache(maxsize=None)
def _trained(dim: int) -> Perceptron:
    model = Perceptron(dim, seed=0)
    for _ in range(300):
        model.learn_many(LETTERS)
    return model


TARGETS = {
    "voweler": Target(
        "voweler",
        "voweler: one transaction per change, framed binary state in SharedAreas",
        tuple(ENDPOINTS),
    ),
    "naive": Target(
        "naive",
        "naive baseline: the original design, for comparison; loses updates by design "
        "(JSON state in a SharedArea, read then update then write, no lock, no transaction)",
        (HEALTH, READ, TRAIN),
        BENCH / "naive" / "uwsgi.ini",
    ),
}

CAPTURE = {  # what a run can record from each answer: the first match of a pattern
    "version": ('"version":(%d+)', re.compile(rb'"version":(\d+)')),
    "ticket": ('"ticket":"([^"]+)"', re.compile(rb'"ticket":"([^"]+)"')),
}


# -- load generators --------------------------------------------------------------------------
#
# Both answer run(url, method, path, body, duration, tickets, capture) with the same fields:
# rps, requests (answers received), non2xx, socket_errors, errors, p50/p90/p99/max_ms, and
# "seen" (the captured values, one per 2xx answer) when capture is given.

# wrk: one Lua script per run. Every thread keeps what it captured; done() prints the figures as
# one JSON line (exact percentiles, not the rounded text report) and writes the captures out.
_WRK_COMMON = """
local threads = {}
function setup(thread) table.insert(threads, thread); thread:set("id", #threads) end
seen = {}
"""
_WRK_POST = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = %s
"""
_WRK_CAPTURE = """
function response(status, headers, body)
  if status >= 200 and status < 300 then seen[#seen + 1] = body:match(%s) end
end
"""
# Redeem tickets from a file, each thread its own share, each ticket once.
_WRK_REWARD = """
function init(args)
  tickets, n = {}, 0
  for line in io.lines(args[1]) do
    n = n + 1
    if n % tonumber(args[2]) == id - 1 then tickets[#tickets + 1] = line end
  end
  next_ticket = 1
end
function request()
  local ticket = tickets[next_ticket] or "exhausted"
  next_ticket = next_ticket + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
                    '{"ticket":"' .. ticket .. '","clicked":true}')
end
"""
_WRK_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\n{"wrk": {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "connect": %%d, '
    .. '"read": %%d, "write": %%d, "timeout": %%d, "p50_us": %%.1f, "p90_us": %%.1f, "p99_us": %%.1f, "max_us": %%.1f}}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  local out = io.open(%s, "w")
  for _, thread in ipairs(threads) do
    for _, value in ipairs(thread:get("seen")) do out:write(value, "\\n") end
  end
  out:close()
end
"""


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a valid Lua string literal


class Wrk:
    name = "wrk"

    def __init__(self, threads: int, connections: int):
        self.threads, self.connections = threads, connections

    @staticmethod
    def version() -> str:
        output = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
        return output.splitlines()[0].split(" Copyright")[0] if output else "wrk"

    def run(self, url, method, path, body, duration, tickets=None, capture=None) -> dict:
        with tempfile.TemporaryDirectory(prefix="voweler-bench-") as folder:
            seen_path = Path(folder) / "seen"
            script = _WRK_COMMON
            script_args: list[str] = []
            if tickets is not None:
                (Path(folder) / "tickets").write_text("".join(t + "\n" for t in tickets))
                script += _WRK_REWARD
                script_args = [str(Path(folder) / "tickets"), str(self.threads)]
            elif method == "POST":
                script += _WRK_POST % _lua_string(body or "")
            if capture:
                script += _WRK_CAPTURE % _lua_string(CAPTURE[capture][0])
            script += _WRK_DONE % _lua_string(str(seen_path))
            (Path(folder) / "run.lua").write_text(script)
            command = ["wrk", f"-t{self.threads}", f"-c{self.connections}", f"-d{duration}s", "-s", str(Path(folder) / "run.lua"), url + path]
            done = subprocess.run([*command, *(["--", *script_args] if script_args else [])], capture_output=True, text=True, check=True)
            if done.stderr.strip():  # a Lua error: wrk goes on without the script
                raise RuntimeError(f"wrk: {done.stderr.strip()}")
            output = done.stdout
            seen = seen_path.read_text().split() if capture else None
        return parse_wrk(output, seen)


def parse_wrk(output: str, seen: list[str] | None = None) -> dict:
    """The figures from the JSON line that the bench's done() adds to wrk's report.

    wrk counts a "read" socket error each time the server closes a connection after answering,
    which uWSGI's http-socket does after every response: those are not errors.

    >>> line = ('{"wrk": {"requests": 2000, "duration_us": 2000000, "non2xx": 3, "connect": 0, "read": 1990, '
    ...         '"write": 0, "timeout": 1, "p50_us": 1030.0, "p90_us": 5000.0, "p99_us": 12500.0, "max_us": 20000.0}}')
    >>> parse_wrk(line)  # doctest: +NORMALIZE_WHITESPACE
    {'rps': 1000.0, 'requests': 2000, 'p50_ms': 1.03, 'p90_ms': 5.0, 'p99_ms': 12.5, 'max_ms': 20.0, 'non2xx': 3,
     'socket_errors': {'connect': 0, 'read': 1990, 'write': 0, 'timeout': 1}, 'errors': 4}
    """
    line = next((line for line in output.splitlines() if line.startswith('{"wrk":')), None)
    if line is None:
        raise RuntimeError(f"wrk's report has no figures from the bench's script:\n{output}")
    w = json.loads(line)["wrk"]
    sockets = {key: w[key] for key in ("connect", "read", "write", "timeout")}
    result = {
        "rps": w["requests"] / (w["duration_us"] / 1e6),
        "requests": w["requests"],
        **{f"p{p}_ms": w[f"p{p}_us"] / 1e3 for p in (50, 90, 99)},
        "max_ms": w["max_us"] / 1e3,
        "non2xx": w["non2xx"],
        "socket_errors": sockets,
        "errors": w["non2xx"] + sockets["connect"] + sockets["write"] + sockets["timeout"],
    }
    if seen is not None:
        result["seen"] = seen
    return result


class PythonLoad:
    """A load generator in Python, for machines without wrk: ``threads`` processes of
    ``connections / threads`` threads each, one new connection per request (uWSGI's
    http-socket closes every connection after its answer anyway). Latency is counted from the
    connect to the last byte of the answer (wrk starts counting after the connect)."""

    name = "python"

    def __init__(self, threads: int, connections: int):
        self.threads, self.connections = max(1, threads), connections

    @staticmethod
    def version() -> str:
        return f"bench/throughput.py's Python load generator (Python {platform.python_version()})"

    def run(self, url, method, path, body, duration, tickets=None, capture=None) -> dict:
        address = urllib.parse.urlsplit(url)
        host, port = address.hostname, address.port or 80

        def request(payload: str | None) -> bytes:
            data = (payload or "").encode()
            head = f"{method} {path} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n"
            if method == "POST":
                head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            return (head + "\r\n").encode() + data

        plans: list[list[bytes]] = []  # per connection: the requests it sends in turn (the last repeats)
        for index in range(self.connections):
            if tickets is None:
                plans.append([request(body)])
            else:
                mine = tickets[index :: self.connections]
                plans.append([request(json.dumps({"ticket": t, "clicked": True})) for t in mine] + [request('{"ticket":"exhausted","clicked":true}')])
        context = multiprocessing.get_context("fork")
        start = time.time() + 0.2
        pipes, processes = [], []
        for number in range(self.threads):
            receive, send = context.Pipe(duplex=False)
            share = plans[number :: self.threads]
            process = context.Process(target=_python_process, args=(send, host, port, share, start, duration, capture))
            process.start()
            pipes.append(receive)
            processes.append(process)
        parts = [pipe.recv() for pipe in pipes]
        for process in processes:
            process.join()
        latencies = np.concatenate([np.frombuffer(p["latencies"], dtype=np.float64) for p in parts] or [np.zeros(0)])
        elapsed = max(p["end"] for p in parts) - start
        received = int(sum(p["requests"] for p in parts))
        percentiles = np.percentile(latencies, [50, 90, 99]) * 1e3 if latencies.size else [float("nan")] * 3
        non2xx = sum(p["non2xx"] for p in parts)
        failed = sum(p["socket_errors"] for p in parts)
        result = {
            "rps": received / elapsed,
            "requests": received,
            "p50_ms": float(percentiles[0]),
            "p90_ms": float(percentiles[1]),
            "p99_ms": float(percentiles[2]),
            "max_ms": float(latencies.max() * 1e3) if latencies.size else float("nan"),
            "non2xx": non2xx,
            "socket_errors": {"connect": 0, "read": failed, "write": 0, "timeout": 0},
            "errors": non2xx + failed,
        }
        if capture:
            result["seen"] = [value for p in parts for value in p["seen"]]
        return result


def _python_process(pipe, host, port, plans, start, duration, capture) -> None:
    pattern = CAPTURE[capture][1] if capture else None
    totals = {"requests": 0, "non2xx": 0, "socket_errors": 0}
    latencies: list[float] = []
    seen: list[str] = []
    lock = threading.Lock()

    def connection(plan: list[bytes]) -> None:
        mine_latencies, mine_seen, counts = [], [], {"requests": 0, "non2xx": 0, "socket_errors": 0}
        deadline = start + duration
        time.sleep(max(0.0, start - time.time()))
        sent = 0
        while time.time() < deadline:
            payload = plan[min(sent, len(plan) - 1)]
            sent += 1
            began = time.perf_counter()
            try:
                with socket.create_connection((host, port), timeout=30) as sock:
                    sock.sendall(payload)
                    chunks = []
                    while chunk := sock.recv(65536):
                        chunks.append(chunk)
            except OSError:
                counts["socket_errors"] += 1
                continue
            answer = b"".join(chunks)
            if not answer.startswith(b"HTTP/"):
                counts["socket_errors"] += 1
                continue
            mine_latencies.append(time.perf_counter() - began)
            counts["requests"] += 1
            status = int(answer[9:12])
            if not 200 <= status < 300:
                counts["non2xx"] += 1
            elif pattern is not None:
                found = pattern.search(answer, answer.find(b"\r\n\r\n"))
                if found:
                    mine_seen.append(found.group(1).decode())
        with lock:
            latencies.extend(mine_latencies)
            seen.extend(mine_seen)
            for key, value in counts.items():
                totals[key] += value

    workers = [threading.Thread(target=connection, args=(plan,)) for plan in plans]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    pipe.send({**totals, "latencies": np.array(latencies, dtype=np.float64).tobytes(), "seen": seen, "end": time.time()})
    pipe.close()


def load_generator(choice: str, threads: int, connections: int):
    if choice == "auto":
        choice = "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (or use --load python)")
    return (Wrk if choice == "wrk" else PythonLoad)(threads, connections)


# -- counting what was lost -------------------------------------------------------------------


def count_updates(acknowledged: int, added: int, in_flight: int) -> dict:
    """Compare what the clients were told with what the model's counter gained.

    ``acknowledged``: units (letters, impressions, clicks) in the answers received;
    ``added``: how much the counter grew; ``in_flight``: units that may have been committed
    without an answer arriving (one request per connection was cut off when the run stopped).

    >>> count_updates(acknowledged=100, added=100, in_flight=80)
    {'acknowledged': 100, 'updates_lost': 0, 'updates_unexplained': 0}
    >>> count_updates(acknowledged=100, added=58, in_flight=80)   # a lossy server
    {'acknowledged': 100, 'updates_lost': 42, 'updates_unexplained': 0}
    >>> count_updates(acknowledged=100, added=190, in_flight=80)  # more than anyone could have sent
    {'acknowledged': 100, 'updates_lost': 0, 'updates_unexplained': 10}
    """
    return {
        "acknowledged": acknowledged,
        "updates_lost": max(0, acknowledged - added),
        "updates_unexplained": max(0, added - acknowledged - in_flight),
    }


def answered_twice(versions: list) -> int:
    """How many answers named a version that another answer had named already.

    With transactions every commit has its own version; two workers that read the same version
    and both write it overwrite each other.

    >>> answered_twice([5, 6, 7, 8]), answered_twice(["5", "6", "6", "6", "7"])
    (0, 2)
    """
    return len(versions) - len(set(versions))


# -- measuring --------------------------------------------------------------------------------


def get_json(base: str, path: str) -> dict:
    """The JSON of a GET; voweler_tools.client.HttpError for anything but a 2xx answer."""
    return Client(base, timeout=30).get(path)


def post_json(base: str, path: str, body: dict) -> dict:
    return Client(base, timeout=30).post(path, body)


def collect_tickets(load, base: str, needed: int, duration: float, got: list[str]) -> list[str]:
    """Serve (untimed) until there are at least ``needed`` tickets, counting those ``got`` already."""
    got = list(got)
    for _attempt in range(20):  # each run adds what it served; a busy machine needs more runs
        if len(got) >= needed:
            return got
        got += load.run(base, "POST", "/api/bandit/serve", "{}", duration, capture="ticket")["seen"]
    sys.exit(f"could not collect {needed:,} tickets to redeem (got {len(got):,})")


def measure_endpoint(load, base: str, name: str, duration: float, tickets: list[str] | None = None) -> dict:
    """One timed run of one endpoint, with the counter check when it changes a model."""
    endpoint = ENDPOINTS[name]
    before = get_json(base, endpoint.counter[0])[endpoint.counter[1]] if endpoint.counter else 0
    result = load.run(base, endpoint.method, endpoint.path, endpoint.body, duration, tickets=tickets, capture=endpoint.capture)
    if endpoint.counter:
        added = get_json(base, endpoint.counter[0])[endpoint.counter[1]] - before
        acknowledged = (result["requests"] - result["non2xx"]) * endpoint.adds
        result.update(count_updates(acknowledged, added, in_flight=load.connections * endpoint.adds))
        settle(base, endpoint.counter)
    if endpoint.capture == "version":
        result["answered_twice"] = answered_twice(result.pop("seen"))
    elif endpoint.capture == "ticket":
        result["tickets"] = result.pop("seen")  # for the reward run; not a figure
    return result


def settle(base: str, counter: tuple[str, str], quiet: float = 0.3, timeout: float = 30) -> None:
    """Wait until the requests still in flight when the load stopped have finished.

    Until then, a late write of the naive baseline could overwrite whatever comes next (a
    reset, say) with a state read before it.
    """
    path, key = counter
    last, deadline = get_json(base, path)[key], time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = get_json(base, path)[key]
        if now == last:
            return
        last = now


def reset_perceptron(base: str, dim: int) -> None:
    post_json(base, "/api/perceptron/reset", {"dim": dim, "seed": 0})
    served = get_json(base, "/api/perceptron")["dim"]
    if served != dim:  # a write from before the reset landed after it
        raise RuntimeError(f"{base}: reset to dim {dim}, but the perceptron has dim {served}")


def with_ratios(figures: dict, health: dict) -> dict:
    """Each figure of a round divided by health's in the same round."""
    for result in figures.values():
        result["ratio"] = result["rps"] / health["rps"]
        result["p50_ratio"] = result["p50_ms"] / health["p50_ms"]
        result["p99_ratio"] = result["p99_ms"] / health["p99_ms"]
    return figures


def throughput_round(load, base: str, target: Target, args) -> dict:
    figures, served = {}, []
    for name in target.endpoints:
        tickets = None
        if ENDPOINTS[name].tickets:
            # Enough for a reward run 1.5 times as fast as the fastest endpoint so far, on a machine
            # whose speed varies from run to run; a connection that runs out gets 400s, counted as errors.
            needed = int(1.5 * max(r["rps"] for r in figures.values()) * args.duration) + 500
            tickets = collect_tickets(load, base, needed, args.duration, served)
        figures[name] = measure_endpoint(load, base, name, args.duration, tickets)
        served += figures[name].pop("tickets", [])
    return with_ratios(figures, figures[HEALTH])


def dims_round(load, base: str, target: Target, args) -> dict:
    health = measure_endpoint(load, base, HEALTH, args.duration)
    figures = {}
    for dim in args.dims:
        reset_perceptron(base, dim)
        figures[str(dim)] = measure_endpoint(load, base, TRAIN, args.duration)
        figures[str(dim)]["state_bytes"] = target.state_bytes(dim)
        if (served := get_json(base, "/api/perceptron")["dim"]) != dim:
            raise RuntimeError(f"{target.name}: trained at dim {dim}, but the perceptron has dim {served}")
    with_ratios({"health": health, **figures}, health)
    return {"health": health, "train": figures}


def summary(rounds: list[dict]) -> dict:
    """Medians over rounds of one measurement, totals of what went wrong, and every round."""
    median = lambda key: statistics.median(r[key] for r in rounds)  # noqa: E731
    counted = "updates_lost" in rounds[0]
    result = {
        "ratio": median("ratio"),
        "ratio_range": [min(r["ratio"] for r in rounds), max(r["ratio"] for r in rounds)],
        "rps": median("rps"),
        "p50_ms": median("p50_ms"),
        "p90_ms": median("p90_ms"),
        "p99_ms": median("p99_ms"),
        "p50_ratio": median("p50_ratio"),
        "p99_ratio": median("p99_ratio"),
        "errors": sum(r["errors"] for r in rounds),
        "acknowledged": sum(r["acknowledged"] for r in rounds) if counted else None,
        "updates_lost": sum(r["updates_lost"] for r in rounds) if counted else None,
        "updates_unexplained": sum(r["updates_unexplained"] for r in rounds) if counted else None,
        "answered_twice": sum(r["answered_twice"] for r in rounds) if "answered_twice" in rounds[0] else None,
    }
    if "state_bytes" in rounds[0]:
        result["state_bytes"] = rounds[-1]["state_bytes"]
    result["lost_fraction"] = result["updates_lost"] / result["acknowledged"] if counted and result["acknowledged"] else None
    result["rounds"] = rounds
    return result


# -- the run ----------------------------------------------------------------------------------


def about(load) -> dict:
    """What the figures were measured on: commit, date, machine, generator, server."""

    def output(*command: str) -> str | None:
        try:
            return subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE) if Path("/proc/cpuinfo").exists() else None
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": output("git", "rev-parse", "HEAD"),
        "commit_described": output("git", "describe", "--always", "--dirty"),  # "-dirty": uncommitted changes in the tree
        "machine": {
            "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "cpu": cpu.group(1).strip() if cpu else platform.processor() or platform.machine(),
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(),
            "loadavg_before": list(os.getloadavg()),
        },
        "uwsgi": output(uwsgi_binary(), "--version"),
        "load": {"generator": load.name, "version": load.version(), "threads": load.threads, "connections": load.connections},
    }


def run(args, load) -> dict:
    targets = [TARGETS["voweler"]] + ([] if args.no_naive or args.url else [TARGETS["naive"]])
    document = {
        "format": 2,
        "about": about(load),
        "settings": {
            key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()
        },
        "targets": {t.name: t.label for t in targets},
        "throughput": {t.name: {} for t in targets},
        "dims": {"workers": "running" if args.url else args.dims_workers, "dims": args.dims, **{t.name: {} for t in targets}}
        if args.dims
        else None,
    }
    counts = ["running"] if args.url else sorted(set(args.workers) | ({args.dims_workers} if args.dims else set()))
    for workers in counts:
        with ExitStack() as stack:
            bases, stack_servers = {}, {}
            for target in targets:
                if args.url:
                    bases[target.name] = args.url.rstrip("/")
                    continue
                env = {"VOWELER_STATE": args.state} if args.state and target.name == "voweler" else None
                server = stack.enter_context(Deployment(processes=workers, env=env, ini=target.ini or UWSGI_INI))
                bases[target.name], stack_servers[target.name] = server.url, server
            if not args.url and "names" not in document:  # once: build times, and memory per worker
                document["names"] = names_bench.figures(bases["voweler"], stack_servers["voweler"].worker_pids())
            for target in targets:
                reset_perceptron(bases[target.name], args.dim)
                if "GET /api/bandit" in target.endpoints:
                    post_json(bases[target.name], "/api/bandit/reset", {"arms": [{"name": n} for n in ("red", "green", "blue")]})
            if args.url or workers in args.workers:
                rounds = {t.name: [] for t in targets}
                for number in range(1, args.rounds + 1):
                    for target in targets:  # side by side: each round measures every target
                        figures = throughput_round(load, bases[target.name], target, args)
                        rounds[target.name].append(figures)
                        print(f"{workers} workers, round {number}/{args.rounds}, {target.name}: "
                              + ", ".join(f"{n} {r['rps']:,.0f}/s" for n, r in figures.items()), flush=True)
                for target in targets:
                    document["throughput"][target.name][str(workers)] = {
                        name: summary([r[name] for r in rounds[target.name]]) for name in target.endpoints
                    }
            if args.dims and (args.url or workers == args.dims_workers):
                rounds = {t.name: [] for t in targets}
                for number in range(1, args.rounds + 1):
                    for target in targets:
                        figures = dims_round(load, bases[target.name], target, args)
                        rounds[target.name].append(figures)
                        print(f"dims, {workers} workers, round {number}/{args.rounds}, {target.name}: "
                              + ", ".join(f"{d} {r['rps']:,.0f}/s" for d, r in figures["train"].items()), flush=True)
                for target in targets:
                    document["dims"][target.name] = {
                        "health": summary([r["health"] for r in rounds[target.name]]),
                        **{str(dim): summary([r["train"][str(dim)] for r in rounds[target.name]]) for dim in args.dims},
                    }
    document["about"]["machine"]["loadavg_after"] = list(os.getloadavg())
    return document


# -- the report -------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _workers(key) -> str:
    key = str(key)
    return key if not key.isdigit() else f"{key} worker" + ("" if key == "1" else "s")


def tables(document: dict) -> str:
    """The results as Markdown tables (what the README shows)."""
    about, settings = document["about"], document["settings"]
    lines = [
        f"Ratios to `GET /api/health` in the same round, medians of {settings['rounds']} round"
        f"{'s' * (settings['rounds'] != 1)} of {settings['duration']} s; in brackets p50 / p99 latency in ms on this machine "
        f"({about['machine']['nproc']} cores, {about['machine']['cpu']}; "
        f"{about['load']['generator']} -t{about['load']['threads']} -c{about['load']['connections']}; "
        f"{about['date'][:10]}, {about['commit_described']}).",
        "",
    ]
    throughput = document["throughput"]
    counts = list(next(iter(throughput.values())).keys())
    if counts:
        lines += ["| endpoint | | " + " | ".join(_workers(c) for c in counts) + " |", "|---|---|" + "---|" * len(counts)]
        for name in ENDPOINTS:
            shown = f"`{name}`"  # on the endpoint's first row only
            for target, runs in throughput.items():
                if name not in runs[counts[0]]:
                    continue
                cells = []
                for count in counts:
                    r = runs[count][name]
                    rps = f"{r['rps']:,.0f}/s; " if name == HEALTH else ""
                    cells.append(f"{r['ratio']:.2f} ({rps}{_ms(r['p50_ms'])} / {_ms(r['p99_ms'])})")
                lines.append(f"| {shown} | {target} | " + " | ".join(cells) + " |")
                shown = ""
        shown = "lost updates (train)"
        for target, runs in throughput.items():
            lines.append(f"| {shown} | {target} | " + " | ".join(_lost(runs[count][TRAIN]) for count in counts) + " |")
            shown = ""
        errors = {t: sum(r["errors"] for runs in throughput[t].values() for r in runs.values()) for t in throughput}
        lines += ["", "Failed requests: " + ", ".join(f"{t} {n:,}" for t, n in errors.items()) + "."]
    if document.get("names"):
        lines += ["", names_bench.table(document["names"])]
    dims = document.get("dims")
    if dims:
        names = [t for t in document["targets"] if t in dims]
        lines += [
            "",
            f"Training as the dimension grows ({_workers(str(dims['workers']))}): state bytes as stored, "
            "train ratio to health, p50 / p99 ms.",
            "",
            "| dim | " + " | ".join(f"{t} state bytes | {t} train ratio | {t} p50 / p99 ms" for t in names)
            + (" | naive lost |" if "naive" in names else " |"),
            "|---|" + "---|---|---|" * len(names) + ("---|" if "naive" in names else ""),
        ]
        for dim in dims["dims"]:
            cells = []
            for t in names:
                r = dims[t][str(dim)]
                cells += [f"{r['state_bytes']:,}", f"{r['ratio']:.2f}", f"{_ms(r['p50_ms'])} / {_ms(r['p99_ms'])}"]
            if "naive" in names:
                cells.append(_lost(dims["naive"][str(dim)]))
            lines.append(f"| {dim} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _lost(r: dict) -> str:
    text = f"{r['updates_lost']:,} of {r['acknowledged']:,}"
    if r["updates_lost"]:
        text = f"{r['lost_fraction']:.0%} ({text})"
    if r.get("answered_twice"):
        text += f"; {r['answered_twice']:,} versions answered twice"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="wrk: apt-get install wrk. The chart needs matplotlib: pip install -e '.[bench]'.",
    )
    parser.add_argument("--url", help="a running deployment (voweler only, no baseline); default: start them")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="one run per count, e.g. --workers 1 2 4")
    parser.add_argument("--state", help="VOWELER_STATE for voweler's deployments, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--no-naive", action="store_true", help="leave out the naive baseline")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto", help="load generator; auto: wrk if installed (apt-get install wrk)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads, or Python load processes")
    parser.add_argument("--duration", type=int, default=5, help="seconds per endpoint per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dim", type=int, default=16, help="the perceptron's dimension in the throughput runs")
    parser.add_argument("--dims", type=int, nargs="*", default=DIMS, help=f"dimensions to train at (default {' '.join(map(str, DIMS))}); --dims alone: skip")
    parser.add_argument("--dims-workers", type=int, default=4, help="workers for the --dims runs")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--chart", type=Path, help="draw the results into this PNG (bench/chart.py; needs matplotlib)")
    args = parser.parse_args(argv)
    load = load_generator(args.load, args.threads, args.connections)

    document = run(args, load)
    print("\n" + "\n".join(f"- {label}" for label in document["targets"].values()))
    print("\n" + tables(document) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=1) + "\n")
    if args.chart:
        from bench.chart import draw

        draw(document, args.chart)
    inconsistent, errors = failures(document)
    if inconsistent or errors:
        print(f"FAILED: voweler lost or duplicated {inconsistent:,} updates; {errors:,} requests failed", file=sys.stderr)
    return 1 if inconsistent or errors else 0


def failures(document: dict) -> tuple[int, int]:
    """(updates voweler lost or answered twice, requests that failed in any target).

    voweler must lose nothing and fail nothing. The baseline loses updates by design, but should
    never fail a request either.
    """
    measured = [(t, r) for t, runs in document["throughput"].items() for results in runs.values() for r in results.values()]
    if document["dims"]:
        measured += [(t, r) for t in document["targets"] for r in document["dims"][t].values()]
    inconsistent = sum((r["updates_lost"] or 0) + (r["answered_twice"] or 0) for t, r in measured if t == "voweler")
    return inconsistent, sum(r["errors"] for _, r in measured)


if __name__ == "__main__":
    sys.exit(main())
