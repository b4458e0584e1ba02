"""bench/throughput.py runs end to end, writes every field, and counts what the naive baseline loses.

Only fields and counts are checked: no figure of speed is asserted (the machine is shared).
"""

from __future__ import annotations

import doctest
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import chart, throughput  # bench is importable from the checkout (pyproject.toml: pythonpath)
from bench.naive import json_state
from voweler_tools.deployment import REPO, Deployment

SUMMARY_FIELDS = {
    "ratio", "ratio_range", "rps", "p50_ms", "p90_ms", "p99_ms", "p50_ratio", "p99_ratio", "errors",
    "acknowledged", "updates_lost", "updates_unexplained", "answered_twice", "lost_fraction", "rounds",
}  # fmt: skip
ROUND_FIELDS = {"rps", "requests", "p50_ms", "p90_ms", "p99_ms", "max_ms", "non2xx", "socket_errors", "errors", "ratio", "p50_ratio", "p99_ratio"}


def run_bench(tmp_path: Path, *options: str) -> dict:
    results = tmp_path / "results.json"
    command = [sys.executable, "-m", "bench.throughput", "--rounds", "1", "--duration", "1", "--json", str(results), *options]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    # 0: voweler lost nothing and no request failed (the baseline's losses do not count)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| lost updates (train) | voweler |" in done.stdout
    return json.loads(results.read_text())


def check_summary(result: dict, counted: bool) -> None:
    assert SUMMARY_FIELDS <= set(result)
    assert result["rps"] > 0 and result["p50_ms"] > 0 and result["p99_ms"] >= result["p50_ms"]
    assert ROUND_FIELDS <= set(result["rounds"][0])
    assert (result["updates_lost"] is not None) == counted


def test_the_bench_functions_pass_their_examples():
    for module in (throughput, json_state):
        assert doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE).failed == 0


def test_lost_updates_and_versions_answered_twice_are_counted():
    assert throughput.count_updates(acknowledged=500, added=500, in_flight=80)["updates_lost"] == 0
    assert throughput.count_updates(acknowledged=500, added=290, in_flight=80)["updates_lost"] == 210
    assert throughput.count_updates(acknowledged=500, added=560, in_flight=80)["updates_unexplained"] == 0  # in flight
    assert throughput.count_updates(acknowledged=500, added=600, in_flight=80)["updates_unexplained"] == 20
    assert throughput.answered_twice(["7", "8", "9"]) == 0
    assert throughput.answered_twice(["7", "8", "8", "9", "9", "9"]) == 3


@pytest.mark.uwsgi
def test_the_python_load_generator_measures_voweler_and_the_naive_baseline(tmp_path):
    document = run_bench(tmp_path, "--load", "python", "--workers", "2", "--dims", "2", "16", "--dims-workers", "2")

    assert document["format"] == 2
    about = document["about"]
    assert about["load"]["generator"] == "python" and about["commit"] and about["date"]
    assert about["machine"]["nproc"] >= 1 and about["machine"]["cpu"]
    assert set(document["targets"]) == {"voweler", "naive"}
    assert "loses updates by design" in document["targets"]["naive"]

    voweler, naive = document["throughput"]["voweler"]["2"], document["throughput"]["naive"]["2"]
    assert list(voweler) == list(throughput.ENDPOINTS)
    assert list(naive) == [throughput.HEALTH, throughput.READ, throughput.TRAIN]
    for results in (voweler, naive):
        for name, result in results.items():
            check_summary(result, counted=throughput.ENDPOINTS[name].counter is not None)
        assert results[throughput.HEALTH]["ratio"] == 1.0
    assert voweler[throughput.TRAIN]["updates_lost"] == 0 and voweler[throughput.TRAIN]["answered_twice"] == 0
    assert voweler[throughput.TRAIN]["acknowledged"] > 0 and naive[throughput.TRAIN]["acknowledged"] > 0

    dims = document["dims"]
    assert dims["workers"] == 2 and dims["dims"] == [2, 16]
    for target in ("voweler", "naive"):
        check_summary(dims[target]["health"], counted=False)
        for dim in ("2", "16"):
            check_summary(dims[target][dim], counted=True)
        assert 0 < dims[target]["2"]["state_bytes"] < dims[target]["16"]["state_bytes"]
    assert dims["voweler"]["16"]["state_bytes"] < dims["naive"]["16"]["state_bytes"]  # raw float64 beats JSON text

    png = chart.draw(document, tmp_path / "throughput.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.uwsgi
@pytest.mark.skipif(
    not shutil.which("wrk") and os.environ.get("VOWELER_REQUIRE_WRK") != "1",
    reason="wrk is not installed (apt-get install wrk); VOWELER_REQUIRE_WRK=1 makes this an error",
)
def test_wrk_gives_the_same_fields(tmp_path):
    document = run_bench(tmp_path, "--load", "wrk", "--workers", "1", "--no-naive", "--dims")
    assert document["about"]["load"]["generator"] == "wrk" and document["about"]["load"]["version"].startswith("wrk")
    assert document["dims"] is None and set(document["throughput"]) == {"voweler"}
    for name, result in document["throughput"]["voweler"]["1"].items():
        check_summary(result, counted=throughput.ENDPOINTS[name].counter is not None)
        assert result["errors"] == 0


@pytest.mark.uwsgi
def test_the_naive_baseline_loses_updates_under_concurrent_training():
    # 4 workers and 16 connections training for 2 s: thousands of read-modify-writes, of which
    # many overlap. Each overlap drops a whole request's letters and answers its version twice.
    load = throughput.PythonLoad(threads=2, connections=16)
    with Deployment(processes=4, ini=throughput.TARGETS["naive"].ini) as naive:
        throughput.post_json(naive.url, "/api/perceptron/reset", {"dim": 16, "seed": 0})
        result = throughput.measure_endpoint(load, naive.url, throughput.TRAIN, duration=2)
    assert result["errors"] == 0
    assert result["acknowledged"] > 0
    assert result["updates_lost"] > 0, result
    assert result["answered_twice"] > 0, result
