"""A bandit's tally in int64 cells of one shared buffer, made crash-atomic by an undo journal.

The framed :class:`~voweler.state.base.Store` rewrites a whole state per transaction; that is right
for a perceptron, and too slow for a counter bumped on every page view. Here a change updates a
few 64-bit cells in place, under a process-shared lock. What makes it atomic is an undo journal
kept in the same memory (:class:`JournaledCells`):

1. before a cell changes, its index and old value are appended to the journal, and only then is
   the journal's length raised to include them;
2. the cell is written;
3. when the whole group is written, the journal's length goes back to 0: that single aligned
   8-byte store is the commit.

A process killed anywhere in between (SIGKILL, ``harakiri``) leaves a non-empty journal behind.
The lock is a robust mutex, so the next process to take it gets it; it finds the journal
non-empty, writes the old values back in reverse order, and empties the journal: the dead
process's group never happened. Aligned 8-byte stores are single instructions on the machines
uWSGI runs on, so a cell is never half-written.

Layout: cell 0 is the journal's length, cells 1 .. 2*MAX_ENTRIES are (index, old value) pairs,
and the tally's cells follow (:class:`CellTally`). Cells also have a float64 view, for values
like a propensity. The same class serves a SharedArea (every worker of one uWSGI) and plain
process memory (``memory://``): only the buffer and the lock differ.
"""

from __future__ import annotations

import array
import contextlib
import secrets

import numpy as np

from voweler.state.base import StateError
from voweler.state.tally import RECORD_CELLS, EventKind, Redemption, Roster, StaleRoster, Tally, decode_records, Counts



MAX_ENTRIES = 160  # cells one group may change: enough to zero a tally's 128 counters at once
JOURNAL_CELLS = 1 + 2 * MAX_ENTRIES  # the length, then (index, old value) pairs


class JournaledCells:
    """int64 cells in a shared buffer; change them only inside ``with cells.change() as c:``.

    Parameters
    ----------
    memory
        A writable buffer shared by every process (a SharedArea's memoryview), or a
        ``bytearray`` for one process. Its length must be a multiple of 8. All zeros is a valid,
        empty journal.
    lock
        A context manager excluding the other writers in every process, that survives its
        holder's death (a uWSGI user lock, or a ``threading.Lock`` within one process).

    Examples
    --------
    >>> import threading
    >>> cells = JournaledCells(bytearray(8 * (JOURNAL_CELLS + 4)), threading.Lock())
    >>> with cells.change() as c:
    ...     c.set(0, 5)
    ...     c.set(1, 7)
    >>> cells.read(0, 2)
    [5, 7]

    A group that raises is undone, as a group whose process died would be:

    >>> with cells.change() as c:
    ...     c.set(0, 6)
    ...     raise RuntimeError("boom")
    Traceback (most recent call last):
    ...
    RuntimeError: boom
    >>> cells.read(0, 2)
    [5, 7]
    """

    def __init__(self, memory, lock: contextlib.AbstractContextManager):
        raw = memoryview(memory).cast("B")
        if raw.readonly or len(raw) % 8 or len(raw) < 8 * (JOURNAL_CELLS + 1):
            raise ValueError("JournaledCells needs a writable buffer of a multiple of 8 bytes, with room for the journal")
        self._bytes = raw
        self._all = raw.cast("q")
        self._floats = raw.cast("d")
        self._lock = lock
        self._group = _Group(self)
        self.recoveries = 0  # groups this process undid: left by a writer that died, or that raised

    @contextlib.contextmanager
    def change(self):
        """Hold the lock and yield a group of changes, committed together when the block ends."""
        with self._lock:
            self._recover()
            try:
                yield self._group
            except BaseException:
                self._recover()  # undo this group's partial changes: it never happened
                raise
            self._all[0] = 0  # the commit

    @contextlib.contextmanager
    def locked(self):
        """Hold the lock to read several cells consistently (no change allowed)."""
        with self._lock:
            self._recover()
            yield self

    def read(self, start: int, count: int) -> list[int]:
        """``count`` cells from ``start``; consistent only under ``locked()`` or ``change()``."""
        base = JOURNAL_CELLS + start
        return self._all[base : base + count].tolist()

    def get(self, index: int) -> int:
        return self._all[JOURNAL_CELLS + index]

    def raw(self, start: int, count: int) -> bytes:
        """A copy of ``count`` cells' bytes, for numpy.frombuffer."""
        base = 8 * (JOURNAL_CELLS + start)
        return self._bytes[base : base + 8 * count].tobytes()

    def _recover(self) -> None:
        cells = self._all
        length = cells[0]
        if not length:
            return
        # Only a process that died inside change(), or a group that raised, leaves entries.
        for entry in range(min(length, MAX_ENTRIES) - 1, -1, -1):
            index, old = cells[1 + 2 * entry], cells[2 + 2 * entry]
            if JOURNAL_CELLS <= index < len(cells):
                cells[index] = old
        cells[0] = 0
        self.recoveries += 1


