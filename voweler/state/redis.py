"""Redis backend: one Redis shared by every worker of several uWSGI deployments (hosts).

``VOWELER_STATE=redis://host:port/db`` (``rediss://`` for TLS). Two options go in the query:

``atomic=script`` (the default)
    A transaction reads the frame, computes the new one in Python, and commits it with a Lua
    compare-and-set: the script writes only if the stored header is still the one the change
    was computed from. Otherwise it answers the frame that won, and the change is computed again
    from that one.
``atomic=watch``
    The same optimistic transaction with ``WATCH``/``MULTI``/``EXEC``: ``EXEC`` fails if the key
    changed after ``WATCH``, and the transaction reads and tries again.

Any other query option is redis-py's (``socket_timeout=5``, say); they override the defaults
below.

Keys, each under a hash tag (``{perceptron}``), so that one model's keys share a Cluster slot::

    voweler:{<model>}:frame      a Store's frame: the same bytes as a SharedArea slot (frame.py)
    voweler:{<bandit>}:tally     hash: layout, version, roster, test, live, serial, events
    voweler:{<bandit>}:counts    string: big-endian int64 counters (BITFIELD), impressions by
                                 arm slot, then clicks; deleted when a new test starts
    voweler:{<bandit>}:redeemed  bitmap of Tally.window bits: bit ``serial % window`` is set once
                                 that serve's ticket is redeemed, and cleared when serial + window
                                 is served (CellTally's bitmap, bit for bit)
    voweler:{<bandit>}:events    string: a ring of log_capacity 64-byte records (CellTally's record)
    voweler:{<bandit>}:secret    the bandit's 32-byte secret, set once (SET NX)

Why it is built this way:

* **Readers stay cheap.** A read asks for the frame's 40-byte header only (``GETRANGE 0 39``),
  and fetches and decodes the whole frame only when the version changed.
* **A Redis write is atomic.** ``SET``, a script and ``EXEC`` are applied whole or not at all, so
  a frame is never torn. A stored frame that fails validation was not written by voweler: it
  is refused (:class:`StateError`), never decoded and never overwritten.
* **Every tally operation is one Lua script:** atomic across hosts, and one round trip.
* **One client per process, made after the fork.** uWSGI forks its workers from the master, where
  the app (and its stores) were created: a socket inherited across a fork would be shared by
  two processes. Clients are looked up by URL and process id, and made on first use.
* **Redis down is a 503, quickly.** Connecting and reading time out after 2 s, redis-py does not
  retry (a retried write could commit twice), and every Redis error becomes
  :class:`StateUnavailable` naming the URL. A pooled connection that Redis closed is replaced
  when it is next taken from the pool, and a script that a restarted Redis forgot (NOSCRIPT) is
  loaded again by redis-py's ``Script``: service resumes without restarting uWSGI.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import secrets
import struct
import threading
import time
import urllib.parse
from importlib import resources

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from voweler.state.base import DEFAULT_CAPACITY, Backend, StateError, StateUnavailable, Store
from voweler.state.frame import HEADER_SIZE, Frame, peek
from voweler.state.tally import RECORD_DTYPE, Counts, EventKind, Redemption, StaleRoster, Tally, decode_records

ATOMIC_MODES = ("script", "watch")
# Client settings, unless the URL's query says otherwise: a dead Redis must give a quick 503, not
# a worker hung until harakiri; and no automatic retry, which could apply a write twice.
CLIENT_DEFAULTS = {"socket_connect_timeout": 2.0, "socket_timeout": 2.0, "retry": Retry(NoBackoff(), 0)}
CONTENTION_SECONDS = 5.0  # a transaction that keeps losing the race this long gives up with a 503


# -- URLs and clients -------------------------------------------------------------------------


def parse_url(url: str) -> tuple[str, str]:
    """(the URL for redis-py, the atomic mode) from a ``VOWELER_STATE`` URL.

    >>> parse_url("redis://127.0.0.1:6379/0?atomic=watch&socket_timeout=5")
    ('redis://127.0.0.1:6379/0?socket_timeout=5', 'watch')
    >>> parse_url("redis://127.0.0.1:6379/0")
    ('redis://127.0.0.1:6379/0', 'script')
    """
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    modes = [value for key, value in query if key == "atomic"]
    atomic = modes[-1] if modes else "script"
    if atomic not in ATOMIC_MODES:
        raise StateError(f"{redact(url)}: atomic={atomic!r} is not one of {', '.join(ATOMIC_MODES)}")
    rest = urllib.parse.urlencode([(key, value) for key, value in query if key != "atomic"])
    client_url = urllib.parse.urlunsplit(parts._replace(query=rest))
    try:
        redis.connection.parse_url(client_url)
    except ValueError as error:
        raise StateError(f"{redact(url)} is not a Redis URL redis-py accepts: {error}") from None
    return client_url, atomic


def redact(url: str) -> str:
    """``url`` without its password, for messages.

    >>> redact("redis://user:hunter2@db:6379/0")
    'redis://user:***@db:6379/0'
    """
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


class Connection:
    """One process's redis-py client for one URL, and the scripts registered with it."""

    def __init__(self, url: str):
        self.pid = os.getpid()
        self.client = redis.Redis.from_url(url, **CLIENT_DEFAULTS)
        # redis-py's Script runs EVALSHA and, on NOSCRIPT (a restarted Redis), loads the script
        # again and retries: nothing ran, so the retry is safe.
        self.scripts = {name: self.client.register_script(source) for name, source in _SCRIPTS.items()}


