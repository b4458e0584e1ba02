"""The Tally contract (the bandit's shared counters) on every backend, and its crash atomicity.

The shared variant runs over an anonymous shared mmap with forked processes and real SIGKILLs;
tests/test_uwsgi_bandit.py runs it under the real uWSGI and its robust lock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

import numpy as np
import pytest
import redis as redis_py

from processes import fork, run_in_child, shared_memory
from redis_server import record_commands
from voweler.state import Redemption, Roster, StaleRoster, StateError, StateUnavailable
from voweler.state import redis as redis_backend
from voweler.state.cells import JOURNAL_CELLS, CellTally, JournaledCells
from voweler.state.memory import memory_tally
from voweler.state.redis import RedisTally
from voweler.state.tally import EventKind

ROSTER = Roster.of(version=1, test=1, uids=[0, 1, 2])


@pytest.fixture(params=["memory", "sharedarea", "redis"])
def tally(request):
    if request.param == "memory":
        return memory_tally("test")
    if request.param == "redis":
        return RedisTally("test", request.getfixturevalue("redis_url"))  # a real redis-server, emptied
    return CellTally(shared_memory(CellTally.bytes_needed()), fork.Lock(), "test area")


def serve_many(tally, n, roster=ROSTER):
    return [tally.serve(roster, i % 3, 0.25, i) for i in range(n)]


# -- the contract ---------------------------------------------------------------------------


def test_serves_count_impressions_and_hand_out_consecutive_serials(tally):
    served = serve_many(tally, 30)
    assert [serial for _, serial in served] == list(range(30))
    versions = [version for version, _ in served]
    assert versions == list(range(versions[0], versions[0] + 30))  # one version per serve
    counts = tally.counts(ROSTER)
    assert counts.impressions[:3].tolist() == [10, 10, 10] and counts.clicks.sum() == 0
    assert counts.serves == 30 and counts.version == versions[-1]


def test_a_ticket_is_redeemed_once_and_only_its_arm_gets_the_click(tally):
    serve_many(tally, 3)
    outcome, version = tally.redeem(ROSTER, 1, uid=2, serial=2, clicked=True, now_ns=0)
    assert outcome is Redemption.ACCEPTED
    again, version_after = tally.redeem(ROSTER, 1, uid=2, serial=2, clicked=True, now_ns=0)
    assert again is Redemption.REDEEMED and version_after == version  # nothing changed
    assert tally.counts(ROSTER).clicks[:3].tolist() == [0, 0, 1]


def test_a_reward_without_a_click_uses_the_ticket_up(tally):
    serve_many(tally, 1)
    assert tally.redeem(ROSTER, 1, 0, 0, clicked=False, now_ns=0)[0] is Redemption.ACCEPTED
    assert tally.redeem(ROSTER, 1, 0, 0, clicked=True, now_ns=0)[0] is Redemption.REDEEMED
    assert tally.counts(ROSTER).clicks.sum() == 0


def test_a_serial_never_served_is_refused(tally):
    serve_many(tally, 2)
    assert tally.redeem(ROSTER, 1, 0, 2, True, 0)[0] is Redemption.UNKNOWN


def test_a_newer_roster_is_adopted_and_a_new_test_starts_from_zero(tally):
    serve_many(tally, 6)
    added = Roster.of(version=2, test=1, uids=[0, 1, 2, 3])
    tally.serve(added, 3, 0.5, 0)
    assert tally.counts(added).impressions[:4].tolist() == [2, 2, 2, 1]  # same test: counts kept
    fresh = Roster.of(version=3, test=2, uids=[0, 1])
    tally.sync(fresh)
    counts = tally.counts(fresh)
    assert counts.test == 2 and counts.impressions.sum() == 0 and counts.clicks.sum() == 0
    assert counts.serves == 7  # serials never repeat, across tests


def test_an_older_roster_is_refused_so_the_caller_reloads(tally):
    tally.sync(Roster.of(version=5, test=1, uids=[0]))
    with pytest.raises(StaleRoster):
        tally.serve(ROSTER, 0, 1.0, 0)
    assert tally.counts(Roster.of(5, 1, [0])).serves == 0  # nothing counted


def test_tickets_of_an_ended_test_or_a_removed_arm_count_nothing(tally):
    serve_many(tally, 3)
    removed = Roster.of(version=2, test=1, uids=[0, 1])
    assert tally.redeem(removed, 1, 2, 2, True, 0)[0] is Redemption.ARM_REMOVED
    new_test = Roster.of(version=3, test=2, uids=[0, 1])
    assert tally.redeem(new_test, 1, 0, 0, True, 0)[0] is Redemption.TEST_ENDED
    assert tally.counts(new_test).clicks.sum() == 0


def test_the_event_log_records_serves_and_rewards_in_order(tally):
    serve_many(tally, 2)
    tally.redeem(ROSTER, 1, 1, 1, True, now_ns=99)
    events = tally.events()
    assert events["seq"].tolist() == [0, 1, 2]
    assert events["kind"].tolist() == [EventKind.SERVE, EventKind.SERVE, EventKind.CLICK]
    assert events["serial"].tolist() == [0, 1, 1] and events["uid"].tolist() == [0, 1, 1]
    assert events["propensity"][0] == 0.25 and np.isnan(events["propensity"][2])
    assert events["time_ns"].tolist() == [0, 1, 99]
    assert tally.events(since=2)["seq"].tolist() == [2]
    assert tally.events(since=0, limit=1)["seq"].tolist() == [0]


def test_the_event_log_is_bounded_and_keeps_the_newest(tally):
    serve_many(tally, tally.log_capacity + 10)
    events = tally.events(since=0, limit=10**6)
    assert len(events) == tally.log_capacity - 1  # the slot being written next is never read
    assert events["seq"][-1] == tally.log_capacity + 9
    assert (np.diff(events["seq"]) == 1).all() and (events["serial"] == events["seq"]).all()


def test_the_secret_is_generated_once():
    memory = shared_memory(CellTally.bytes_needed())
    first = CellTally(memory, fork.Lock()).secret()
    assert len(first) == 32 and first == CellTally(memory, fork.Lock()).secret()
    assert first != memory_tally("other").secret()


def test_memory_of_another_layout_is_refused():
    memory = shared_memory(CellTally.bytes_needed())
    memory[8 * JOURNAL_CELLS : 8 * JOURNAL_CELLS + 8] = b"NOTVWLR!"
    with pytest.raises(StateError, match="another layout"):
        CellTally(memory, fork.Lock())
    with pytest.raises(StateError, match="needs"):
        CellTally(bytearray(4096), threading.Lock())


@pytest.mark.parametrize("backend", ["cells", "redis"])
def test_a_ticket_older_than_the_window_is_refused(backend, request):
    if backend == "redis":
        tally = type("SmallWindow", (RedisTally,), {"window": 128})("test", request.getfixturevalue("redis_url"))
    else:
        small = type("SmallWindow", (CellTally,), {"window": 128})
        tally = small(bytearray(small.bytes_needed()), threading.Lock())
    serve_many(tally, 128 + 5)
    assert tally.redeem(ROSTER, 1, 0, 4, True, 0)[0] is Redemption.TOO_OLD
    assert tally.redeem(ROSTER, 1, 2, 5, True, 0)[0] is Redemption.ACCEPTED
    # The bitmap slot of serial 5 is reused by serial 133: its redemption must not leak to it.
    serve_many(tally, 1)
    assert tally.redeem(ROSTER, 1, 0, 133, True, 0)[0] is Redemption.ACCEPTED


def test_threads_racing_to_redeem_the_same_tickets_count_each_once(tally):
    serve_many(tally, 300)
    accepted = []

    def redeem_all():
        mine = sum(tally.redeem(ROSTER, 1, s % 3, s, True, 0)[0] is Redemption.ACCEPTED for s in range(300))
        accepted.append(mine)

    threads = [threading.Thread(target=redeem_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(accepted) == 300 and tally.counts(ROSTER).clicks.sum() == 300


# -- several processes, real shared memory --------------------------------------------------


def race_to_redeem(tally, own_tally=lambda: None, per_process=500, processes=4):
    """Forked processes serve, then all try to redeem every even serial; the final counts.

    ``own_tally()`` gives a child a tally of its own (as another host has), used for half of
    its redemptions; None shares the parent's.
    """
    initial = tally.sync(ROSTER)  # the parent has opened its tally before it forks
    accepted = fork.Array("i", processes)
    all_served = fork.Barrier(processes)

    def work(index):
        mine = own_tally() or tally
        for _ in range(per_process):
            mine.serve(ROSTER, index % 3, 0.3, 0)
        all_served.wait()
        uids = tally.events(0, per_process * processes)["uid"]
        accepted[index] = sum(
            (tally if s % 4 else mine).redeem(ROSTER, 1, int(uids[s]), s, True, 0)[0] is Redemption.ACCEPTED
            for s in range(0, per_process * processes, 2)
        )

    children = [fork.Process(target=work, args=(i,)) for i in range(processes)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    assert [child.exitcode for child in children] == [0] * processes
    counts = tally.counts(ROSTER)
    assert counts.serves == counts.impressions.sum() == per_process * processes
    assert counts.impressions[:3].tolist() == [1000, 500, 500]
    # Each ticket was accepted exactly once, whichever process (or host) got there first.
    assert sum(accepted) == counts.clicks.sum() == per_process * processes // 2
    assert counts.version == initial + counts.serves + counts.clicks.sum()


def test_processes_serving_and_racing_to_redeem_lose_nothing_and_double_nothing():
    race_to_redeem(CellTally(shared_memory(CellTally.bytes_needed()), fork.Lock()))


def test_a_process_killed_mid_change_leaves_no_trace_of_it():
    """Children serve and redeem without pause and SIGKILL themselves at random moments.

    Wherever the kill lands, the next process to take the lock must find the counters as if the
    interrupted change never began: every impression has its serial, every click its redeemed
    ticket, and the version counts exactly the changes that happened.
    """
    memory = shared_memory(CellTally.bytes_needed())
    initial = CellTally(memory, threading.Lock()).sync(ROSTER)
    journal_length = memoryview(memory).cast("q")
    interrupted = 0
    for delay in np.random.default_rng(7).uniform(0, 0.003, size=40):

        def work():
            # Alone on the memory (the parent waits), so no lock is needed here; under uWSGI the
            # robust lock hands a dead holder's journal to the next holder.
            tally = CellTally(memory, contextlib.nullcontext())
            threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()
            while True:
                _, serial = tally.serve(ROSTER, 1, 0.5, 0)
                tally.redeem(ROSTER, 1, 1, serial, True, 0)

        assert run_in_child(work) == -signal.SIGKILL
        interrupted += journal_length[0] > 0  # killed inside a change: the next holder undoes it
        CellTally(memory, threading.Lock()).counts(ROSTER)
        assert journal_length[0] == 0
    assert interrupted > 0, "no kill landed inside a change: the test proved nothing"

    tally = CellTally(memory, threading.Lock())
    counts = tally.counts(ROSTER)
    assert counts.impressions[1] == counts.serves > 0
    clicks = counts.clicks[1]
    assert counts.serves - 40 <= clicks <= counts.serves  # at most the last serve of each child unredeemed
    assert counts.version == initial + counts.serves + clicks
    redeemed = sum(tally.redeem(ROSTER, 1, 1, s, True, 0)[0] is Redemption.REDEEMED for s in range(counts.serves))
    assert redeemed == clicks
    events = tally.events(0, 10**6)
    serves = events[events["kind"] == EventKind.SERVE]
    assert (np.diff(serves["serial"]) == 1).all() and serves["serial"][-1] == counts.serves - 1


def test_journaled_cells_undo_a_group_left_unfinished():
    """The journal itself: a group whose writer vanished is rolled back by the next holder."""
    memory = bytearray(8 * (JOURNAL_CELLS + 4))
    cells = JournaledCells(memory, threading.Lock())
    with cells.change() as group:
        group.set(0, 10)
        group.set(1, 20)
    # A writer that stopped after two of its three writes (what a SIGKILL leaves behind).
    group = cells._group
    group.set(0, 11)
    group.set(2, 30)
    group.set(0, 12)
    assert cells.read(0, 3) == [12, 20, 30]
    with cells.locked():
        assert cells.read(0, 3) == [10, 20, 0] and cells.recoveries == 1


def test_the_default_experiment_version_0_is_adopted_too(tally):
    """A fresh server serves its never-written default experiment (version 0): its test counts."""
    default = Roster.of(version=0, test=1, uids=[0, 1])
    _, serial = tally.serve(default, 0, 0.5, 0)
    assert tally.redeem(default, 1, 0, serial, True, 0)[0] is Redemption.ACCEPTED
    assert tally.counts(default).test == 1


def test_an_older_roster_is_ignored_by_reads_and_syncs(tally):
    """An edit whose own sync comes after a newer edit's must not fail: the tally is ahead."""
    newer = Roster.of(version=3, test=1, uids=[0, 1])
    tally.sync(newer)
    assert tally.sync(ROSTER) == tally.counts(ROSTER).version
    assert tally.counts(ROSTER).roster_version == 3  # the caller sees it is behind


