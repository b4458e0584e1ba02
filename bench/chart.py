"""Draw bench/throughput.py's results as one PNG: throughput beside the naive baseline, and
training as the perceptron's dimension grows.

    python -m bench.chart                                   # bench/results/throughput-sharedarea.json
    python -m bench.chart results.json -o throughput.png

Needs matplotlib: ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DEFAULT_JSON = BENCH / "results" / "throughput-sharedarea.json"
DEFAULT_PNG = BENCH / "results" / "throughput.png"

HEALTH = "GET /api/health"
TRAIN = "POST /api/perceptron/train"
SHADES = {"voweler": ["#9ecae1", "#4292c6", "#08519c"], "naive": ["#fdd0a2", "#fd8d3c", "#d94801"]}
COLOR = {"voweler": "#2171b5", "naive": "#e6550d"}
NAME = {"voweler": "voweler", "naive": "naive baseline"}


def draw(document: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if document.get("format") != 2:
        sys.exit("this is not a results file of the current bench/throughput.py (format 2): run it again")
    figure = plt.figure(figsize=(13, 10), dpi=110)
    grid = figure.add_gridspec(2, 2, height_ratios=[1.15, 1], hspace=0.5, wspace=0.22, left=0.07, right=0.98, top=0.93, bottom=0.165)
    about, settings = document["about"], document["settings"]
    figure.suptitle("voweler: throughput and latency under uWSGI, beside the naive baseline", fontsize=15, fontweight="bold")

    _throughput(figure.add_subplot(grid[0, :]), document)
    dims = document.get("dims")
    if dims:
        _latency(figure.add_subplot(grid[1, 0]), dims, FuncFormatter, LogLocator, NullFormatter)
        _state_bytes(figure.add_subplot(grid[1, 1]), dims, NullFormatter)

    machine, load = about["machine"], about["load"]
    caption = (
        f"Measured {about['date'][:16].replace('T', ' ')} UTC at commit {about['commit_described']}, on {machine['nproc']} cores "
        f"({machine['cpu']}, {machine['system']}) shared with the load generator: {load['version']}, "
        f"{load['threads']} threads, {load['connections']} connections; load average "
        f"{machine['loadavg_before'][0]:.1f} before, {machine.get('loadavg_after', [float('nan')])[0]:.1f} after.\n"
        f"Medians of {settings['rounds']} rounds of {settings['duration']} s; whiskers: lowest and highest round. "
        f"Throughput panel: perceptron dim {settings['dim']}, 5 letters per train request. "
        f"Latencies are this machine's; ratios are what carries over.\n"
        f"{document['targets']['naive']}. "
        "Reproduce: bench/throughput.py (see README, \"Consistency and performance\")."
    )
    figure.text(0.07, 0.015, caption, fontsize=8.5, color="#333333", va="bottom", ha="left", wrap=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _throughput(axes, document: dict) -> None:
    throughput = document["throughput"]
    targets = [t for t in ("voweler", "naive") if throughput.get(t)]
    counts = list(throughput["voweler"])
    endpoints = [name for name in throughput["voweler"][counts[0]] if name != HEALTH]
    width, gap = 0.8 / 6, 0.02
    top = max(r["ratio_range"][1] for t in targets for c in counts for r in throughput[t][c].values())
    label_height = max(1.08, top + 0.08)  # the note on lost updates sits above every bar
    centers, labels = [], []
    for index, name in enumerate(endpoints):
        bars = [(t, c) for t in targets for c in counts if name in throughput[t][c]]
        start = index - (len(bars) - 1) * width / 2
        for offset, (target, count) in enumerate(bars):
            r = throughput[target][count][name]
            x = start + offset * width
            low, high = r["ratio_range"]
            axes.bar(
                x, r["ratio"], width - gap, color=SHADES[target][counts.index(count) % 3],
                hatch="//" if target == "naive" else None, edgecolor="white" if target == "voweler" else "#a63603",
                linewidth=0.5, label=f"{NAME[target]}, {count} worker{'s' * (count != '1')}" if index == 0 or name == TRAIN else None,
            )
            axes.errorbar(x, r["ratio"], yerr=[[r["ratio"] - low], [high - r["ratio"]]], color="#555555", linewidth=0.7, capsize=2, zorder=2)
            axes.text(x, r["ratio"] + 0.02, f"{r['ratio']:.2f}", ha="center", va="bottom", fontsize=7, zorder=3,
                      bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85})
        centers.append(index)
        labels.append(name.replace(" /api/", "\n/api/"))
        if name == TRAIN and "naive" in targets:
            lines = ["acknowledged updates lost in these runs:"]
            for target in targets:
                cells = []
                for count in counts:
                    r = throughput[target][count][TRAIN]
                    cells.append(f"{r['lost_fraction'] or 0:.0%}" if r["updates_lost"] else "0")
                lines.append(f"{NAME[target]}: " + ", ".join(f"{c} ({n} w)" for c, n in zip(cells, counts)))
            axes.text(index, label_height, "\n".join(lines), ha="center", va="bottom", fontsize=8.5, color="#7f2704",
                      bbox={"boxstyle": "round", "fc": "#fff5eb", "ec": "#fd8d3c"})
    axes.axhline(1.0, color="#555555", linestyle="--", linewidth=1, label="GET /api/health (= 1)")
    axes.set_xticks(centers, labels, fontsize=9)
    axes.set_xlim(-0.6, len(endpoints) - 0.4)
    axes.set_ylim(0, label_height + 0.4)
    axes.set_ylabel("requests/s ÷ GET /api/health's\n(same round; higher is better)")
    shown = " and ".join([", ".join(counts[:-1]), counts[-1]] if len(counts) > 1 else counts)
    axes.set_title(f"Throughput per endpoint as a ratio to GET /api/health, for {shown} uWSGI workers", fontsize=11.5)
    handles, names = axes.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    axes.legend(unique.values(), unique.keys(), ncol=len(unique), fontsize=8.5, loc="upper center",
                bbox_to_anchor=(0.5, -0.16), frameon=False, handlelength=1.5, columnspacing=1.2)
    axes.grid(axis="y", alpha=0.3)


def _latency(axes, dims: dict, FuncFormatter, LogLocator, NullFormatter) -> None:
    sizes = dims["dims"]
    for target in (t for t in ("voweler", "naive") if dims.get(t)):
        runs = [dims[target][str(d)] for d in sizes]
        axes.plot(sizes, [r["p50_ms"] for r in runs], "o-", color=COLOR[target], label=f"{NAME[target]}, p50")
        axes.plot(sizes, [r["p99_ms"] for r in runs], "s--", color=COLOR[target], alpha=0.6, markersize=4, label=f"{NAME[target]}, p99")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(sizes, [str(d) for d in sizes])
    axes.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axes.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel("perceptron dimension (dim)")
    axes.set_ylabel("train request latency, ms (this machine)")
    axes.set_title(f"POST /api/perceptron/train latency vs dimension ({dims['workers']} workers)", fontsize=11)
    axes.legend(fontsize=8.5)
    axes.grid(alpha=0.3, which="both")


def _state_bytes(axes, dims: dict, NullFormatter) -> None:
    sizes = dims["dims"]
    labels = {"voweler": "voweler: binary frame (header + JSON meta + raw float64)", "naive": "naive baseline: JSON document"}
    for target in (t for t in ("voweler", "naive") if dims.get(t)):
        axes.plot(sizes, [dims[target][str(d)]["state_bytes"] for d in sizes], "o-", color=COLOR[target], label=labels[target])
    axes.axhline(48 * 1024, color="#2171b5", linestyle=":", linewidth=1)
    axes.text(sizes[0], 48 * 1024 * 1.08, "voweler's slot: 48 KiB (uwsgi.ini)", fontsize=8, color="#2171b5")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log")
    axes.set_xticks(sizes, [str(d) for d in sizes])
    axes.set_yticks([2**k * 1024 for k in range(1, 9)], [f"{2**k} KiB" for k in range(1, 9)])
    axes.yaxis.set_minor_formatter(NullFormatter())
    axes.set_ylim(2 * 1024, 256 * 1024)
    axes.set_xlabel("perceptron dimension (dim)")
    axes.set_ylabel("stored state, bytes")
    axes.set_title("State size as stored (with 256 points of history)", fontsize=11)
    axes.legend(fontsize=8.5, loc="upper left")
    axes.grid(alpha=0.3, which="both")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT_JSON, help=f"default: {DEFAULT_JSON.relative_to(BENCH.parent)}")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_PNG, help=f"default: {DEFAULT_PNG.relative_to(BENCH.parent)}")
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        sys.exit("the chart needs matplotlib: pip install -e '.[bench]'")
    print(draw(json.loads(args.results.read_text()), args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
