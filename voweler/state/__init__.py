"""How model state is framed, stored and shared between processes.

Nothing outside this package knows bytes, slots or lock numbers. What it offers:

* :class:`Store` (``read()`` and ``transact(change)``): a model's whole state, one frame per
  version (:mod:`voweler.state.base`, :mod:`voweler.state.frame`);
* :class:`Tally`: a bandit's counters, changed in place on every serve and reward
  (:mod:`voweler.state.tally`);
* :data:`~voweler.state.layout.AREAS`: the one registry of where each store and tally lives;
* :func:`open_backend`: the :class:`Backend` a URL names, which opens the store or tally of an area.

``sharedarea://``
    uWSGI SharedAreas, one per area (the default under uWSGI): :mod:`voweler.state.sharedarea`.
``memory://``
    This process only (the default elsewhere: ``flask run``, unit tests): :mod:`voweler.state.memory`.
``redis://host:port/db``
    One Redis, shared by the workers of several uWSGI deployments (hosts); ``?atomic=script``
    (the default) or ``?atomic=watch`` picks how a transaction commits: :mod:`voweler.state.redis`.
    ``rediss://`` for TLS.
"""

from __future__ import annotations

from voweler.state.base import Backend, Snapshot, StateError, StateTooLarge, StateUnavailable, Store
from voweler.state.layout import AREAS, Area, Kind, area_of, lock_holders
from voweler.state.tally import Counts, EventKind, Redemption, Roster, StaleRoster, Tally

__all__ = [
    "AREAS", "Area", "Backend", "Counts", "EventKind", "Kind", "Redemption", "Roster", "Snapshot", "StaleRoster",
    "StateError", "StateTooLarge", "StateUnavailable", "Store", "Tally", "area_of", "default_url", "lock_holders",
    "open_backend",
]  # fmt: skip


def default_url() -> str:
    """``sharedarea://`` when running under uWSGI with SharedAreas configured, else ``memory://``."""
    try:
        import uwsgi
    except ImportError:
        return "memory://"
    return "sharedarea://" if hasattr(uwsgi, "sharedarea_memoryview") else "memory://"


def open_backend(url: str | None = None) -> Backend:
    """The backend ``url`` names (by default :func:`default_url`'s); a StateError for any other URL."""
    url = url or default_url()
    scheme, sep, _rest = url.partition("://")
    if sep and scheme == "memory":
        from voweler.state.memory import MemoryBackend

        return MemoryBackend()
    if sep and scheme == "sharedarea":
        from voweler.state.sharedarea import SharedAreaBackend

        return SharedAreaBackend()
    if sep and scheme in ("redis", "rediss"):
        from voweler.state.redis import RedisBackend

        return RedisBackend(url)
    raise StateError(
        f"unknown state URL {url!r}: use sharedarea:// (under uWSGI), memory://, or redis://host:port/db"
    )