class _Group:
    """The changes of one ``change()`` block. Each journaled write costs three stores more."""

    __slots__ = ("_cells", "_floats")

    def __init__(self, owner: JournaledCells):
        self._cells = owner._all
        self._floats = owner._floats

    def get(self, index: int) -> int:
        return self._cells[JOURNAL_CELLS + index]

    def set(self, index: int, value: int) -> None:
        cells = self._cells
        index += JOURNAL_CELLS
        entry = cells[0]
        if entry >= MAX_ENTRIES:
            raise RuntimeError(f"a group may change at most {MAX_ENTRIES} cells")
        # The order of these stores is the whole point: old value first, then the length that
        # makes it count, then the cell itself.
        cells[1 + 2 * entry] = index
        cells[2 + 2 * entry] = cells[index]
        cells[0] = entry + 1
        cells[index] = value

    def add(self, index: int, delta: int) -> int:
        value = self._cells[JOURNAL_CELLS + index] + delta
        self.set(index, value)
        return value

    def put_unjournaled(self, index: int, values: list[int]) -> None:
        """Write cells that nobody reads until a journaled change publishes them (an undo won't restore them)."""
        base = JOURNAL_CELLS + index
        self._cells[base : base + len(values)] = memoryview(array.array("q", values))

    def put_float_unjournaled(self, index: int, value: float) -> None:
        self._floats[JOURNAL_CELLS + index] = value


# Cell indices (after the journal). The header is checked on open, so that a durable area
# written by a different layout is refused instead of misread.
_MAGIC, _SLOTS, _WINDOW, _LOG = 0, 1, 2, 3
_VERSION, _ROSTER, _TEST, _LIVE, _SERIAL, _EVENTS, _HAS_SECRET = 4, 5, 6, 7, 8, 9, 10
_SECRET = 11  # 4 cells
_IMPRESSIONS = 16
MAGIC = int.from_bytes(b"VWLRTLY1", "little")


