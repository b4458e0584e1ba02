"""Durable SharedAreas: the state outlives uWSGI, and what a machine crash can still lose.

uwsgi.ini maps every SharedArea onto a file in the data directory (``VOWELER_DATA_DIR``,
``sharedarea = file=...``). Three layers keep the state, each for a different fault:

1. **The area files themselves.** Workers change the state in memory that *is* the file's page
   cache, so a worker, the master, or the whole process group killed at any instant loses
   nothing that was acknowledged: the kernel still holds every page and writes it back in its
   own time. A stop, a start, and a master reload (``echo r > master.fifo``) find the state as
   it was. (uWSGI never msyncs, so *when* those pages reach the disk is up to the kernel.)
2. **Snapshots**, against a machine crash. Pages of an area file reach the disk one at a time
   and in no particular order, so after a power cut the file may mix pages from different
   moments: a torn state. So the flusher (a uWSGI mule, :func:`run_flusher`) copies each area
   under its writers' lock every ``VOWELER_FLUSH_SECONDS`` (default 1) when it changed, and
   writes the copy to ``<area>.snapshot``: written to a temporary file, fsynced, renamed over
   the old one, directory fsynced. A snapshot is therefore always one whole, consistent state.
3. **Deciding which to trust**, in the master before any worker starts (:func:`recover`):

   * ``sealed`` exists: uWSGI stopped cleanly and its exit hook synced the area files after the
     last worker had gone (uwsgi.ini, ``exec-as-user-atexit``). The files are whole: use them.
   * ``boot_id`` names the running kernel's boot: the machine has not restarted since these
     files were last in use, so the page cache never lost a page: use them.
   * Otherwise the machine restarted without a clean stop of uWSGI (a crash, a power cut, or a
     reboot after uWSGI was killed): every area is restored from its snapshot.

So a machine crash loses at most the updates acknowledged in the last ``VOWELER_FLUSH_SECONDS``
(plus the time one snapshot takes to write); any fault short of that loses none.

An area file is used by one uWSGI at a time: the master holds an exclusive ``flock`` on
``<data dir>/lock`` for as long as any of its processes lives, and a second uWSGI pointed at the
same directory refuses to start (its locks would not be the first one's).

Linux only: the backing file of an area is found in ``/proc/self/maps``, and the boot in
``/proc/sys/kernel/random/boot_id``.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from voweler import settings
from voweler.state.base import StateError
from voweler.state.layout import AREAS

log = logging.getLogger(__name__)

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
SNAPSHOT_SUFFIX = ".snapshot"
SEALED = "sealed"  # written by uwsgi.ini's exit hook after syncing the area files
BOOT_MARKER = "boot_id"  # the boot in which the area files were last in use
LOCK = "lock"
LAYOUT = "layout"  # each area's number, file and size, as first started

# magic, area size, BLAKE2b-256 of the area's bytes; then the bytes
_SNAPSHOT_HEADER = struct.Struct("<8sQ32s")
_SNAPSHOT_MAGIC = b"VWLRSNP1"


@dataclass(frozen=True)
class FileArea:
    """A SharedArea mapped onto a file: its number, its memory, its writers' lock, its file."""

    index: int
    memory: memoryview
    lock: object
    path: Path

    @property
    def snapshot_path(self) -> Path:
        return self.path.with_name(self.path.name + SNAPSHOT_SUFFIX)


# -- finding the areas ------------------------------------------------------------------------


def backing_file(memory: memoryview, maps: Path = Path("/proc/self/maps")) -> Path | None:
    """The file that ``memory`` is a shared mapping of, or None for anonymous memory.

    Read off this process's memory map, so it is what the kernel says, not what a config file
    says it should be.
    """
    address = ctypes.addressof(ctypes.c_char.from_buffer(memory))
    try:
        lines = maps.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(maxsplit=5)
        start, end = (int(bound, 16) for bound in fields[0].split("-"))
        if start <= address < end:
            shared = fields[1][3] == "s"
            path = fields[5] if len(fields) == 6 else ""
            # anonymous shared memory shows as "/dev/zero (deleted)"; /dev/shm/... is a real file
            if shared and path.startswith("/") and not path.endswith("(deleted)") and path != "/dev/zero":
                return Path(path)
            return None
    return None


