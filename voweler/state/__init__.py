"""How model state is framed, stored and shared between processes.

Two interfaces, one module per backend, chosen by a URL: :class:`Store` (``read()`` and
``transact(change)``) holds a model's whole state; :class:`Tally` holds a bandit's counters,
changed in place on every serve and reward.

``sharedarea://``
    uWSGI SharedAreas, one per model, in the order the app lists its models (the default under
    uWSGI).
``memory://``
    This process only (the default elsewhere: ``flask run``, unit tests).
``redis://host:port/db``
    One Redis, shared by the workers of several uWSGI deployments (hosts); ``?atomic=script``
    (the default) or ``?atomic=watch`` picks how a transaction commits (see
    :mod:`voweler.state.redis`). ``rediss://`` for TLS.
"""

from __future__ import annotations

from voweler.state.base import DEFAULT_CAPACITY, Snapshot, StateError, StateTooLarge, StateUnavailable, Store
from voweler.state.tally import Redemption, Roster, StaleRoster, Tally

__all__ = [
    "Redemption", "Roster", "Snapshot", "StaleRoster", "StateError", "StateTooLarge", "StateUnavailable",
    "Store", "Tally", "default_url", "open_store", "open_tally", "prepare",
]


def default_url() -> str:
    """``sharedarea://`` when running under uWSGI with SharedAreas configured, else ``memory://``."""
    try:
        import uwsgi
    except ImportError:
        return "memory://"
    return "sharedarea://" if hasattr(uwsgi, "sharedarea_memoryview") else "memory://"


def prepare(url: str) -> str | None:
    """Once per deployment, before the stores open: make durable state ready to resume from.

    Under uWSGI with file-backed SharedAreas this runs in the master, before any worker: it
    claims the data directory and, after a machine crash, restores the last snapshots (see
    :mod:`voweler.state.durable`). Returns what it did, for the log; None where there is nothing
    to do (other backends, anonymous areas). ``lazy-apps``, where only workers load the app, is
    refused with file-backed areas: nothing would claim the directory or restore it.
    """
    if _scheme(url) != "sharedarea":
        return None
    try:
        import uwsgi
    except ImportError:
        return None  # open_store says why sharedarea:// needs uWSGI
    from voweler.state import durable

    if uwsgi.worker_id() != 0:
        if durable.file_areas():
            raise StateError(
                "durable SharedAreas are prepared by the master before the workers start: remove lazy-apps "
                "(or lazy) from the uWSGI options"
            )
        return None
    return durable.recover()


def open_store(url: str, name: str, model_type, index: int, capacity: int | None = None) -> Store:
    """Open the store for model ``name``; under sharedarea:// it lives in SharedArea ``index``.

    ``capacity`` bounds a state's frame in bytes where the backend itself does not (redis://); a
    SharedArea's slot size is its capacity, and memory:// keeps its own.
    """
    scheme = _scheme(url)
    if scheme == "redis":
        from voweler.state.redis import RedisStore

        return RedisStore(name, model_type, url, capacity=capacity or DEFAULT_CAPACITY)
    if scheme == "memory":
        from voweler.state.memory import MemoryStore

        return MemoryStore(name, model_type, capacity=capacity or DEFAULT_CAPACITY)
    from voweler.state.sharedarea import SharedAreaStore

    return SharedAreaStore.from_uwsgi(name, model_type, area=index)


def open_tally(url: str, name: str, index: int) -> Tally:
    """Open the tally of bandit ``name``; under sharedarea:// it lives in SharedArea ``index``."""
    scheme = _scheme(url)
    if scheme == "redis":
        from voweler.state.redis import RedisTally

        return RedisTally(name, url)
    if scheme == "memory":
        from voweler.state.memory import memory_tally

        return memory_tally(name)
    from voweler.state.sharedarea import sharedarea_tally

    return sharedarea_tally(name, area=index)


def _scheme(url: str) -> str:
    """The backend ``url`` names: ``memory``, ``sharedarea`` or ``redis`` (for redis:// and rediss://)."""
    scheme, sep, _rest = url.partition("://")
    if sep and scheme in ("memory", "sharedarea"):
        return scheme
    if sep and scheme in ("redis", "rediss"):
        return "redis"
    raise StateError(
        f"unknown state URL {url!r}: use sharedarea:// (under uWSGI), memory://, or redis://host:port/db"
    )
