"""Regenerate the shipped name corpora in ``voweler/models/corpora/`` (run from the checkout, offline).

    python -m voweler_tools.make_corpora --pypi PROJECTS.tsv

``PROJECTS.tsv`` lists PyPI projects, one a line after a header, tab-separated, with the project's
name in the first column and its download rank in the fourth (the form of the snapshot
``pypi.txt`` was made from). Without ``--pypi``, ``pypi.txt`` is kept as it is.

Each corpus is one name a line, lowercase, sorted, deduplicated, and only names the Markov
model accepts (``voweler.models.markov.check_name``). Where each list comes from, and under which
license, is in ``voweler/models/corpora/README.md``. ``elements.txt`` is written by hand (the 118
IUPAC names) and is not regenerated.
"""

from __future__ import annotations

import argparse
import re
import sys
import zoneinfo
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent / "voweler" / "models" / "corpora"
PLAIN = re.compile(r"^[a-z][a-z0-9_-]{1,23}$")


def pypi_top(tsv: Path, limit: int = 3000) -> list[str]:
    """The ``limit`` most downloaded PyPI projects (by the list's rank) with plain names."""
    ranked = []
    with tsv.open(encoding="utf-8") as lines:
        next(lines)
        for line in lines:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 4 and fields[3].isdigit():
                name = fields[0].lower()
                if PLAIN.match(name):
                    ranked.append((int(fields[3]), name))
    return sorted({name for _, name in sorted(ranked)[:limit]})


def stdlib() -> list[str]:
    """Python's standard library module names (``sys.stdlib_module_names``), without private ones."""
    return sorted(name for name in sys.stdlib_module_names if PLAIN.match(name))


def tz_cities() -> list[str]:
    """One-word city names of the IANA time zone database, as Python's zoneinfo finds them."""
    cities = {zone.rsplit("/", 1)[-1].lower() for zone in zoneinfo.available_timezones() if "/" in zone}
    return sorted(city for city in cities if re.fullmatch(r"[a-z]{2,24}", city))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pypi", type=Path, help="a snapshot of PyPI's project index, with download ranks")
    args = parser.parse_args(argv)
    corpora = [("stdlib", stdlib()), ("cities", tz_cities())]
    if args.pypi:
        corpora.insert(0, ("pypi", pypi_top(args.pypi)))
    for name, names in corpora:
        (HERE / f"{name}.txt").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        print(f"{name}: {len(names)} names")


if __name__ == "__main__":
    main()
