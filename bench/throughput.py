#!/usr/bin/env python3
"""Throughput and latency of voweler's endpoints, as ratios to GET /api/health in the same run.

    python bench/throughput.py                      # starts uWSGI with 2 workers on free ports
    python bench/throughput.py --workers 4 --rounds 5 --duration 5
    python bench/throughput.py --url http://127.0.0.1:9090    # a running deployment (it trains it!)
    python bench/throughput.py --workers 1 2 4 --state redis://127.0.0.1:6379/0   # on a Redis you started

Each round measures every endpoint one after the other with wrk (``apt-get install wrk``) and
divides by the health figure of the same round; the report gives the median over rounds. This
machine is shared and noisy, so absolute requests per second drift from run to run: compare
ratios. After each run that changes a model (train, serve, reward), the model's own counter
(perceptron updates, bandit impressions, bandit clicks) is checked against what wrk says was
acknowledged, so a fast but lossy server cannot pass unnoticed.

Rewards need a fresh ticket each: before each reward run, the bench serves enough tickets
(with wrk, not timed) and hands each wrk connection its own share of them.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from voweler.deployment import Deployment  # noqa: E402

LETTERS = "aeiou"  # one fixed batch: the update check needs to know how many letters each request adds


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    body: str | None = None  # a fixed POST body
    counter: tuple[str, str] | None = None  # (GET path, JSON key) of the counter each request adds to
    adds: int = 1
    tickets: bool = False  # each request redeems a fresh ticket


ENDPOINTS = {
    "GET /api/health": Endpoint("GET", "/api/health"),
    "GET /api/perceptron": Endpoint("GET", "/api/perceptron"),
    "POST /api/perceptron/train": Endpoint(
        "POST", "/api/perceptron/train", json.dumps({"letters": LETTERS}), ("/api/perceptron", "updates"), len(LETTERS)
    ),
    "GET /api/bandit": Endpoint("GET", "/api/bandit"),
    "POST /api/bandit/serve": Endpoint("POST", "/api/bandit/serve", "{}", ("/api/bandit", "impressions")),
    "POST /api/bandit/reward": Endpoint("POST", "/api/bandit/reward", None, ("/api/bandit", "clicks"), tickets=True),
}

_POST_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = {body}
"""

# Serve tickets and keep them: each wrk thread writes the tickets it got to its own file.
_COLLECT_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = "{}"
local count = 0
function setup(thread) count = count + 1; thread:set("id", count) end
function init(args) out = io.open(args[1] .. "." .. id, "a") end
function response(status, headers, body)
  local ticket = body:match('"ticket":"([^"]+)"')
  if ticket then out:write(ticket, "\\n"); out:flush() end
