"""The Store contract, run against every backend, and what only shared memory must survive.

The SharedArea backend runs here over an anonymous shared mmap with forked processes: real
shared memory and real SIGKILLs, but not uWSGI's lock. tests/test_uwsgi_*.py run the same code
under the real uWSGI, whose robust lock is what survives a killed holder.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import signal
import threading

import numpy as np
import pytest

from voweler.models import Perceptron
from voweler.state import StateTooLarge
from voweler.state.frame import HEADER_SIZE, Frame
from voweler.state.memory import MemoryStore
from voweler.state.sharedarea import SharedAreaStore

fork = multiprocessing.get_context("fork")


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


def shared_memory(size: int) -> memoryview:
    return memoryview(mmap.mmap(-1, size))  # MAP_SHARED: forked children write the same pages


def sharedarea_store(model_type, capacity, lock=None):
    lock = lock if lock is not None else fork.Lock()  # shared by forked children, but not robust
    return SharedAreaStore("test", model_type, shared_memory(2 * capacity), lock, where="test area")


@pytest.fixture(params=["memory", "sharedarea"])
def make_store(request):
    def make(model_type=Tally, capacity=16 * 1024):
        if request.param == "memory":
            return MemoryStore("test", model_type, capacity=capacity)
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


def run_in_child(target, *args) -> int:
    child = fork.Process(target=target, args=args)
    child.start()
    child.join(60)
    return child.exitcode


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
