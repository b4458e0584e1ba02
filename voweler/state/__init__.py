"""How model state is framed, stored and shared between processes.

One interface (:class:`Store`: ``read()`` and ``transact(change)``), one module per backend,
chosen by a URL:

``sharedarea://``
    uWSGI SharedAreas, one per model, in the order the app lists its models (the default under
    uWSGI).
``memory://``
    This process only (the default elsewhere: ``flask run``, unit tests).
"""

from __future__ import annotations

from voweler.state.base import Snapshot, StateError, StateTooLarge, StateUnavailable, Store

__all__ = ["Snapshot", "StateError", "StateTooLarge", "StateUnavailable", "Store", "open_store", "default_url"]


def default_url() -> str:
    """``sharedarea://`` when running under uWSGI with SharedAreas configured, else ``memory://``."""
    try:
        import uwsgi
    except ImportError:
        return "memory://"
    return "sharedarea://" if hasattr(uwsgi, "sharedarea_memoryview") else "memory://"


def open_store(url: str, name: str, model_type, index: int) -> Store:
    """Open the store for model ``name``, the ``index``-th model of the app, at ``url``."""
    scheme, sep, _rest = url.partition("://")
    if scheme == "memory" and sep:
        from voweler.state.memory import MemoryStore

        return MemoryStore(name, model_type)
    if scheme == "sharedarea" and sep:
        from voweler.state.sharedarea import SharedAreaStore

        return SharedAreaStore.from_uwsgi(name, model_type, area=index)
    raise StateError(f"unknown state URL {url!r}: use sharedarea:// (under uWSGI) or memory://")
