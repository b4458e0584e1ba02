"""The bandit service (voweler/services/bandit.py) between the API and the state, on every tally."""

from __future__ import annotations

import pytest

from voweler.services.bandit import BanditService
from voweler.models import Experiment
from voweler.state.memory import MemoryStore, memory_tally
from voweler.state.redis import RedisTally


@pytest.fixture(params=["memory", "redis"])
def tally(request):
    if request.param == "redis":
        return RedisTally("bandit", request.getfixturevalue("redis_url"))
    return memory_tally("bandit")


def test_a_serve_counts_its_choice_under_the_experiment_it_was_drawn_from(tally):
    # Another worker adds an arm just after this serve read the experiment, and this serve's
    # queue is stale, so it refills from the newer experiment: its choice (most likely the new
    # arm, with its strong prior) must be counted under that experiment's roster, not the one
    # it read first (which does not know the arm: a 500 on Redis, a wasted choice on cells).
    store = MemoryStore("bandit", Experiment)
    service = BanditService(store, tally, seed=1)
    service.serve()
    read, reads = store.read, []

    def read_then_edit():
        snapshot = read()
        reads.append(snapshot.version)
        if len(reads) == 1:
            store.read = read  # the other worker reads without being counted here
            BanditService(store, tally, seed=2).add_arm("C", 0.9, 1000)
            store.read = read_then_edit
        return snapshot

    store.read = read_then_edit
    service._local.queue.drawn_at = float("-inf")  # stale: the next serve refills
    answer = service.serve()
    assert answer["arm"] in {"A", "B", "C"}
    assert reads == [0, 1]  # the first read, and the refill's: no retry
