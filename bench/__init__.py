"""Benchmarks of voweler, run from the checkout as modules (they are not installed)::

    .venv/bin/python -m bench.consistency     # consistency under load, with workers killed, reloaded, restarted
    .venv/bin/python -m bench.throughput      # throughput and latency beside the naive baseline (bench/naive/)
    .venv/bin/python -m bench.chart           # draws bench/results/throughput-sharedarea.json

What they share with the tests lives in voweler_tools (the HTTP client, the deployment, the checks).
"""
