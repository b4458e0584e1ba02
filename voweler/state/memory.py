"""In-process backend: one process, any number of threads. For ``flask run`` and unit tests.

It frames and size-checks states exactly as the shared backends do, so code that works here
fails the same way there; it shares nothing with other processes.
"""

from __future__ import annotations

import threading

from voweler.state.base import DEFAULT_CAPACITY, Backend, LockingStore
from voweler.state.cells import CellTally
from voweler.state.frame import Frame


class MemoryStore(LockingStore):
    """A store in this process's memory.

    >>> from voweler.models import Perceptron
    >>> store = MemoryStore("perceptron", Perceptron)
    >>> store.read().version
    0
    >>> snapshot, mistakes = store.transact(lambda model: model.learn_many("aeiou"))
    >>> snapshot.version, snapshot.model.updates, store.read() is snapshot
    (1, 5, True)
    """

    backend = "memory"

    def __init__(self, name, model_type, capacity: int = DEFAULT_CAPACITY):
        super().__init__(name, model_type, capacity)
        self._frame: Frame | None = None
        self._mutex = threading.Lock()

    def _peek(self):
        frame = self._frame  # one reference read: atomic under the GIL
        return (0, b"") if frame is None else (frame.version, frame.digest)

    def _load(self, locked=False):
        return self._frame

    def _lock(self):
        return self._mutex

    def _write(self, frame, replacing):
        self._frame = frame


def memory_tally(name: str) -> CellTally:
    """A bandit tally in this process's memory, with a thread lock: the shared one's twin."""
    return CellTally(bytearray(CellTally.bytes_needed()), threading.Lock(), f"the {name} tally in memory")


class MemoryBackend(Backend):
    """``memory://``: every area in this process, sized as under sharedarea://."""

    name = "memory"

    def store(self, area, model_type):
        return MemoryStore(area.model, model_type, capacity=area.capacity)

    def tally(self, area):
        return memory_tally(area.model)
