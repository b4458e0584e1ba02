"""A bandit's exact shared counters: impressions, clicks, single-use tickets and an event log.

Serving and rewarding happen on every page view, so they cannot afford a framed
:class:`~voweler.state.base.Store` transaction (encode, digest, write) each. A :class:`Tally`
keeps what they change as counters, and changes them in small atomic groups instead:

``serve(roster, uid, propensity)``
    counts one impression of arm ``uid``, hands out the next serial number (the ticket's
    identity) and logs the serve.
``redeem(roster, test, uid, serial, clicked)``
    accepts a ticket's reward at most once: counts the click and logs it, or says why not.

The arms themselves (names, priors) live in the bandit's Store, which changes rarely. The tally
follows it through a :class:`Roster`: which test is running, which arm slots are live, as of
which Store version. Every call carries the caller's roster; a newer one is adopted on the spot
(a new test zeroes the counters), an older one is refused with :class:`StaleRoster` so that the
caller reloads the experiment and tries again. Nothing is counted for an arm that was removed,
or for a test that has ended.

The tally's ``version`` counts its changes: each serve and accepted reward adds 1, and each
adopted roster as many as the experiment versions it moves forward.

:class:`CellTally` is the implementation over :class:`~voweler.state.journal.JournaledCells`,
used for a SharedArea (every worker of one uWSGI) and for plain process memory alike.
"""

from __future__ import annotations

import enum
import secrets
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from voweler.state.base import StateError
from voweler.state.journal import JOURNAL_CELLS, JournaledCells

SLOTS = 64  # arm slots per test; the bandit model assigns uids 0..63
WINDOW = 1 << 22  # a ticket can be redeemed while it is among the last 4,194,304 serves
LOG_CAPACITY = 8192  # events kept (serves and rewards); the oldest are overwritten
RECORD_CELLS = 8
# How a log record sits in its 8 cells.
_RECORD_DTYPE = np.dtype(
    [("time_ns", "<i8"), ("kind", "<i8"), ("test", "<i8"), ("uid", "<i8"), ("serial", "<i8"),
     ("version", "<i8"), ("propensity", "<f8"), ("unused", "<i8")]
)


class StaleRoster(StateError):
    """The caller's view of the experiment is older than the tally's: reload it and retry."""


class Redemption(enum.Enum):
    """What became of a ticket presented for a reward."""

    ACCEPTED = "accepted"
    REDEEMED = "already redeemed"
    TOO_OLD = "too old"  # more than WINDOW serves ago
    UNKNOWN = "never served"
    TEST_ENDED = "test ended"
    ARM_REMOVED = "arm removed"


class EventKind(enum.IntEnum):
    SERVE = 1
    CLICK = 2
    NO_CLICK = 3


@dataclass(frozen=True)
class Roster:
    """The experiment as the tally must know it: its Store version, its test, its live arm slots."""

    version: int
    test: int
    live: int  # bit u set: arm slot u is being served

    @classmethod
    def of(cls, version: int, test: int, uids) -> "Roster":
        return cls(version, test, sum(1 << uid for uid in uids))


@dataclass(frozen=True)
class Counts:
    """Counters of the current test, read together."""

    version: int
    roster_version: int
    test: int
    impressions: np.ndarray  # by arm slot
    clicks: np.ndarray
    serves: int  # serials handed out, ever (the next serial)
    events: int  # events logged, ever


# One event of the log, as :meth:`Tally.events` returns them (a numpy structured array). ``seq``
# numbers every event ever logged, from 0; ``propensity`` is the serve's, NaN on a reward.
EVENT_DTYPE = np.dtype(
    [("seq", "<i8"), ("time_ns", "<i8"), ("kind", "<i8"), ("test", "<i8"), ("uid", "<i8"),
     ("serial", "<i8"), ("version", "<i8"), ("propensity", "<f8")]
)


class Tally(ABC):
    """One bandit's shared counters; see the module docstring."""

    slots, window, log_capacity = SLOTS, WINDOW, LOG_CAPACITY

    @abstractmethod
    def secret(self) -> bytes:
        """32 random bytes, generated once and then the same for every process of the deployment."""

    @abstractmethod
    def sync(self, roster: Roster) -> int:
        """Adopt ``roster`` if it is newer (an older one is ignored); the tally's version afterwards."""

    @abstractmethod
    def serve(self, roster: Roster, uid: int, propensity: float, now_ns: int) -> tuple[int, int]:
        """Count one impression of ``uid`` and log it; ``(version, serial)``."""

    @abstractmethod
    def redeem(self, roster: Roster, test: int, uid: int, serial: int, clicked: bool, now_ns: int) -> tuple[Redemption, int]:
        """Accept the reward of ticket ``(test, uid, serial)`` once; ``(outcome, version)``."""

    @abstractmethod
    def counts(self, roster: Roster) -> Counts:
        """The current test's counters, all read at one moment, after adopting ``roster`` if newer.

        The counts may belong to a newer roster than the caller's: compare ``roster_version``.
        """

    @abstractmethod
    def events(self, since: int = 0, limit: int = 1000) -> np.ndarray:
        """Logged events with ``seq >= since`` (or the oldest kept), oldest first, at most ``limit``.

        A structured array of :data:`EVENT_DTYPE`.
        """


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



def decode_records(raw: bytes, first: int) -> np.ndarray:
    """Log records as stored (8 little-endian cells each), the first being event ``first``, as EVENT_DTYPE."""
    stored = np.frombuffer(raw, dtype=_RECORD_DTYPE)
    events = np.empty(len(stored), dtype=EVENT_DTYPE)
    events["seq"] = np.arange(first, first + len(stored))
    for name in EVENT_DTYPE.names[1:]:
        events[name] = stored[name]
    return events


def _signed(bits: int) -> int:
    """A 64-bit pattern as the signed value an int64 cell stores."""
    return bits - (1 << 64) if bits >= 1 << 63 else bits


def _unsigned(value: int) -> int:
    return value & 0xFFFF_FFFF_FFFF_FFFF
