"""Counters in shared memory, changed in crash-atomic groups: int64 cells with an undo journal.

The framed :class:`~voweler.state.base.Store` rewrites a whole state per transaction; that is right
for a perceptron, and too slow for a counter bumped on every page view. Here a change updates a
few 64-bit cells in place, under a process-shared lock. What makes it atomic is an undo journal
kept in the same memory:

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
and the caller's cells follow. Cells also have a float64 view, for values like a propensity.
"""

from __future__ import annotations

import array
import contextlib

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