_connections: dict[str, Connection] = {}


def connection(url: str) -> Connection:
    """The client of this process for ``url``: made on first use, and again in a forked child."""
    found = _connections.get(url)
    if found is None or found.pid != os.getpid():
        # In a forked child the parent's client is dropped; redis-py closes its inherited
        # sockets there without shutting them down, so the parent's connections keep working.
        found = _connections[url] = Connection(url)
    return found


@contextlib.contextmanager
def reaching(what: str, where: str):
    """Turn redis-py's errors into the state layer's, naming what was being done and where."""
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as error:  # BusyLoadingError is a ConnectionError
        reason = str(error) or type(error).__name__
        raise StateUnavailable(f"{what}: Redis at {where} is unavailable ({reason}); try again shortly") from None
    except redis.ResponseError as error:
        if _transient(error):
            raise StateUnavailable(f"{what}: Redis at {where} refused it for now ({error}); try again shortly") from None
        raise StateError(f"{what}: Redis at {where} refused it: {error}") from None
    except redis.RedisError as error:
        raise StateError(f"{what}: Redis at {where} failed: {error}") from None


def _transient(error: redis.ResponseError) -> bool:
    """Errors a healthy Redis gives for a while: a replica, no memory, a failing RDB save, failover."""
    if isinstance(error, (redis.exceptions.ReadOnlyError, redis.exceptions.OutOfMemoryError)):
        return True
    return str(error).split(" ", 1)[0] in {"MISCONF", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "BUSY"}


def _key(name: str, part: str) -> str:
    return f"voweler:{{{name}}}:{part}"


# -- the Store --------------------------------------------------------------------------------


