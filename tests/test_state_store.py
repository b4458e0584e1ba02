"""The Store contract, run against every backend, and what only shared memory must survive.

The SharedArea backend runs here over an anonymous shared mmap with forked processes: real
shared memory and real SIGKILLs, but not uWSGI's lock. tests/test_uwsgi_*.py run the same code
under the real uWSGI, whose robust lock is what survives a killed holder.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import redis as redis_py

from processes import fork, run_in_child, shared_memory
from redis_server import record_commands
from voweler.models import Perceptron
from voweler.state import StateError, StateTooLarge, StateUnavailable, area_of, open_backend
from voweler.state import redis as redis_backend
from voweler.state.frame import HEADER_SIZE, Frame
from voweler.state.memory import MemoryStore
from voweler.state.redis import RedisStore
from voweler.state.sharedarea import SharedAreaStore

ATOMIC = {"redis": "?atomic=script", "redis-watch": "?atomic=watch"}


class Tally:
    """A test model whose values must all agree with its count: a torn state would not."""

    def __init__(self, size: int = 256):
        self.count = 0
        self.values = np.zeros(size)

    def bump(self) -> int:
        self.count += 1
        self.values = np.full(len(self.values), float(self.count))
        return self.count

    def consistent(self) -> bool:
        return bool((self.values == self.count).all())

    def to_state(self):
        return {"count": self.count, "values": self.values}

    @classmethod
    def from_state(cls, state):
        Tally.decodes += 1
        tally = cls(len(state["values"]))
        tally.count, tally.values = state["count"], state["values"]
        return tally

    decodes = 0


class BigTally(Tally):
    def __init__(self, size: int = 8192):
        super().__init__(size)


def sharedarea_store(model_type, capacity, lock=None):
    lock = lock if lock is not None else fork.Lock()  # shared by forked children, but not robust
    return SharedAreaStore("test", model_type, shared_memory(2 * capacity), lock, where="test area")


@pytest.fixture(params=["memory", "sharedarea", "redis", "redis-watch"])
def make_store(request):
    def make(model_type=Tally, capacity=16 * 1024):
        if request.param == "memory":
            return MemoryStore("test", model_type, capacity=capacity)
        if request.param.startswith("redis"):
            url = request.getfixturevalue("redis_url")  # a real redis-server, emptied for this test
            return RedisStore("test", model_type, url + ATOMIC[request.param], capacity=capacity)
        return sharedarea_store(model_type, capacity)

    return make


# -- the contract: every backend ------------------------------------------------------------


def test_an_empty_store_reads_the_default_model_as_version_0(make_store):
    snapshot = make_store(Perceptron).read()
    assert snapshot.version == 0
    assert snapshot.model.weights.tobytes() == Perceptron().weights.tobytes()


def test_each_transaction_adds_exactly_one_to_the_version(make_store):
    store = make_store()
    for expected in range(1, 6):
        snapshot, result = store.transact(Tally.bump)
        assert snapshot.version == expected and result == expected and snapshot.model.count == expected
        assert store.read().version == expected


def test_a_read_decodes_again_only_when_the_version_changed(make_store):
    store = make_store()
    store.transact(Tally.bump)
    first = store.read()
    Tally.decodes = 0
    assert all(store.read() is first for _ in range(100))
    assert Tally.decodes == 0
    store.transact(Tally.bump)
    assert store.read().version == 2


def test_a_change_that_raises_writes_nothing(make_store):
    store = make_store()
    store.transact(Tally.bump)

    def bump_then_fail(tally):
        tally.bump()
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        store.transact(bump_then_fail)
    assert store.read().version == 1 and store.read().model.count == 1
    assert store.transact(Tally.bump)[0].version == 2  # and the lock was released


def test_a_state_too_large_is_refused_and_the_stored_state_stays(make_store):
    store = make_store(Perceptron, capacity=4096)
    store.transact(lambda model: model.learn_many("abc"))
    before = store.read()
    with pytest.raises(StateTooLarge) as refused:
        store.transact(lambda model: model.reset(dim=1000))
    assert refused.value.needed > refused.value.available == store.capacity
    assert f"{refused.value.needed:,}" in str(refused.value) and f"{store.capacity:,}" in str(refused.value)
    after = store.read()
    assert (after.version, after.model.dim, after.model.updates) == (before.version, 16, 3)
    assert store.transact(lambda model: model.learn_many("d"))[0].version == before.version + 1


def test_snapshots_are_read_only(make_store):
    store = make_store(Perceptron)
    snapshot, _ = store.transact(lambda model: model.learn_many("a"))
    with pytest.raises(ValueError):
        snapshot.model.learn_many("bcd")  # would change a state other requests are reading


def test_concurrent_transactions_from_threads_lose_nothing(make_store):
    store = make_store()
    versions = []

    def work():
        for _ in range(200):
            versions.append(store.transact(Tally.bump)[0].version)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == list(range(1, 1601))
    assert store.read().model.count == 1600


# -- shared memory: what several processes see ----------------------------------------------


def test_transactions_from_several_processes_lose_nothing():
    store = sharedarea_store(Tally, 16 * 1024)

    def work():
        for _ in range(300):
            store.transact(Tally.bump)

    assert [run_in_child(work) for _ in range(1)] == [0]  # warm: one child alone
    children = [fork.Process(target=work) for _ in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0] * 4
    snapshot = store.read()
    assert snapshot.version == snapshot.model.count == 1500


def test_a_writer_killed_mid_write_leaves_the_last_state_readable():
    # A per-process lock: a multiprocessing lock would stay held by the dead child. Recovering
    # the lock is uWSGI's robust mutex's job, shown in test_uwsgi_facts.py; this is about the data.
    store = sharedarea_store(Tally, 16 * 1024, lock=threading.Lock())
    store.transact(Tally.bump)
    store.transact(Tally.bump)

    def die_half_way(frame, replacing):
        # what SIGKILL (harakiri) does to a writer in the middle of its copy
        target = store._target_slot(replacing)
        data = frame.to_bytes()
        store._memory[target : target + len(data) // 2] = data[: len(data) // 2]
        os.kill(os.getpid(), signal.SIGKILL)

    def killed_writer():
        store._write = die_half_way
        store.transact(Tally.bump)

    assert run_in_child(killed_writer) == -signal.SIGKILL
    snapshot = store.read()
    assert (snapshot.version, snapshot.model.count) == (2, 2) and snapshot.model.consistent()
    assert store.transact(Tally.bump)[0].version == 3
    assert store.read().model.consistent()


def test_a_slot_announcing_a_newer_version_but_failing_validation_is_ignored():
    store = sharedarea_store(Tally, 16 * 1024)
    store.transact(Tally.bump)  # slot 0 holds version 1
    forged = bytearray(Frame.build(2, b"\x00" * 64).to_bytes())
    forged[-1] ^= 1
    offset = store._slots[1]
    store._memory[offset : offset + len(forged)] = bytes(forged)
    assert store._peek()[0] == 2  # the header claims version 2...
    assert store.read().version == 1  # ...but only a valid frame is ever taken
    assert store.transact(Tally.bump)[0].version == 2


def test_a_first_write_that_never_completed_means_nothing_was_committed():
    store = sharedarea_store(Tally, 16 * 1024)
    partial = Frame.build(1, b"\x01" * 500).to_bytes()[: HEADER_SIZE + 100]
    store._memory[: len(partial)] = partial
    assert store.read().version == 0
    assert store.transact(Tally.bump)[0].version == 1


def test_readers_racing_a_writer_never_see_a_torn_state():
    # 64 KiB states, rewritten as fast as one process can, read as fast as two others can.
    store = sharedarea_store(BigTally, 80 * 1024)
    results = fork.Queue()
    stop = fork.Event()

    def writer():
        for _ in range(3000):
            store.transact(Tally.bump)
        stop.set()

    def reader():
        seen, torn, last = set(), 0, 0
        while not stop.is_set():
            snapshot = store.read()
            torn += not snapshot.model.consistent() or snapshot.model.count != snapshot.version
            torn += snapshot.version < last  # a reader never goes back in time
            last = snapshot.version
            seen.add(snapshot.version)
        results.put((len(seen), torn))

    processes = [fork.Process(target=writer)] + [fork.Process(target=reader) for _ in range(2)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(180)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    for distinct_versions, torn in (results.get(timeout=5), results.get(timeout=5)):
        assert torn == 0
        assert distinct_versions > 50  # the readers really ran while the writer wrote


# -- redis://: what only a store shared over the network must do ------------------------------


def command_calls(url: str) -> dict[str, int]:
    """How often each command ran since the last CONFIG RESETSTAT, from INFO commandstats."""
    with redis_py.Redis.from_url(url) as client:
        return {name.removeprefix("cmdstat_"): stats["calls"] for name, stats in client.info("commandstats").items()}


def reset_command_stats(url: str) -> None:
    with redis_py.Redis.from_url(url) as client:
        client.config_resetstat()


def test_redis_a_read_with_no_change_fetches_only_the_header(redis_url):
    store = RedisStore("test", BigTally, redis_url, capacity=80 * 1024)
    store.transact(Tally.bump)
    store.read()
    reset_command_stats(redis_url)
    assert all(store.read().version == 1 for _ in range(100))
    calls = command_calls(redis_url)
    assert calls.get("getrange") == 100 and "get" not in calls  # 40 bytes each, not the 64 KiB frame
    other_host = RedisStore("test", BigTally, redis_url, capacity=80 * 1024)
    other_host.transact(Tally.bump)
    reset_command_stats(redis_url)
    assert store.read().version == 2
    assert command_calls(redis_url).get("get") == 1  # a changed version is fetched once


def test_redis_a_transaction_from_an_up_to_date_process_is_two_round_trips(redis_url, monkeypatch):
    store = RedisStore("test", Tally, redis_url)
    store.transact(Tally.bump)
    sent = record_commands(redis_backend.connection(redis_url).client, monkeypatch)
    store.transact(Tally.bump)
    assert sent == ["GETRANGE", "EVALSHA"]  # the header, then the compare-and-set: no GET


@pytest.mark.parametrize("atomic", ["script", "watch"])
def test_redis_hosts_racing_from_threads_retry_and_lose_nothing(redis_url, atomic):
    # One store per thread: each races the others as a separate host would (threads sharing one
    # store take turns instead).
    stores = [RedisStore("test", Tally, f"{redis_url}?atomic={atomic}") for _ in range(8)]
    versions = []

    def work(store):
        for _ in range(100):
            versions.append(store.transact(Tally.bump)[0].version)

    threads = [threading.Thread(target=work, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == list(range(1, 801))
    final = stores[0].read()
    assert final.model.count == final.version == 800 and final.model.consistent()
    assert sum(store.conflicts for store in stores) > 0, "no transaction ever lost a race: nothing was tested"


@pytest.mark.parametrize("atomic", ["script", "watch"])
def test_redis_processes_racing_retry_and_lose_nothing(redis_url, atomic):
    store = RedisStore("test", Tally, f"{redis_url}?atomic={atomic}")
    store.transact(Tally.bump)  # the parent has a client, with a connection, before it forks
    results = fork.Queue()

    def work():
        versions = [store.transact(Tally.bump)[0].version for _ in range(200)]
        results.put((versions, store.conflicts))

    children = [fork.Process(target=work) for _ in range(4)]
    for child in children:
        child.start()
    answers = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(30)
    assert [child.exitcode for child in children] == [0] * 4
    versions = sorted(v for got, _ in answers for v in got)
    assert versions == list(range(2, 802))
    assert store.read().model.count == store.read().version == 801
    assert sum(conflicts for _, conflicts in answers) > 0, "no transaction ever lost a race: nothing was tested"
    assert store.transact(Tally.bump)[0].version == 802  # the parent's own connection still works


def test_redis_each_forked_process_gets_its_own_client_and_connection(redis_url):
    """Pins what the backend relies on: no socket is shared across a fork.

    redis-py's ConnectionPool notices a new pid and starts afresh in the child without closing
    the parent's sockets; voweler also makes a new client per process (connection()).
    """
    parent = redis_backend.connection(redis_url)
    parent_id = parent.client.client_id()
    answers = fork.Queue()

    def child():
        # The inherited client object, used directly: redis-py must open a new connection.
        inherited_id = parent.client.client_id()
        mine = redis_backend.connection(redis_url)
        answers.put((inherited_id, mine is parent, mine.pid == os.getpid(), mine.client.client_id()))

    assert run_in_child(child) == 0
    inherited_id, same_object, own_pid, own_id = answers.get(timeout=5)
    assert inherited_id != parent_id and own_id != parent_id
    assert not same_object and own_pid
    assert redis_backend.connection(redis_url) is parent
    assert parent.client.client_id() == parent_id  # the child did not close the parent's socket


def test_redis_a_script_forgotten_by_redis_is_loaded_again(redis_url):
    store = RedisStore("test", Tally, redis_url)
    store.transact(Tally.bump)
    with redis_py.Redis.from_url(redis_url) as client:
        client.script_flush()  # what a restarted Redis has: no scripts (NOSCRIPT)
    assert store.transact(Tally.bump)[0].version == 2


def test_redis_a_value_that_is_not_a_frame_is_refused_and_left_alone(redis_url):
    store = RedisStore("test", Tally, redis_url)
    with redis_py.Redis.from_url(redis_url) as client:
        client.set(store.key, b"not a voweler frame")
        with pytest.raises(StateError, match="not a valid test state") as refused:
            store.read()
        assert not isinstance(refused.value, StateUnavailable)
        with pytest.raises(StateError, match="delete the key"):
            store.transact(Tally.bump)
        forged = bytearray(Frame.build(1, b"\x00" * 64).to_bytes())
        forged[-1] ^= 1  # a valid header, a payload that fails the digest
        client.set(store.key, bytes(forged))
        with pytest.raises(StateError, match="not a valid test state"):
            store.read()
        assert client.get(store.key) == bytes(forged)


def test_redis_urls_pick_the_backend_and_the_atomic_mode(redis_url):
    store = open_backend(redis_url + "?atomic=watch").store(area_of("perceptron"), Perceptron)
    assert (store.backend, store.atomic, store.capacity, store.key) == ("redis", "watch", 48 * 1024, "voweler:{perceptron}:frame")
    assert open_backend(redis_url).store(area_of("perceptron"), Perceptron).atomic == "script"
    with pytest.raises(StateError, match="atomic='lock'"):
        open_backend(redis_url + "?atomic=lock")
    secret = RedisStore("test", Tally, "redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in secret.where


@pytest.mark.parametrize("atomic", ["script", "watch"])
def test_redis_down_is_unavailable_at_once_and_back_without_reopening(atomic, own_redis):
    store = RedisStore("test", Tally, f"{own_redis.url}?atomic={atomic}")
    assert store.transact(Tally.bump)[0].version == 1
    own_redis.kill()
    for attempt in (store.read, lambda: store.transact(Tally.bump)):
        started = time.monotonic()
        with pytest.raises(StateUnavailable, match=f"Redis at {own_redis.url}") as refused:
            attempt()
        assert time.monotonic() - started < 1, refused.value
    own_redis.start()  # the same port, empty (no persistence), without its scripts
    assert store.read().version == 0  # what Redis kept: nothing
    assert store.transact(Tally.bump)[0].version == 1


def test_redis_that_hangs_is_unavailable_within_the_socket_timeout(own_redis):
    store = RedisStore("test", Tally, own_redis.url)
    store.transact(Tally.bump)
    os.kill(own_redis.process.pid, signal.SIGSTOP)  # accepts connections (the kernel does), answers nothing
    try:
        started = time.monotonic()
        with pytest.raises(StateUnavailable, match="Timeout"):
            store.transact(Tally.bump)
        assert time.monotonic() - started < 2 * redis_backend.CLIENT_DEFAULTS["socket_timeout"] + 1
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)
    assert store.read().version in (1, 2)  # a timed-out write may or may not have been applied
