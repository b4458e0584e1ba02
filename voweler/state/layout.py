"""The one registry of where shared state lives: each area's name, kind, index, size and lock.

Under ``sharedarea://`` every area is one uWSGI SharedArea, and ``uwsgi.ini`` declares them in
the order of :data:`AREAS`. A *store* area holds one model's framed state in two slots (double
buffering, :mod:`voweler.state.sharedarea`); a *tally* area holds a bandit's counters
(:mod:`voweler.state.cells`). The writers of area ``n`` serialize on uWSGI user lock ``n + 1``
(lock 0 is uWSGI's own). Nothing outside :mod:`voweler.state` knows an index or a lock number.

``uwsgi.ini`` is checked against this table when uWSGI starts (:func:`check_uwsgi`): a
SharedArea of another size or file, a missing one, or too few locks refuses to start, with a
sentence that names both sides. (Checked, not generated: ``uwsgi.ini`` is the operator's file,
with settings of their own beside the areas, and a check keeps it readable as it is.)

The other backends use the same table: ``memory://`` and ``redis://`` keep each store's states
within its area's slot, so a state that fits one backend fits them all.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

PAGE = 4096


class Kind(enum.Enum):
    STORE = "store"  # a model's whole state, framed, in two slots
    TALLY = "tally"  # a bandit's counters, changed in place


@dataclass(frozen=True)
class Area:
    """One area of shared state.

    >>> area = area_of("bandit", Kind.TALLY)
    >>> area.label, area.index, area.lock, area.file
    ('bandit_tally', 2, 3, 'bandit-tally.area')
    >>> area_of("perceptron").capacity  # the largest state: one of its two slots
    49152
    """

    model: str  # the model whose state this is; a tally shares its bandit's name
    kind: Kind
    size: int  # bytes, a whole number of pages
    index: int = -1  # set from the position in AREAS

    @property
    def label(self) -> str:
        """How logs, messages and GET /api/workers name the area."""
        return self.model if self.kind is Kind.STORE else f"{self.model}_tally"

    @property
    def lock(self) -> int:
        """The uWSGI user lock that serializes this area's writers."""
        return self.index + 1

    @property
    def file(self) -> str:
        """The area's file in the data directory (durable state)."""
        return f"{self.model}.area" if self.kind is Kind.STORE else f"{self.model}-tally.area"

    @property
    def capacity(self) -> int:
        """A store's largest frame in bytes: half the area, 8-byte aligned."""
        return self.size // 2 // 8 * 8


def _numbered(*areas: Area) -> tuple[Area, ...]:
    return tuple(Area(a.model, a.kind, a.size, index) for index, a in enumerate(areas))


# The order is the SharedArea order in uwsgi.ini. A perceptron of dim 4096 (the largest) needs
# about 37 KiB: 96 KiB gives two slots of 48 KiB. The bandit's experiment (64 arms with long
# names) fits a 32 KiB slot. Its tally (counts, the redemption bitmap of the last 4,194,304
# serves, the event log of the last 8,191 events) needs 257 pages (a test pins that it fits).
AREAS: tuple[Area, ...] = _numbered(
    Area("perceptron", Kind.STORE, 24 * PAGE),
    Area("bandit", Kind.STORE, 16 * PAGE),
    Area("bandit", Kind.TALLY, 257 * PAGE),
    # The names taught to each corpus and the corpora users created, as plain strings (the
    # shipped names and the chains are rebuilt by each process): a 256 KiB slot holds about
    # 20,000 taught names.
    Area("names", Kind.STORE, 128 * PAGE),
)


def area_of(model: str, kind: Kind = Kind.STORE) -> Area:
    """The area of ``model``'s store (or tally)."""
    for area in AREAS:
        if area.model == model and area.kind is kind:
            return area
    raise KeyError(f"no {kind.value} area for {model!r} in voweler/state/layout.py")


def lock_holders(stats: dict) -> dict[str, int | None]:
    """Which process holds each area's writer lock, from uWSGI's stats document (its ``locks``).

    uWSGI names user lock n "user n" and reports 0 for a free lock.

    >>> holders = lock_holders({"locks": [{"user 0": 0}, {"user 1": 12}, {"user 3": 0}]})
    >>> holders["perceptron"], holders["bandit"], holders["bandit_tally"]
    (12, None, None)
    """
    by_lock = {f"user {area.lock}": area.label for area in AREAS}
    holders: dict[str, int | None] = dict.fromkeys(by_lock.values())
    for lock in stats.get("locks") or []:
        for key, holder in lock.items() if isinstance(lock, dict) else ():
            if key in by_lock:
                holders[by_lock[key]] = holder or None
    return holders


def check_uwsgi(sizes: list[int], files: list[str | None], locks: int) -> None:
    """Refuse a uWSGI whose SharedAreas or locks are not the ones :data:`AREAS` needs.

    ``sizes`` and ``files`` describe uWSGI's SharedAreas in order (a file's name, or None for
    an anonymous area), ``locks`` is its ``locks`` option. Raises ValueError naming both sides.

    >>> sizes, files = [a.size for a in AREAS], [a.file for a in AREAS]
    >>> check_uwsgi(sizes, files, len(AREAS))
    >>> check_uwsgi(sizes[:1] + [4096] + sizes[2:], files, len(AREAS))
    Traceback (most recent call last):
    ...
    ValueError: uwsgi.ini gives SharedArea 1 4,096 bytes, but voweler/state/layout.py says the bandit area has 65,536: make uwsgi.ini's bandit_bytes 65536
    """
    if len(sizes) != len(AREAS):
        declared = ", ".join(area.label for area in AREAS)
        raise ValueError(
            f"uwsgi.ini declares {len(sizes)} SharedAreas, but voweler/state/layout.py has {len(AREAS)} "
            f"({declared}, in that order): declare one `sharedarea` line for each"
        )
    for area, size, file in zip(AREAS, sizes, files):
        if size != area.size:
            raise ValueError(
                f"uwsgi.ini gives SharedArea {area.index} {size:,} bytes, but voweler/state/layout.py says the "
                f"{area.label} area has {area.size:,}: make uwsgi.ini's {area.label}_bytes {area.size}"
            )
        if file is not None and file != area.file:
            raise ValueError(
                f"uwsgi.ini maps SharedArea {area.index} onto {file}, but voweler/state/layout.py says it holds the "
                f"{area.label} area, in {area.file}: declare the areas in the order of the table"
            )
    needed = max(area.lock for area in AREAS)
    if locks < needed:
        raise ValueError(
            f"uwsgi.ini has `locks = {locks}`, but the {len(AREAS)} areas of voweler/state/layout.py use user "
            f"locks 1 to {needed}: set `locks = {needed}`"
        )