def file_areas() -> list[FileArea]:
    """Every area of the layout that uWSGI backs by a file, with its lock; [] if none."""
    from voweler.state.sharedarea import uwsgi_area

    areas = []
    for area in AREAS:
        try:
            memory, lock, _where = uwsgi_area(area)
        except StateError:  # only sharedarea:// checks uwsgi.ini's areas: snapshot those that exist
            continue
        memory = memoryview(memory).cast("B")
        path = backing_file(memory)
        if path is not None:
            areas.append(FileArea(area.index, memory, lock, path))
    return areas


# -- snapshots ----------------------------------------------------------------------------------


def write_snapshot(path: Path, data: bytes) -> None:
    """Replace the snapshot at ``path`` with ``data``, atomically and durably."""
    header = _SNAPSHOT_HEADER.pack(_SNAPSHOT_MAGIC, len(data), _digest(data))
    _write_durably(path, header + data)


def read_snapshot(path: Path) -> bytes | None:
    """The area bytes a snapshot holds; None if there is none. A damaged one is an error.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "area.snapshot"
    >>> read_snapshot(path) is None
    True
    >>> write_snapshot(path, b"state")
    >>> read_snapshot(path)
    b'state'
    """
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        return None
    if len(blob) >= _SNAPSHOT_HEADER.size:
        magic, size, digest = _SNAPSHOT_HEADER.unpack_from(blob)
        data = blob[_SNAPSHOT_HEADER.size :]
        if magic == _SNAPSHOT_MAGIC and size == len(data) and _digest(data) == digest:
            return data
    raise StateError(f"the snapshot {path} is damaged; move it away to start from the area file as it is")


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def current_boot() -> str:
    try:
        return BOOT_ID.read_text().strip()
    except OSError:
        return ""  # not Linux: every start counts as after a reboot, so snapshots are trusted


# -- at start: which copy to trust --------------------------------------------------------------

_held_lock = None  # the data directory's flock, held for the life of this uWSGI


def recover(areas: list[FileArea] | None = None) -> str:
    """In the master, before any worker runs: make the areas hold the state to resume from.

    Returns what was decided, for the log. Raises :class:`StateError`, changing nothing, if
    another uWSGI uses the data directory, the areas' sizes are not the directory's, or a
    snapshot to restore is damaged or does not fit its area.
    """
    areas = file_areas() if areas is None else areas
    if not areas:
        return "the SharedAreas are anonymous: the state lasts as long as this uWSGI"
    directories = {area.path.parent for area in areas}
    if len(directories) > 1:
        raise StateError(f"the SharedArea files must share one data directory, not {sorted(map(str, directories))}")
    directory = directories.pop()
    _lock_directory(directory)
    _check_layout(areas, directory)

    boot = current_boot()
    sealed, marker = directory / SEALED, directory / BOOT_MARKER
    last_boot = marker.read_text().strip() if marker.exists() else None
    if last_boot is None:
        decision = f"a new data directory, {directory}"
    elif sealed.exists():
        decision = f"resuming from the area files in {directory} (uWSGI stopped cleanly)"
    elif boot and last_boot == boot:
        decision = f"resuming from the area files in {directory} (the machine has not restarted since)"
    else:
        decision = _restore_snapshots(areas, directory)

    # From now on the files are live in this boot: record it durably before any worker writes,
    # and forget the seal, which described the files as they were before this start.
    _write_durably(marker, boot + "\n")
    sealed.unlink(missing_ok=True)
    for area in areas:  # a snapshot cut short when the last flusher was stopped
        area.snapshot_path.with_name(area.snapshot_path.name + ".tmp").unlink(missing_ok=True)
    _fsync_directory(directory)
    _name_holder()
    return decision


def _check_layout(areas: list[FileArea], directory: Path) -> None:
    """Refuse areas of other sizes than the ones this directory was written with.

    A store splits its area into two slots at half its size, so a resized area would read its
    second slot at the wrong offset and quietly resume from an older state. Areas added after the
    last one (a new model) change no existing area: the directory's layout grows with them.
    """
    layout = directory / LAYOUT
    wanted = "".join(f"{area.index} {area.path.name} {len(area.memory)}\n" for area in areas)
    found = layout.read_text() if layout.exists() else ""
    if not wanted.startswith(found):
        raise StateError(
            f"the SharedAreas of uwsgi.ini ({wanted.strip()!r}) are not the ones {directory} was written "
            f"with ({found.strip()!r}): start with the uwsgi.ini it was made with, or a new VOWELER_DATA_DIR"
        )
    if found != wanted:
        _write_durably(layout, wanted)