end
"""

# Redeem tickets from a file, each thread its own share, each ticket once.
_REWARD_SCRIPT = """
local count = 0
function setup(thread) count = count + 1; thread:set("id", count) end
function init(args)
  tickets, threads, n = {}, tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    n = n + 1
    if n % threads == id - 1 then tickets[#tickets + 1] = line end
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


def wrk(url: str, args, script: str | None = None, script_args: tuple = (), duration: float | None = None) -> dict:
    """Run wrk once; return requests/s, latency percentiles (ms), and counts."""
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{duration or args.duration}s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") if script else nullcontext() as file:
        if script:
            file.write(script)
            file.flush()
            command += ["-s", file.name]
        output = subprocess.run([*command, url, *(["--", *script_args] if script_args else [])], capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def collect_tickets(base: str, args, needed: int, folder: Path) -> Path:
    """Serve at least ``needed`` tickets (untimed) into one file, one per line."""
    target = folder / "tickets"
    for name in folder.glob("tickets*"):
        name.unlink()
    got: list[str] = []
    for _attempt in range(20):  # each run adds what it served; a busy machine needs more runs
        wrk(base + "/api/bandit/serve", args, _COLLECT_SCRIPT, (str(target),), duration=args.duration)
        got = [line for part in sorted(folder.glob("tickets.*")) for line in part.read_text().split()]
        if len(got) >= needed:
            break
    else:
        sys.exit(f"could not collect {needed:,} tickets to redeem (got {len(got):,})")
    target.write_text("\n".join(got) + "\n")
    return target


def parse_wrk(output: str) -> dict:
    """The figures from wrk's report.

    >>> parse_wrk('''  Latency Distribution
    ...      50%  1.03ms
    ...      99%  12.50ms
    ...   1000 requests in 1.00s, 1.00MB read
    ...   Non-2xx or 3xx responses: 3
    ... Requests/sec:   999.50''')
    {'rps': 999.5, 'requests': 1000, 'p50_ms': 1.03, 'p99_ms': 12.5, 'errors': 3}
    """
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    latency = {
        pct: float(value) * scale[unit]
        for pct, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50_ms": latency.get("50"),
        "p99_ms": latency.get("99"),
        "errors": int(errors.group(1)) if errors else 0,
    }


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def measure(base: str, args) -> dict:
    post_json(base + "/api/perceptron/reset", {"dim": args.dim, "seed": 0})
    post_json(base + "/api/bandit/reset", {"arms": [{"name": n} for n in ("red", "green", "blue")]})
    rounds = []
    with tempfile.TemporaryDirectory() as folder:
        for number in range(1, args.rounds + 1):
            figures = {}
            for name, endpoint in ENDPOINTS.items():
                script, script_args = None, ()
                if endpoint.body:
                    script = _POST_SCRIPT.format(body=json.dumps(endpoint.body))
                if endpoint.tickets:
                    # Enough for a reward run as fast as health, with room to spare.
                    needed = int(1.5 * figures["GET /api/health"]["rps"] * args.duration) + 1000
                    tickets = collect_tickets(base, args, needed, Path(folder))
                    script, script_args = _REWARD_SCRIPT, (str(tickets), str(args.threads))
                before = get_json(base + endpoint.counter[0])[endpoint.counter[1]] if endpoint.counter else 0
                figures[name] = result = wrk(base + endpoint.path, args, script, script_args)
                if endpoint.counter:
                    # wrk counts completed requests; up to one per connection was still in flight
                    # when it stopped, and may have been committed.
                    added = (get_json(base + endpoint.counter[0])[endpoint.counter[1]] - before)
                    acknowledged = (result["requests"] - result["errors"]) * endpoint.adds
                    result["updates_lost"] = max(0, acknowledged - added)
                    result["updates_unexplained"] = max(0, added - acknowledged - args.connections * endpoint.adds)
            health = figures["GET /api/health"]["rps"]
            for result in figures.values():
                result["ratio"] = result["rps"] / health
            rounds.append(figures)
            print(f"round {number}/{args.rounds}: " + ", ".join(f"{n} {r['rps']:,.0f}/s" for n, r in figures.items()), flush=True)
    return {
        name: {
            "ratio": statistics.median(r[name]["ratio"] for r in rounds),
            "rps": statistics.median(r[name]["rps"] for r in rounds),
            "p50_ms": statistics.median(r[name]["p50_ms"] for r in rounds),
            "p99_ms": statistics.median(r[name]["p99_ms"] for r in rounds),
            "errors": sum(r[name]["errors"] for r in rounds),
            "updates_lost": sum(r[name].get("updates_lost", 0) for r in rounds) if ENDPOINTS[name].counter else None,
            "rounds": [r[name] for r in rounds],
        }
        for name in ENDPOINTS
    }


def report(results: dict, args, workers: int) -> None:
    backend = args.state or "sharedarea://"
    print(f"\n{workers} workers, {backend}, wrk -t{args.threads} -c{args.connections}, {args.duration}s x {args.rounds} rounds, dim {args.dim}")
    print(f"{'endpoint':30} {'ratio to health':>15} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'lost':>5}")
    for name, r in results.items():
        lost = "" if r["updates_lost"] is None else str(r["updates_lost"])
        print(f"{name:30} {r['ratio']:>15.2f} {r['rps']:>9,.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['errors']:>7} {lost:>5}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running deployment; default: start one")
    parser.add_argument("--workers", type=int, nargs="+", default=[2], help="one run per count, e.g. --workers 1 2 4")
    parser.add_argument("--state", help="VOWELER_STATE for the deployments started, e.g. redis://127.0.0.1:6379/0")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5, help="seconds per endpoint per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk")

    runs = {}
    for workers in [None] if args.url else args.workers:
        env = {"VOWELER_STATE": args.state} if args.state else None
        with nullcontext() if args.url else Deployment(processes=workers, env=env) as server:
            base = (args.url or server.url).rstrip("/")
            runs[str(workers or "running")] = results = measure(base, args)
        report(results, args, workers)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"settings": vars(args) | {"json": str(args.json)}, "results": runs}, indent=2))
    lost = sum(r["updates_lost"] or 0 for results in runs.values() for r in results.values())
    errors = sum(r["errors"] for results in runs.values() for r in results.values())
    return 1 if lost or errors else 0


if __name__ == "__main__":
    sys.exit(main())
