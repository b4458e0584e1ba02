"""What every service shares: one refusal type, one retry helper, one cache of rendered documents.

A service stands between the web layer and the state of one model. It owns the model's
transactions, renders its documents, and caches each document once per state version, so a
read that finds nothing new costs a header peek and a dictionary lookup. It knows nothing of
HTTP: a request it refuses raises :class:`Rejected` with a reason, which the API maps to a status
(``voweler/api/errors.py``).
"""

from __future__ import annotations

import contextlib
import os
from typing import Callable, Hashable, TypeVar

import orjson

T = TypeVar("T")


class Rejected(Exception):
    """A request the service refuses; ``reason`` names why (the API's ``REASONS`` maps it to a status).

    >>> Rejected("bad_request", "letters must be lowercase a-z").reason
    'bad_request'
    """

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@contextlib.contextmanager
def refusing_bad_input(reasons: dict[type[ValueError], str] | None = None):
    """The models' refusals (ValueError and its subclasses) as :class:`Rejected`.

    Models check their own inputs, once, and raise ValueError; this turns that into a refusal
    with reason "bad_request", or the reason ``reasons`` gives for a subclass.

    >>> with refusing_bad_input({KeyError: "unknown"}):
    ...     int("x")
    Traceback (most recent call last):
    ...
    voweler.services.base.Rejected: invalid literal for int() with base 10: 'x'
    """
    try:
        yield
    except ValueError as error:
        reason = next((r for kind, r in (reasons or {}).items() if isinstance(error, kind)), "bad_request")
        raise Rejected(reason, str(error)) from None


def retrying(attempt: Callable[[], T], *, retry_on: type[Exception], attempts: int, busy: str) -> T:
    """``attempt()``, tried again while it raises ``retry_on``; after ``attempts`` tries, 503 ``busy``.

    For a change that meets a newer state than the one it was computed from, and must read again.

    >>> tries = iter([LookupError, LookupError, None])
    >>> def attempt():
    ...     error = next(tries)
    ...     if error:
    ...         raise error("stale")
    ...     return "done"
    >>> retrying(attempt, retry_on=LookupError, attempts=3, busy="kept changing")
    'done'
    """
    for _ in range(attempts):
        try:
            return attempt()
        except retry_on:
            continue
    raise Rejected("busy", busy)


class Cache:
    """The last value computed for each name, with the key it was computed for.

    One cache per service, for everything it derives from a state version: rendered documents
    (as JSON bytes), and views of a version that every request would otherwise rebuild. A new key
    replaces the old value: only the newest version is worth keeping.

    >>> cache, calls = Cache(), []
    >>> render = lambda: calls.append(1) or b"{}"
    >>> cache.get("document", (1, b"d1"), render), cache.get("document", (1, b"d1"), render), len(calls)
    (b'{}', b'{}', 1)
    """

    def __init__(self):
        self._last: dict[str, tuple[Hashable, object]] = {}

    def get(self, name: str, key: Hashable, compute: Callable[[], T]) -> T:
        last = self._last.get(name)
        if last is not None and last[0] == key:
            return last[1]
        value = compute()
        self._last[name] = (key, value)  # one assignment: threads may compute twice, never mix
        return value


_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def encode(body: dict) -> bytes:
    """``body`` plus ``"pid"`` (the worker answering), as JSON.

    Encoded with orjson: a perceptron document is a few hundred floats, which the standard
    library's encoder takes about ten times longer to write. Floats are written as their
    shortest round-trip form, so clients get the exact bits the model holds.
    """
    return orjson.dumps({**body, "pid": os.getpid()}, option=_OPTIONS)