class RedisStore(Store):
    """A model's state as one frame in one Redis key, changed by optimistic transactions.

    Parameters
    ----------
    url
        ``redis://host:port/db``, optionally with ``?atomic=script`` or ``?atomic=watch``.
    capacity
        The largest frame, in bytes (the app passes its SharedArea slot sizes).

    Examples
    --------
    See tests/test_state_store.py: the Store contract runs against a real redis-server.
    """

    backend = "redis"

    def __init__(self, name, model_type, url: str, capacity: int = DEFAULT_CAPACITY):
        super().__init__(name, model_type, capacity)
        self.url, self.atomic = parse_url(url)
        self.where = redact(url)
        self.key = _key(name, "frame")
        self._frame: Frame | None = None  # the newest frame this process read or wrote
        # Threads of one process take turns (racing each other would only waste work);
        # processes and hosts race, and the loser computes its change again.
        self._writers = threading.Lock()
        self.conflicts = 0  # transactions computed again in this process because another won

    # -- reading ----------------------------------------------------------------------------

    def _peek(self):
        with reaching(f"reading the {self.name} state", self.where):
            header = connection(self.url).client.getrange(self.key, 0, HEADER_SIZE - 1)
        return self._version_of(header)

    def _load(self, locked=False):
        with reaching(f"reading the {self.name} state", self.where):
            data = connection(self.url).client.get(self.key)
        return self._parse(data)

    def _version_of(self, header: bytes) -> tuple[int, bytes]:
        if not header:
            return 0, b""
        found = peek(header)
        if found is None:
            raise self._foreign()
        return found[0], found[2]

    def _parse(self, data: bytes | None) -> Frame | None:
        if data is None:
            return None
        frame = Frame.parse(data)
        if frame is None:
            raise self._foreign()
        self._frame = frame
        return frame

    def _foreign(self) -> StateError:
        # Redis writes a value whole, so a frame that fails validation was not written by voweler.
        return StateError(
            f"Redis key {self.key} at {self.where} holds something that is not a valid {self.name} state; "
            "voweler neither reads nor overwrites it: delete the key to start the model over"
        )

    def _current(self, reader) -> Frame | None:
        """The stored frame, read through ``reader`` (the client, or a pipeline after WATCH).

        The header first: when it is the header of the frame this process already has, that
        frame is used and the payload is not fetched.
        """
        header = reader.getrange(self.key, 0, HEADER_SIZE - 1)
        if not header:
            return None
        mine = self._frame
        if mine is not None and mine.header() == header:
            return mine
        return self._parse(reader.get(self.key))

    # -- writing ----------------------------------------------------------------------------

    def transact(self, change):
        with self._writers, reaching(f"changing the {self.name} state", self.where):
            if self.atomic == "watch":
                new_frame, snapshot, result = self._transact_watch(change)
            else:
                new_frame, snapshot, result = self._transact_script(change)
        self._frame, self._cached = new_frame, snapshot
        return snapshot, result

    def _transact_script(self, change):
        """GETRANGE (and GET if the frame is new to this process), then EVALSHA: 2 round trips."""
        redis_here = connection(self.url)
        compare_and_set = redis_here.scripts["compare_and_set"]
        frame = self._current(redis_here.client)
        deadline = time.monotonic() + CONTENTION_SECONDS
        for attempt in itertools.count():
            new_frame, snapshot, result = self._apply(frame, change)
            expected = frame.header() if frame is not None else b""
            answer = compare_and_set(keys=[self.key], args=[expected, new_frame.to_bytes()])
            if answer == 1:
                return new_frame, snapshot, result
            frame = self._parse(answer)  # the frame that won: compute the change again from it
            self._lost(attempt, deadline)

    def _transact_watch(self, change):
        """WATCH, GETRANGE (and GET), then MULTI/SET/EXEC sent together: 3 round trips."""
        deadline = time.monotonic() + CONTENTION_SECONDS
        with connection(self.url).client.pipeline(transaction=True) as pipe:
            for attempt in itertools.count():
                try:
                    pipe.watch(self.key)
                    frame = self._current(pipe)  # immediate mode until multi()
                    new_frame, snapshot, result = self._apply(frame, change)
                    pipe.multi()
                    pipe.set(self.key, new_frame.to_bytes())
                    pipe.execute()  # WatchError if the key changed since WATCH: nothing written
                    return new_frame, snapshot, result
                except redis.WatchError:
                    self._lost(attempt, deadline)

    def _lost(self, attempt: int, deadline: float) -> None:
        """Another process committed first: wait a little (more each time), or give up."""
        self.conflicts += 1
        if time.monotonic() > deadline:
            raise StateUnavailable(
                f"the {self.name} state at {self.where} changed {attempt + 1} times while this process "
                "was changing it (too many writers at once); try again"
            )
        if attempt >= 2:  # jitter, so that the same two processes do not keep colliding
            time.sleep(random.uniform(0, min(0.0005 * 2 ** (attempt - 2), 0.02)))

    def _size_hint(self):
        return f"voweler keeps each {self.name} state in Redis within {self.capacity:,} bytes, as in a SharedArea slot"


# -- the Tally --------------------------------------------------------------------------------

# A log record as CellTally lays it out (8 little-endian cells); the script fills in serial and
# version, which only it knows.
_RECORD = struct.Struct("<qqqqqqdq")
assert _RECORD.size == RECORD_DTYPE.itemsize == 64


