"""What the names model costs: build time per corpus and order, and memory per worker.

    python -m bench.names                 # in this process, and under uWSGI with 4 workers

``bench.throughput`` calls :func:`figures` for its voweler deployments and prints them beside the
throughput tables; its ENDPOINTS time ``generate?n=10`` and ``complete?q=***base&n=10``.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from voweler.models.markov import ORDERS, MarkovChain
from voweler.models.names import CORPORA, shipped_names
from voweler_tools.checks import every_worker

MODELS = [f"markov{order}" for order in ORDERS]


def build_times(repeat: int = 5) -> dict[str, dict[str, float]]:
    """Milliseconds to build each shipped corpus's chain of each order (median of ``repeat``)."""
    result = {}
    for corpus in CORPORA:
        names = shipped_names(corpus)
        result[corpus] = {"names": len(names)}
        for order in ORDERS:
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                MarkovChain(names, order=order)
                times.append((time.perf_counter() - start) * 1e3)
            result[corpus][f"markov{order}_ms"] = statistics.median(times)
    return result


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def memory_per_worker(base: str, pids: list[int]) -> dict:
    """Each worker's resident memory before and after it has built every shipped corpus's three chains."""
    before = {pid: rss_kib(pid) for pid in pids}
    for corpus in CORPORA:
        for model in MODELS:
            every_worker(base, len(pids), path=f"/api/names/{model}/{corpus}/complete?q=**&n=1")
    after = {pid: rss_kib(pid) for pid in pids if Path(f"/proc/{pid}").exists()}
    grown = [after[pid] - before[pid] for pid in after]
    return {
        "workers": len(pids),
        "rss_before_kib": statistics.median(before.values()),
        "rss_after_kib": statistics.median(after.values()),
        "chains_kib": statistics.median(grown),
    }


def figures(base: str, pids: list[int]) -> dict:
    return {"build": build_times(), "memory": memory_per_worker(base, pids)}


def table(names: dict) -> str:
    build, memory = names["build"], names["memory"]
    lines = [
        "Names: build time per shipped corpus (ms, median of 5, in one process), and memory per worker.",
        "",
        "| corpus | names | " + " | ".join(MODELS) + " |",
        "|---|---|" + "---|" * len(MODELS),
    ]
    for corpus, row in build.items():
        lines.append(f"| {corpus} | {row['names']:,} | " + " | ".join(f"{row[f'{m}_ms']:.1f}" for m in MODELS) + " |")
    lines += [
        "",
        f"Memory per worker (median of {memory['workers']}): {memory['rss_before_kib'] / 1024:.1f} MiB resident before any "
        f"chain, {memory['rss_after_kib'] / 1024:.1f} MiB with all {len(build) * len(MODELS)} chains of the shipped corpora "
        f"(+{memory['chains_kib'] / 1024:.1f} MiB).",
    ]
    return "\n".join(lines)


def main() -> int:
    from voweler_tools.deployment import Deployment

    with Deployment(processes=4) as server:
        print(table(figures(server.url, server.worker_pids())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
