"""bench/profile_train.py, the first step of making training cheaper, runs and accounts for a train."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_profile_names_each_phase_and_the_critical_section():
    out = subprocess.run(
        [sys.executable, "-m", "bench.profile_train", "--requests", "30", "--cprofile", "5"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    phases = dict(re.findall(r"^ {4,}(\S[^\n]*?)\s+(\d+\.\d) *$", out, re.M))
    assert {"learn", "encode_state", "Frame.build (BLAKE2b digest)", "write the slot"} <= set(phases)
    assert all(float(value) > 0 for value in phases.values()), phases  # each phase was timed
    assert re.search(r"under the writers' lock: [\d.]+ µs per transaction: at most [\d,]+ transactions/s", out)
    assert "function calls" in out  # and cProfile's table