def test_each_experiment_version_adopted_adds_one_to_the_version(tally):
    start = tally.sync(ROSTER)
    assert tally.sync(Roster.of(version=4, test=1, uids=[0, 1])) == start + 3  # versions 2, 3, 4


@pytest.mark.parametrize("memory", ["private", "shared"])
def test_a_new_test_that_fails_half_way_leaves_the_old_one_whole(memory):
    """The counters a new test zeroes come back if the change does not commit (the journal)."""
    buffer = bytearray(CellTally.bytes_needed()) if memory == "private" else shared_memory(CellTally.bytes_needed())
    tally = CellTally(buffer, threading.Lock())
    serve_many(tally, 6)
    tally.redeem(ROSTER, 1, 0, 0, True, 0)
    before = tally.counts(ROSTER)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with tally._cells.change() as group:
            tally._adopt(group, Roster.of(version=2, test=2, uids=[0]))
            raise Boom  # dies after zeroing the counters, before the change commits
    after = tally.counts(ROSTER)
    assert after.test == 1 and after.impressions.tolist() == before.impressions.tolist()
    assert after.clicks.tolist() == before.clicks.tolist() and after.version == before.version


# -- redis://: several hosts on one Redis ---------------------------------------------------------


def test_redis_processes_serving_and_racing_to_redeem_lose_nothing_and_double_nothing(redis_url):
    race_to_redeem(RedisTally("test", redis_url), own_tally=lambda: RedisTally("test", redis_url))


