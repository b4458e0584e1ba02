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
This module is the command; the offline simulation is voweler_tools/simulation.py, the HTTP
driver voweler_tools/drive.py.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from voweler.models import DEFAULT_PRIOR_CTR, DEFAULT_PRIOR_IMPRESSIONS, MAX_ARMS, check_arm_name, check_prior
from voweler_tools.drive import DEFAULT_CONCURRENCY, MAX_CONCURRENCY, SimulationError, drive, format_http
from voweler_tools.simulation import (
    DEFAULT_IMPRESSIONS, DEFAULT_RUNS, MAX_IMPRESSIONS, MAX_SIMULATED, format_offline, simulate,
)  # fmt: skip


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
