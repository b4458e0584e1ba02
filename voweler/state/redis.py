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

import numpy as np
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from voweler.state.base import DEFAULT_CAPACITY, StateError, StateUnavailable, Store
from voweler.state.frame import HEADER_SIZE, Frame, peek
from voweler.state.tally import _RECORD_DTYPE, Counts, EventKind, Redemption, StaleRoster, Tally, decode_records

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

    # The pessimistic template's primitives: transact() above replaces the template, and there
    # is no cross-process lock and no unconditional write.
    def _lock(self):
        return self._writers  # excludes this process's threads only

    def _write(self, frame, replacing):
        raise NotImplementedError("RedisStore commits only by compare-and-set, in transact()")

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
assert _RECORD.size == _RECORD_DTYPE.itemsize == 64


class RedisTally(Tally):
    """A :class:`Tally` in Redis: each operation is one Lua script, atomic across every host.

    The semantics are :class:`~voweler.state.tally.CellTally`'s, to the bit: the same roster
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

# Writes the new frame (ARGV[2]) only if the stored header is still the one the change was
# computed from (ARGV[1], empty if there was no frame): 1 if written, else the frame that won.
_COMPARE_AND_SET = """
if redis.call('GETRANGE', KEYS[1], 0, 39) ~= ARGV[1] then
  return redis.call('GET', KEYS[1])
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""

# Written as CellTally is: read its methods beside these. Lua numbers are doubles, exact up to
# 2^53: versions, serials and sequence numbers stay far below. Tests are compared as the decimal
# strings Python sent. A script checks everything before it writes anything, because Redis does
# not undo the writes of a script that fails half-way.
_TALLY = """
local tally, counts, redeemed, ring = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local slots, window, capacity = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local RECORD = 64

-- The tally as it stands; a new one is made on first use. One of another layout is refused.
local function load()
  local f = redis.call('HMGET', tally, 'layout', 'version', 'roster', 'test', 'live', 'serial', 'events')
  if not f[1] then
    local t = {version = 0, roster = -1, test = '0', live = string.rep('0', 64), serial = 0, events = 0}
    redis.call('HSET', tally, 'layout', ARGV[1], 'version', 0, 'roster', -1, 'test', t.test, 'live', t.live,
               'serial', 0, 'events', 0)
    return t
  end
  if f[1] ~= ARGV[1] then
    error({err = 'VWLR_LAYOUT ' .. tally .. ' holds a tally of another layout (' .. f[1] ..
                 '); delete its keys or give the tally another database'})
  end
  return {version = tonumber(f[2]), roster = tonumber(f[3]), test = f[4], live = f[5],
          serial = tonumber(f[6]), events = tonumber(f[7])}
end

-- Adopt the caller's roster (ARGV[5..7]) if it is newer. An older one is ignored, or refused
-- (false) if strict: the caller must reload the experiment.
local function adopt(t, strict)
  local version = tonumber(ARGV[5])
  if version == t.roster then return true end
  if version < t.roster then return not strict end
  if ARGV[6] ~= t.test then
    redis.call('DEL', counts)  -- a new test starts from zero
    t.test = ARGV[6]
  end
  -- One version per experiment transaction, even when several are adopted at once.
  t.live, t.roster, t.version = ARGV[7], version, t.version + (version - t.roster)
  redis.call('HSET', tally, 'test', t.test, 'live', t.live, 'roster', t.roster, 'version', t.version)
  return true
end

-- Append a record (packed by the caller) with the serial and version only the script knows.
local function log(t, record, serial, version)
  local at = (t.events % capacity) * RECORD
  redis.call('SETRANGE', ring, at, string.sub(record, 1, 32) .. struct.pack('<i8<i8', serial, version) ..
             string.sub(record, 49, 64))
  t.events = t.events + 1
end
"""

_SERVE = """
local t = load()
if not adopt(t, true) then return {1, t.roster} end
local uid, serial = tonumber(ARGV[8]), t.serial
t.version = t.version + 1
redis.call('BITFIELD', counts, 'INCRBY', 'i64', '#' .. uid, 1)
-- This serial's bit last belonged to serial - window, now too old to redeem: clear it for this one.
redis.call('SETBIT', redeemed, serial % window, 0)
log(t, ARGV[9], serial, t.version)
redis.call('HSET', tally, 'version', t.version, 'serial', serial + 1, 'events', t.events)
return {0, t.version, serial}
"""

_REDEEM = """
local t = load()
if not adopt(t, true) then return {1, t.roster} end
local test, uid, serial, clicked = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11] == '1'
if test ~= t.test then return {0, 4, t.version} end
if string.sub(t.live, uid + 1, uid + 1) ~= '1' then return {0, 5, t.version} end
if serial >= t.serial then return {0, 3, t.version} end
if serial < t.serial - window then return {0, 2, t.version} end
local bit = serial % window
if redis.call('GETBIT', redeemed, bit) == 1 then return {0, 1, t.version} end
redis.call('SETBIT', redeemed, bit, 1)
if clicked then
  redis.call('BITFIELD', counts, 'INCRBY', 'i64', '#' .. (slots + uid), 1)
end
t.version = t.version + 1
log(t, ARGV[12], serial, t.version)
redis.call('HSET', tally, 'version', t.version, 'events', t.events)
return {0, 0, t.version}
"""

# Syncs and counts ignore an older roster: they only adopt a newer one.
_SYNC = """
local t = load()
adopt(t, false)
return t.version
"""

_COUNTS = """
local t = load()
adopt(t, false)
return {t.version, t.roster, t.test, t.serial, t.events, redis.call('GET', counts) or ''}
"""

_EVENTS = """
local t = load()
local since, limit = tonumber(ARGV[5]), tonumber(ARGV[6])
-- As CellTally: the capacity - 1 newest records are readable.
local first = math.max(since, t.events - (capacity - 1), 0)
local last = math.min(t.events, first + limit)
if last <= first then return {first, ''} end
local start, stop = first % capacity, (last - 1) % capacity + 1
if start < stop then
  return {first, redis.call('GETRANGE', ring, start * RECORD, stop * RECORD - 1)}
end
return {first, redis.call('GETRANGE', ring, start * RECORD, capacity * RECORD - 1) ..
               redis.call('GETRANGE', ring, 0, stop * RECORD - 1)}
"""

_SECRET = """
redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])
"""

_SCRIPTS = {
    "compare_and_set": _COMPARE_AND_SET,
    "serve": _TALLY + _SERVE,
    "redeem": _TALLY + _REDEEM,
    "sync": _TALLY + _SYNC,
    "counts": _TALLY + _COUNTS,
    "events": _TALLY + _EVENTS,
    "secret": _SECRET,
}