def test_redis_a_tally_of_another_layout_is_refused(redis_url):
    RedisTally("test", redis_url).sync(ROSTER)

    class LongerLog(RedisTally):
        log_capacity = 16384

    with pytest.raises(StateError, match="another layout") as refused:
        LongerLog("test", redis_url).serve(ROSTER, 0, 0.5, 0)
    assert not isinstance(refused.value, StateUnavailable)
    assert RedisTally("test", redis_url).counts(ROSTER).serves == 0  # nothing was written


def test_redis_the_secret_is_generated_once_for_every_process(redis_url):
    first = RedisTally("test", redis_url).secret()
    secrets_seen = fork.Queue()
    assert run_in_child(lambda: secrets_seen.put(RedisTally("test", redis_url).secret())) == 0
    assert len(first) == 32 and secrets_seen.get(timeout=5) == first == RedisTally("test", redis_url).secret()
    assert RedisTally("other", redis_url).secret() != first


def test_redis_each_operation_is_one_round_trip(redis_url, monkeypatch):
    tally = RedisTally("test", redis_url)
    _, serial = tally.serve(ROSTER, 1, 0.5, 0)  # each script's first use loads it (SCRIPT LOAD)
    tally.redeem(ROSTER, 1, 1, serial, True, 0), tally.counts(ROSTER), tally.events()
    sent = record_commands(redis_backend.connection(redis_url).client, monkeypatch)
    _, serial = tally.serve(ROSTER, 1, 0.5, 0)
    tally.redeem(ROSTER, 1, 1, serial, True, 0)
    tally.counts(ROSTER)
    tally.events()
    assert sent == ["EVALSHA"] * 4


