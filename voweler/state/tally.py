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

Two implementations: :class:`~voweler.state.cells.CellTally`, int64 cells with an undo
journal in one buffer under one lock (a SharedArea for every worker of one uWSGI, or plain
process memory), and :class:`~voweler.state.redis.RedisTally`, one Lua script per operation.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from voweler.models.experiment import MAX_ARMS
from voweler.state.base import StateError

SLOTS = MAX_ARMS  # arm slots per test: the experiment's uids 0..63
WINDOW = 1 << 22  # a ticket can be redeemed while it is among the last 4,194,304 serves
LOG_CAPACITY = 8192  # events kept (serves and rewards); the oldest are overwritten
RECORD_CELLS = 8
# How a log record is stored: 8 little-endian cells (both implementations write this layout).
RECORD_DTYPE = np.dtype(
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


def decode_records(raw: bytes, first: int) -> np.ndarray:
    """Log records as stored (8 little-endian cells each), the first being event ``first``, as EVENT_DTYPE."""
    stored = np.frombuffer(raw, dtype=RECORD_DTYPE)
    events = np.empty(len(stored), dtype=EVENT_DTYPE)
    events["seq"] = np.arange(first, first + len(stored))
    for name in EVENT_DTYPE.names[1:]:
        events[name] = stored[name]
    return events
