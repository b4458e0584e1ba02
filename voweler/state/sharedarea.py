"""uWSGI SharedArea backend: a store or a tally per area, shared by every worker of one uWSGI instance.

Why it is built this way (facts about uWSGI 2.0 that tests/test_uwsgi_facts.py pins):

* The area's own rwlock, taken by ``sharedarea_read``/``sharedarea_write``, is not robust: a
  worker killed while holding it (``harakiri`` kills with SIGKILL) wedges the area for good. So
  this backend never calls those functions. It reads and writes through
  ``sharedarea_memoryview``, which takes no lock.
* Writers serialize on a uWSGI user lock, a process-shared *robust* mutex: when its holder is
  killed, the next ``uwsgi.lock()`` recovers it. (``uwsgi.is_locked`` would steal it: never used.)
* Readers take no lock at all. The area is split into two slots, and a writer always writes the
  slot that does *not* hold the newest valid frame, payload first, header last. The newest frame
  is therefore never being overwritten while it is the newest. A reader copies the newest slot
  and validates the copy (length and digest, see :mod:`voweler.state.frame`); a copy torn by a
  concurrent writer, or a slot half-written by a killed one, fails validation, and the reader
  falls back to the other slot or tries again.

So a killed writer loses only its own unacknowledged transaction, and never wedges anyone.
"""

from __future__ import annotations

import contextlib
import threading

from voweler.state.base import Backend, LockingStore, StateError
from voweler.state.cells import CellTally
from voweler.state.frame import HEADER_SIZE, Frame, peek
from voweler.state.layout import Area, check_uwsgi

# Lock-free reads tried before a reader waits for the write lock to get a definite answer.
# Retries happen only when two commits land while one reader copies a slot.
_READ_ATTEMPTS = 8


class SharedAreaStore(LockingStore):
    """A store in a block of memory shared by processes, split into two slots.

    Parameters
    ----------
    memory
        A writable buffer shared by every process (a SharedArea's memoryview under uWSGI).
    lock
        A context manager that excludes writers in every process, and survives a holder's death.
    where
        Names the area in messages, e.g. "sharedarea 0".
    """

    backend = "sharedarea"

    def __init__(self, name, model_type, memory, lock: contextlib.AbstractContextManager, where: str = "the area"):
        memory = memoryview(memory).cast("B")
        slot = len(memory) // 2 // 8 * 8
        if memory.readonly or slot <= HEADER_SIZE:
            raise StateError(f"{where} must be writable and hold at least {2 * (HEADER_SIZE + 8)} bytes")
        super().__init__(name, model_type, capacity=slot)
        self.where = where
        self._memory = memory
        self._slots = (0, slot)
        self._writers = lock
        self._check_format()

    @classmethod
    def from_uwsgi(cls, area: Area, model_type) -> "SharedAreaStore":
        """The store of ``area`` in its SharedArea, with its user lock for the writers."""
        memory, lock, where = uwsgi_area(area)
        return cls(area.model, model_type, memory, lock, where)

    def _check_format(self) -> None:
        """Refuse an area written by another program or format instead of overwriting it.

        An area file outlives the code that wrote it (see :mod:`voweler.state.durable`). A slot
        is either all zeros (never written) or starts with this format's magic: a writer writes
        the header last and whole, so even a killed one leaves a known magic there.
        """
        for offset in self._slots:
            start = bytes(self._memory[offset : offset + 8])
            if any(start) and peek(self._memory, offset) is None:
                raise StateError(
                    f"{self.where} holds data of another program or format (it starts with {start!r}); "
                    "move its file away, or point VOWELER_DATA_DIR at a new directory"
                )

    # -- Store primitives -------------------------------------------------------------------

    def _headers(self) -> list[tuple[int, int, bytes, int]]:
        """(version, length, digest, offset) of each slot holding a header, newest first."""
        found = []
        for offset in self._slots:
            header = peek(self._memory, offset)
            if header is not None:
                found.append((*header, offset))
        found.sort(reverse=True)
        return found

    def _peek(self):
        headers = self._headers()
        return (headers[0][0], headers[0][2]) if headers else (0, b"")

    def _load(self, locked=False):
        for _ in range(1 if locked else _READ_ATTEMPTS):
            headers = self._headers()
            if not headers:
                return None
            for _version, length, _digest, offset in headers:
                if length <= self.capacity - HEADER_SIZE:
                    frame = Frame.parse(bytes(self._memory[offset : offset + HEADER_SIZE + length]))
                    if frame is not None:
                        return frame
        if locked:
            return None  # no slot was ever completely written: nothing was committed
        with self._writers:  # writers are out: whatever is there now is final
            return self._load(locked=True)

    def _lock(self):
        return self._writers

    def _target_slot(self, replacing: Frame | None) -> int:
        """The offset of the slot that does not hold ``replacing``, the newest valid frame."""
        if replacing is not None:
            for version, _length, digest, offset in self._headers():
                if (version, digest) == (replacing.version, replacing.digest):
                    return self._slots[1] if offset == self._slots[0] else self._slots[0]
        return self._slots[0]

    def _write(self, frame, replacing):
        target = self._target_slot(replacing)
        data = frame.to_bytes()
        # Header last: until it lands, this slot still announces its old frame, whose digest
        # no longer matches, so no reader takes a half-written payload for a state.
        self._memory[target + HEADER_SIZE : target + len(data)] = data[HEADER_SIZE:]
        self._memory[target : target + HEADER_SIZE] = data[:HEADER_SIZE]

    def _size_hint(self):
        return (
            f"{self.where} holds two states of at most half its size: raise its size in voweler/state/layout.py "
            "and uwsgi.ini alike, and start on a new VOWELER_DATA_DIR"
        )