def test_redis_scripts_forgotten_by_redis_are_loaded_again(redis_url):
    tally = RedisTally("test", redis_url)
    serve_many(tally, 2)
    with redis_py.Redis.from_url(redis_url) as client:
        client.script_flush()  # what a restarted Redis has: no scripts (NOSCRIPT)
    assert tally.serve(ROSTER, 0, 0.5, 0)[1] == 2


def test_redis_down_is_unavailable_at_once_and_back_without_reopening(own_redis):
    tally = RedisTally("test", own_redis.url)
    serve_many(tally, 3)
    own_redis.kill()
    for attempt in (lambda: tally.serve(ROSTER, 0, 0.5, 0), lambda: tally.redeem(ROSTER, 1, 0, 0, True, 0),
                    lambda: tally.counts(ROSTER), tally.events):  # fmt: skip
        started = time.monotonic()
        with pytest.raises(StateUnavailable, match=f"Redis at {own_redis.url}"):
            attempt()
        assert time.monotonic() - started < 1
    own_redis.start()  # the same port, empty (no persistence), without its scripts
    fresh = RedisTally("test", own_redis.url).sync(Roster.of(version=0, test=1, uids=[0]))
    assert fresh == 1 and tally.serve(ROSTER, 0, 0.5, 0) == (3, 0)  # a new tally: +1 per version, then the serve