class RedisTally(Tally):
    """A :class:`Tally` in Redis: each operation is one Lua script, atomic across every host.

    The semantics are :class:`~voweler.state.cells.CellTally`'s, to the bit: the same roster
    adoption, redemption window, outcomes, versions and event records.
    """

    def __init__(self, name: str, url: str):
        self.name = name
        self.url, _atomic = parse_url(url)
        self.where = redact(url)
        self.keys = [_key(name, part) for part in ("tally", "counts", "redeemed", "events")]
        self._secret_key = _key(name, "secret")
        self._secret: bytes | None = None

    def _layout(self) -> list:
        layout = f"VWLRTLY1 slots={self.slots} window={self.window} log={self.log_capacity}"
        return [layout, self.slots, self.window, self.log_capacity]

    def _run(self, script: str, what: str, *args):
        with reaching(f"{what} the {self.name} tally", self.where):
            return connection(self.url).scripts[script](keys=self.keys, args=[*self._layout(), *args])

    @staticmethod
    def _roster(roster) -> list:
        live = format(roster.live & (1 << 64) - 1, "064b")[::-1]  # character u: arm slot u
        return [roster.version, roster.test, live]

    def _stale(self, current: int, roster) -> StaleRoster:
        return StaleRoster(f"the experiment changed (version {current}); this process has version {roster.version}")

    # -- the interface ----------------------------------------------------------------------

    def secret(self) -> bytes:
        if self._secret is None:
            with reaching(f"reading the {self.name} secret", self.where):
                script = connection(self.url).scripts["secret"]
                self._secret = script(keys=[self._secret_key], args=[secrets.token_bytes(32)])
        return self._secret

    def sync(self, roster):
        return self._run("sync", "updating", *self._roster(roster))

    def serve(self, roster, uid, propensity, now_ns):
        if not (roster.live >> uid) & 1:
            raise ValueError(f"arm slot {uid} is not live in this roster")
        record = _RECORD.pack(now_ns, EventKind.SERVE, roster.test, uid, 0, 0, propensity, 0)  # serial, version: the script's
        answer = self._run("serve", "counting a serve in", *self._roster(roster), uid, record)
        if answer[0]:
            raise self._stale(answer[1], roster)
        return answer[1], answer[2]

    def redeem(self, roster, test, uid, serial, clicked, now_ns):
        kind = EventKind.CLICK if clicked else EventKind.NO_CLICK
        record = _RECORD.pack(now_ns, kind, test, uid, 0, 0, float("nan"), 0)  # serial, version: the script's
        answer = self._run("redeem", "redeeming a ticket in", *self._roster(roster), test, uid, serial, int(clicked), record)
        if answer[0]:
            raise self._stale(answer[1], roster)
        return _OUTCOMES[answer[1]], answer[2]

    def counts(self, roster):
        version, roster_version, test, serial, events, raw = self._run("counts", "reading", *self._roster(roster))
        size = 16 * self.slots  # impressions, then clicks: int64 each
        both = np.frombuffer(raw.ljust(size, b"\0")[:size], dtype=">i8").astype(np.int64)
        return Counts(version, roster_version, int(test), both[: self.slots], both[self.slots :], serial, events)

    def events(self, since=0, limit=1000):
        first, raw = self._run("events", "reading the events of", max(int(since), 0), max(int(limit), 0))
        return decode_records(raw, first)


_OUTCOMES = {
    0: Redemption.ACCEPTED, 1: Redemption.REDEEMED, 2: Redemption.TOO_OLD, 3: Redemption.UNKNOWN,
    4: Redemption.TEST_ENDED, 5: Redemption.ARM_REMOVED,
}  # fmt: skip


# -- the scripts ------------------------------------------------------------------------------


def _lua(name: str) -> str:
    return (resources.files("voweler.state") / "lua" / f"{name}.lua").read_text()


# Each tally script is the shared prelude (lua/tally.lua: load, adopt, log) and its own body.
_SCRIPTS = {
    "compare_and_set": _lua("compare_and_set"),
    "secret": _lua("secret"),
    **{name: _lua("tally") + _lua(name) for name in ("serve", "redeem", "sync", "counts", "events")},
}


class RedisBackend(Backend):
    """``redis://host:port/db``: every area as keys in one Redis, stores sized as their SharedAreas."""

    name = "redis"

    def __init__(self, url: str):
        parse_url(url)  # a bad URL or atomic mode fails now, naming itself
        self.url = url

    def store(self, area, model_type):
        return RedisStore(area.model, model_type, self.url, capacity=area.capacity)

    def tally(self, area):
        return RedisTally(area.model, self.url)