def sharedarea_tally(area: Area) -> CellTally:
    """The tally of ``area`` in its SharedArea, changed under its user lock."""
    memory, lock, where = uwsgi_area(area)
    return CellTally(memory, lock, where)


def uwsgi_module():
    """uWSGI's Python module, or a StateError saying why sharedarea:// needs it."""
    try:
        import uwsgi
    except ImportError:
        raise StateError(
            "the sharedarea backend works only under uWSGI: start with `uwsgi --ini uwsgi.ini`, "
            "or set VOWELER_STATE=memory:// for a single process"
        ) from None
    if not hasattr(uwsgi, "sharedarea_memoryview"):
        raise StateError("uWSGI was started without SharedAreas: start it with `uwsgi --ini uwsgi.ini`, which declares them")
    return uwsgi


def uwsgi_area(area: Area):
    """``area``'s SharedArea memoryview, its user lock, and its name for messages."""
    uwsgi = uwsgi_module()
    where = f"sharedarea {area.index} ({area.label})"
    try:
        memory = uwsgi.sharedarea_memoryview(area.index)
    except Exception as error:
        raise StateError(f"{where} is missing: declare it in uwsgi.ini") from error
    lock = UwsgiLock(uwsgi, area.lock)
    lock.check()
    return memory, lock, where


class UwsgiLock:
    """A uWSGI user lock as a context manager, safe for threads within one worker too.

    uWSGI's user locks are process-shared robust mutexes: when a holder dies, the next
    ``uwsgi.lock(n)`` recovers the lock. Lock 0 is uWSGI's own (``uwsgidecorators``), so models
    use 1 and up. The thread lock keeps two threads of one worker from queueing on the process
    lock while one of them holds it.
    """

    def __init__(self, uwsgi_module, number: int):
        self._uwsgi, self.number = uwsgi_module, number
        self._threads = threading.Lock()

    def check(self) -> None:
        """Fail now, with a clear message, if uWSGI has no such lock."""
        try:
            with self:
                pass
        except Exception as error:
            raise StateError(f"uWSGI lock {self.number} is missing: uwsgi.ini needs `locks = {self.number}` or more") from error

    def __enter__(self):
        self._threads.acquire()
        try:
            self._uwsgi.lock(self.number)
        except BaseException:
            self._threads.release()
            raise
        return self

    def __exit__(self, *exc_info):
        try:
            self._uwsgi.unlock(self.number)
        finally:
            self._threads.release()


class SharedAreaBackend(Backend):
    """``sharedarea://``: every area of the layout in the SharedArea uwsgi.ini declares for it."""

    name = "sharedarea"

    def prepare(self) -> str | None:
        """Check uwsgi.ini against the layout; in the master, make durable state ready.

        Under uWSGI with file-backed SharedAreas this runs in the master, before any worker: it
        claims the data directory and, after a machine crash, restores the last snapshots (see
        :mod:`voweler.state.durable`). ``lazy-apps``, where only workers load the app, is refused
        with file-backed areas: nothing would claim the directory or restore it.
        """
        from voweler.state import durable

        uwsgi = uwsgi_module()
        memories = [memoryview(uwsgi.sharedarea_memoryview(index)).cast("B") for index in range(_declared_areas(uwsgi))]
        files = [durable.backing_file(memory) for memory in memories]
        try:
            check_uwsgi([len(memory) for memory in memories], [f and f.name for f in files], _option_int(uwsgi, "locks"))
        except ValueError as error:
            raise StateError(str(error)) from None
        if uwsgi.worker_id() != 0:
            if any(files):
                raise StateError(
                    "durable SharedAreas are prepared by the master before the workers start: remove lazy-apps "
                    "(or lazy) from the uWSGI options"
                )
            return None
        return durable.recover()

    def store(self, area, model_type):
        return SharedAreaStore.from_uwsgi(area, model_type)

    def tally(self, area):
        return sharedarea_tally(area)


def _declared_areas(uwsgi) -> int:
    """How many SharedAreas uWSGI was started with (uwsgi.opt keeps only the last option of a kind)."""
    count = 0
    while True:
        try:
            uwsgi.sharedarea_memoryview(count)
        except Exception:  # uWSGI raises ValueError past the last area
            return count
        count += 1


def _option_int(uwsgi, name: str) -> int:
    value = uwsgi.opt.get(name)
    value = value[-1] if isinstance(value, list) else value
    try:
        return int(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError):
        return 0