class CellTally(Tally):
    """A :class:`Tally` in int64 cells of one shared buffer, under one process-shared lock.

    Parameters
    ----------
    memory
        A writable buffer shared by every process, initially all zeros (or holding a tally of
        the same layout), at least :meth:`bytes_needed` long.
    lock
        Excludes the other writers in every process, and survives its holder's death.

    Examples
    --------
    >>> import threading
    >>> tally = CellTally(bytearray(CellTally.bytes_needed()), threading.Lock(), "memory")
    >>> roster = Roster.of(version=0, test=1, uids=[0, 1])  # experiment version 0: adopting it is change 1
    >>> tally.serve(roster, uid=1, propensity=0.5, now_ns=0)
    (2, 0)
    >>> tally.redeem(roster, test=1, uid=1, serial=0, clicked=True, now_ns=0)
    (<Redemption.ACCEPTED: 'accepted'>, 3)
    >>> tally.redeem(roster, test=1, uid=1, serial=0, clicked=True, now_ns=0)
    (<Redemption.REDEEMED: 'already redeemed'>, 3)
    >>> counts = tally.counts(roster)
    >>> counts.impressions[:2].tolist(), counts.clicks[:2].tolist()
    ([0, 1], [0, 1])
    """

    def __init__(self, memory, lock, where: str = "the tally"):
        self.where = where
        needed = self.bytes_needed()
        if len(memoryview(memory).cast("B")) < needed:
            raise StateError(f"{where} holds {len(memoryview(memory).cast('B')):,} bytes; the bandit's tally needs {needed:,}")
        self._cells = JournaledCells(memory, lock)
        self._clicks = _IMPRESSIONS + self.slots
        self._bitmap = self._clicks + self.slots
        self._log = self._bitmap + self.window // 64
        self._secret: bytes | None = None
        self._format()

    @classmethod
    def bytes_needed(cls) -> int:
        cells = _IMPRESSIONS + 2 * cls.slots + cls.window // 64 + cls.log_capacity * RECORD_CELLS
        return 8 * (JOURNAL_CELLS + cells)

    def _format(self) -> None:
        layout = [self.slots, self.window, self.log_capacity]
        # Before the first change(), whose journal recovery would write into a foreign file: a
        # tally's magic cell is zero (never formatted) or its own magic, nothing else.
        if self._cells.get(_MAGIC) not in (0, MAGIC):
            raise StateError(f"{self.where} holds data of another layout or program; give the tally a fresh area")
        with self._cells.change() as group:
            if group.get(_MAGIC) == 0:
                for offset, value in enumerate(layout, start=_SLOTS):
                    group.set(offset, value)
                group.set(_ROSTER, -1)  # older than any experiment, the never-written version 0 included
                group.set(_MAGIC, MAGIC)
        if self._cells.get(_MAGIC) != MAGIC or self._cells.read(_SLOTS, 3) != layout:
            raise StateError(f"{self.where} holds data of another layout or program; give the tally a fresh area")

    # -- the interface ----------------------------------------------------------------------

    def secret(self) -> bytes:
        if self._secret is None:
            with self._cells.change() as group:
                if not group.get(_HAS_SECRET):
                    fresh = secrets.token_bytes(32)
                    for i in range(4):
                        group.set(_SECRET + i, int.from_bytes(fresh[8 * i : 8 * i + 8], "little", signed=True))
                    group.set(_HAS_SECRET, 1)
                self._secret = b"".join(group.get(_SECRET + i).to_bytes(8, "little", signed=True) for i in range(4))
        return self._secret

    def sync(self, roster):
        with self._cells.change() as group:
            self._adopt(group, roster, strict=False)
            return group.get(_VERSION)

    def serve(self, roster, uid, propensity, now_ns):
        with self._cells.change() as group:
            self._adopt(group, roster)
            if not (roster.live >> uid) & 1:
                raise ValueError(f"arm slot {uid} is not live in this roster")
            version = group.add(_VERSION, 1)
            serial = group.add(_SERIAL, 1) - 1
            group.add(_IMPRESSIONS + uid, 1)
            # The slot of this serial in the redemption bitmap last served serial - WINDOW, which
            # is now too old to redeem: clear it for this one.
            word, bit = self._bitmap + (serial % self.window) // 64, 1 << (serial % 64)
            bits = _unsigned(group.get(word))
            if bits & bit:
                group.set(word, _signed(bits & ~bit))
            self._log_event(group, now_ns, EventKind.SERVE, roster.test, uid, serial, version, propensity)
        return version, serial

    def redeem(self, roster, test, uid, serial, clicked, now_ns):
        with self._cells.change() as group:
            self._adopt(group, roster)
            version = group.get(_VERSION)
            if test != group.get(_TEST):
                return Redemption.TEST_ENDED, version
            if not (_unsigned(group.get(_LIVE)) >> uid) & 1:
                return Redemption.ARM_REMOVED, version
            served = group.get(_SERIAL)
            if serial >= served:
                return Redemption.UNKNOWN, version
            if serial < served - self.window:
                return Redemption.TOO_OLD, version
            word, bit = self._bitmap + (serial % self.window) // 64, 1 << (serial % 64)
            bits = _unsigned(group.get(word))
            if bits & bit:
                return Redemption.REDEEMED, version
            group.set(word, _signed(bits | bit))
            if clicked:
                group.add(self._clicks + uid, 1)
            version = group.add(_VERSION, 1)
            kind = EventKind.CLICK if clicked else EventKind.NO_CLICK
            self._log_event(group, now_ns, kind, test, uid, serial, version, float("nan"))
        return Redemption.ACCEPTED, version

    def counts(self, roster):
        if self._cells.get(_ROSTER) < roster.version:  # a hint, rechecked under the lock by sync
            self.sync(roster)
        with self._cells.locked() as cells:
            header = cells.read(_VERSION, 6)
            both = np.frombuffer(cells.raw(_IMPRESSIONS, 2 * self.slots), dtype="<i8")
        version, roster_version, test, _live, serial, events = header
        return Counts(version, roster_version, test, both[: self.slots], both[self.slots :], serial, events)

    def events(self, since=0, limit=1000):
        with self._cells.locked() as cells:
            total = cells.get(_EVENTS)
            # The record at total % capacity may be half-written by a writer that died: only
            # the capacity - 1 newest records before it are readable.
            first = max(since, total - (self.log_capacity - 1), 0)
            last = min(total, first + max(limit, 0))
            start, stop = first % self.log_capacity, (last - 1) % self.log_capacity + 1
            if last <= first:
                raw = b""
            elif start < stop:
                raw = cells.raw(self._log + start * RECORD_CELLS, (stop - start) * RECORD_CELLS)
            else:  # wraps around the end of the ring
                raw = cells.raw(self._log + start * RECORD_CELLS, (self.log_capacity - start) * RECORD_CELLS)
                raw += cells.raw(self._log, stop * RECORD_CELLS)
        return decode_records(raw, first)

    # -- helpers ----------------------------------------------------------------------------

    def _adopt(self, group, roster: Roster, strict: bool = True) -> None:
        """Take ``roster`` if it is newer; an older one raises StaleRoster if ``strict``."""
        current = group.get(_ROSTER)
        if roster.version == current:
            return
        if roster.version < current:
            if strict:
                raise StaleRoster(f"the experiment changed (version {current}); this process has version {roster.version}")
            return
        if roster.test != group.get(_TEST):
            # A new test starts from zero, in the same journaled group: if this process dies
            # half-way, the old test comes back with its counts intact.
            for index in range(_IMPRESSIONS, self._bitmap):
                if group.get(index):
                    group.set(index, 0)
            group.set(_TEST, roster.test)
        group.set(_LIVE, _signed(roster.live))
        group.set(_ROSTER, roster.version)
        # One version per experiment transaction, even when several are adopted at once.
        group.add(_VERSION, roster.version - current)

    def _log_event(self, group, now_ns, kind, test, uid, serial, version, propensity) -> None:
        seq = group.get(_EVENTS)
        at = self._log + (seq % self.log_capacity) * RECORD_CELLS
        # Written outside the readable window, then published by the journaled count below.
        group.put_unjournaled(at, [now_ns, int(kind), test, uid, serial, version, 0, 0])
        group.put_float_unjournaled(at + 6, propensity)
        group.set(_EVENTS, seq + 1)


def _signed(bits: int) -> int:
    """A 64-bit pattern as the signed value an int64 cell stores."""
    return bits - (1 << 64) if bits >= 1 << 63 else bits


def _unsigned(value: int) -> int:
    return value & 0xFFFF_FFFF_FFFF_FFFF