def _write_durably(path: Path, content: bytes | str) -> None:
    """Replace a file whole and durably: a crash leaves the old one or the new one, never half.

    Written to a temporary file, fsynced, renamed over ``path``, and the directory fsynced.
    """
    temporary = path.with_name(path.name + ".tmp")
    data = content.encode() if isinstance(content, str) else content
    try:
        with open(temporary, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)  # a full disk, say: leave the last good file alone
        raise
    _fsync_directory(path.parent)


def _restore_snapshots(areas: list[FileArea], directory: Path) -> str:
    restored, missing = [], []
    snapshots = [(area, read_snapshot(area.snapshot_path)) for area in areas]
    for area, data in snapshots:  # check them all before changing anything
        if data is not None and len(data) != len(area.memory):
            raise StateError(
                f"the snapshot {area.snapshot_path} holds {len(data)} bytes but SharedArea {area.index} has "
                f"{len(area.memory)}: restore it with the uwsgi.ini it was made with"
            )
    for area, data in snapshots:
        if data is None:
            missing.append(area.path.name)
        else:
            area.memory[:] = data
            restored.append(area.path.name)
    decision = f"the machine restarted since {directory} was last in use: restored {restored or 'nothing'} from snapshots"
    if missing:
        decision += f"; no snapshot of {missing}, kept as found"
    return decision


def _lock_directory(directory: Path) -> None:
    global _held_lock
    if _held_lock is not None:
        return
    handle = open(directory / LOCK, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "not yet known"
        handle.close()
        raise StateError(
            f"the data directory {directory} is in use by another uWSGI (master pid {holder}): "
            "give each deployment its own VOWELER_DATA_DIR"
        ) from None
    _held_lock = handle  # inherited by the workers and the mule, released when the last one exits


def _name_holder() -> None:
    """Write this master's pid into the lock file, once the directory is ready to be used.

    uwsgi.ini's exit hook seals the files only if its master's pid is there, so a master that
    failed before this point (refused, a damaged snapshot, another layout) never seals files
    that it did not prepare.
    """
    _held_lock.seek(0)
    _held_lock.truncate()
    _held_lock.write(f"{os.getpid()}\n")
    _held_lock.flush()


# -- the flusher --------------------------------------------------------------------------------


class Flusher:
    """Snapshots each file-backed area when it changed. :meth:`flush` once; :func:`run_flusher` forever."""

    def __init__(self, areas: list[FileArea]):
        self.areas = areas
        self._written: dict[int, bytes] = {}
        for area in areas:
            try:
                data = read_snapshot(area.snapshot_path)
            except StateError:
                data = None
            if data is not None:
                self._written[area.index] = _digest(data)

    def flush(self) -> int:
        """Snapshot every area that changed since its last snapshot; returns how many.

        All areas are copied in one moment, holding every area's lock: the bandit's tally
        follows its experiment (a new test, a removed arm), so copies of the two taken at
        different moments could restore a tally ahead of its experiment. Locks are taken in
        area order, and a worker holds at most one at a time, so this cannot deadlock. The
        snapshots are then written in area order: a crash between two leaves the later areas
        (the tally) older, never newer, than the earlier ones, which a tally tolerates.
        """
        with contextlib.ExitStack() as held:
            for area in self.areas:
                held.enter_context(area.lock)
            copies = [bytes(area.memory) for area in self.areas]  # no writer is half-way
        written = 0
        for area, data in zip(self.areas, copies):
            digest = _digest(data)
            if self._written.get(area.index) != digest:
                write_snapshot(area.snapshot_path, data)
                self._written[area.index] = digest
                written += 1
        return written


def run_flusher() -> None:  # pragma: no cover - runs as a uWSGI mule, tested through uWSGI
    """The mule's loop (uwsgi.ini: ``mule = voweler/state/flusher.py``)."""
    logging.basicConfig(level=logging.INFO, format="voweler flusher: %(message)s")
    interval = settings.value("VOWELER_FLUSH_SECONDS")
    flusher = Flusher(file_areas())
    if not flusher.areas:
        log.info("the SharedAreas are anonymous: nothing to snapshot")
        while True:
            time.sleep(3600)
    log.info("snapshotting %d areas every %s s", len(flusher.areas), interval)
    while True:
        started = time.monotonic()
        try:
            flusher.flush()
        except OSError as error:  # a full disk, say: keep serving, keep trying, say so
            log.error("could not write a snapshot: %s", error)
        time.sleep(max(0.0, interval - (time.monotonic() - started)))
