"""The interface every store implements: read the latest state, or change it atomically.

A :class:`Store` holds one model. ``read()`` returns the latest committed :class:`Snapshot`,
decoding only when the version changed since this process last looked. ``transact(change)``
runs ``change(model)`` on a private copy of the latest state and commits the result as the next
version, as one atomic read-modify-write that ends in a single write of one frame.

Every backend reads the same way (a cheap ``_peek`` at the newest header, a ``_load`` of the
frame only when it changed) and builds new frames with the same ``_apply``. They differ in how a
transaction is made atomic:

* :class:`LockingStore` is the pessimistic template of the backends with a cross-process lock
  (``memory://``, ``sharedarea://``): take the lock, load, change, write, release. A backend
  supplies ``_lock`` and ``_write``.
* The Redis store is optimistic: it computes the change and commits it by compare-and-set,
  computing it again when another host won (:mod:`voweler.state.redis`).
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Generic, TypeVar

import numpy as np

from voweler.state.frame import Frame, decode_state, encode_state

if TYPE_CHECKING:
    from voweler.state.layout import Area
    from voweler.state.tally import Tally

M = TypeVar("M")
R = TypeVar("R")


# A state's largest frame, in bytes, where the caller names none (a SharedArea's slot is its own).
DEFAULT_CAPACITY = 64 * 1024


class StateError(Exception):
    """Base class of the state layer's errors."""


class StateTooLarge(StateError):
    """A new state does not fit the store; nothing was written."""

    def __init__(self, name: str, needed: int, available: int, hint: str = ""):
        self.name, self.needed, self.available = name, needed, available
        super().__init__(
            f"the {name} state needs {needed:,} bytes but its store holds {available:,}"
            + (f"; {hint}" if hint else "")
        )


class StateUnavailable(StateError):
    """The store cannot be reached or read right now; nothing was written."""


@dataclass(frozen=True)
class Snapshot(Generic[M]):
    """A committed state: its version and the model, which must be treated as read-only.

    ``(version, digest)`` identifies it: a cache of something derived from the model (a
    rendered document, say) is keyed by :attr:`key`.
    """

    version: int
    model: M
    digest: bytes = b""

    @property
    def key(self) -> tuple[int, bytes]:
        return self.version, self.digest


class Store(ABC, Generic[M]):
    """One model's shared state.

    Parameters
    ----------
    name
        The model's name, used in messages.
    model_type
        A class with ``to_state()`` and ``from_state(state)``; ``model_type()`` is the state
        before the first transaction (version 0, never written).
    capacity
        The largest frame, in bytes, the store can hold.
    """

    backend = "abstract"

    def __init__(self, name: str, model_type: type[M], capacity: int):
        self.name, self.model_type, self.capacity = name, model_type, capacity
        self._cached: Snapshot[M] | None = None

    # -- the interface ----------------------------------------------------------------------

    def read(self) -> Snapshot[M]:
        """The latest committed state; cheap when nothing changed since the last call."""
        cached = self._cached
        if cached is not None and self._peek() == (cached.version, cached.digest):
            return cached
        frame = self._load()
        if frame is None:
            snapshot = self._initial()
        elif cached is not None and frame.digest == cached.digest:
            return cached
        else:
            snapshot = self._snapshot(frame)
        self._cached = snapshot
        return snapshot

    @abstractmethod
    def transact(self, change: Callable[[M], R]) -> tuple[Snapshot[M], R]:
        """Apply ``change`` to a private copy of the latest model and commit it as one version.

        ``change`` mutates the model it is given and returns anything (say, a count of
        mistakes), which is handed back beside the new snapshot. If it raises, or the new state
        does not fit (:class:`StateTooLarge`), nothing is written.

        The model's ``to_state()`` must return copies of its arrays: they become the new
        snapshot's, read-only.
        """

    # -- for backends -----------------------------------------------------------------------

    @abstractmethod
    def _peek(self) -> tuple[int, bytes]:
        """(version, digest) of the newest frame, cheaply and unvalidated; (0, b"") when empty."""

    @abstractmethod
    def _load(self, locked: bool = False) -> Frame | None:
        """The newest valid frame, or None if nothing was ever committed.

        ``locked`` says the caller holds the write lock, so no writer can be mid-write.
        """

    def _apply(self, frame: Frame | None, change: Callable[[M], R]) -> tuple[Frame, Snapshot[M], R]:
        """Run ``change`` on a writable copy of ``frame``'s model; frame the result, checking its size."""
        cached = self._cached
        if frame is None:
            version, model = 0, self.model_type()
        elif cached is not None and (cached.version, cached.digest) == (frame.version, frame.digest):
            version, model = frame.version, self.model_type.from_state(cached.model.to_state())  # no decode
        else:
            version, model = frame.version, self.model_type.from_state(decode_state(frame.payload, writable=True))
        result = change(model)
        state = model.to_state()
        new_frame = Frame.build(version + 1, encode_state(state))
        if new_frame.size > self.capacity:
            raise StateTooLarge(self.name, new_frame.size, self.capacity, self._size_hint())
        # The snapshot is rebuilt from exactly the state that was encoded, with its arrays made
        # read-only, as a decoded one would be.
        for value in state.values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        return new_frame, Snapshot(new_frame.version, self.model_type.from_state(state), new_frame.digest), result

    def _size_hint(self) -> str:
        return ""

    def _snapshot(self, frame: Frame) -> Snapshot[M]:
        # Decoded from the committed bytes, with read-only arrays: what callers see is exactly
        # what every other process will read.
        return Snapshot(frame.version, self.model_type.from_state(decode_state(frame.payload)), frame.digest)

    def _initial(self) -> Snapshot[M]:
        if self._cached is not None and self._cached.version == 0:
            return self._cached
        return Snapshot(0, self.model_type(), b"")


class LockingStore(Store[M]):
    """The template of stores whose writers exclude each other with a lock held by every process."""

    def transact(self, change: Callable[[M], R]) -> tuple[Snapshot[M], R]:
        with self._lock():
            frame = self._load(locked=True)
            new_frame, snapshot, result = self._apply(frame, change)
            self._write(new_frame, replacing=frame)
        self._cached = snapshot
        return snapshot, result

    @abstractmethod
    def _lock(self) -> contextlib.AbstractContextManager:
        """Exclude other writers, in every process."""

    @abstractmethod
    def _write(self, frame: Frame, replacing: Frame | None) -> None:
        """Store ``frame`` as the newest; ``replacing`` is the frame it supersedes."""


class Backend(ABC):
    """Where every area of :mod:`voweler.state.layout` lives: one per app, chosen by a URL.

    ``name`` is what ``GET /api/health`` reports. :meth:`prepare` runs once per deployment,
    before any store opens (the SharedArea backend claims and, after a crash, restores its data
    directory there).
    """

    name = "abstract"

    def prepare(self) -> str | None:
        """Make the backend ready to serve; returns what it did, for the log, or None."""
        return None

    @abstractmethod
    def store(self, area: Area, model_type: type[M]) -> Store[M]:
        """The store of a store ``area``, holding models of ``model_type``."""

    @abstractmethod
    def tally(self, area: Area) -> Tally:
        """The tally of a tally ``area``."""
