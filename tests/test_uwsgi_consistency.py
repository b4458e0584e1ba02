"""Proof under the real uWSGI with 4 workers: no lost update, no torn state, every worker agrees."""

from __future__ import annotations


import pytest

from consistency import problems, random_batches, reset, state, train_concurrently
from voweler_tools.checks import disagreements, every_worker
from voweler_tools.client import Client
from voweler_tools.deployment import REPO, Deployment

pytestmark = pytest.mark.uwsgi

WORKERS = 4  # the workers of the `server` fixture (tests/conftest.py)


def test_2000_concurrent_train_requests_lose_nothing_and_replay_exactly(server):
    initial = reset(server.url, dim=16, seed=7, learning_rate=0.05)
    acks, failures = train_concurrently(server.url, random_batches(2000, seed=1), clients=16)
    assert failures == []
    assert len({ack.pid for ack in acks}) == WORKERS  # every worker took part
    assert problems(initial, acks, state(server.url)) == []
    assert disagreements(every_worker(server.url, WORKERS), WORKERS) == []


def test_every_worker_reports_the_same_state(server):
    reset(server.url, dim=64, seed=3)
    train_concurrently(server.url, random_batches(200, seed=2))
    states = every_worker(server.url, WORKERS)
    assert disagreements(states, WORKERS) == []
    assert {s["dim"] for s in states.values()} == {64}


def test_workers_sigkilled_mid_stream_are_replaced_and_no_acknowledged_update_is_lost(server):
    initial = reset(server.url, dim=32, seed=11)
    batches = random_batches(1500, seed=3)
    (acks, failures), killed = server.killing(lambda: train_concurrently(server.url, batches), kills=4, seed=4)
    assert len(killed) >= 2, "the stream ended before the workers could be killed: make it longer"
    assert problems(initial, acks, state(server.url), unacknowledged=len(failures)) == []

    server.wait_ready()  # every worker respawned
    assert not set(killed) & set(server.worker_pids())
    for _ in range(2 * WORKERS):  # later requests succeed, on the new workers too
        after = Client(server.url, timeout=30).call("POST", "/api/perceptron/train", {"letters": "aeiou"})
        assert after.status == 200 and after.body["version"] > max(ack.version for ack in acks)
    assert disagreements(every_worker(server.url, WORKERS), WORKERS) == []


def test_the_same_check_catches_lost_updates_in_an_unsafe_variant():
    # The store of the original design: read, update and write with no transaction.
    args = ("--pythonpath", str(REPO / "tests" / "uwsgi_apps"), "--module", "unsafe:app")
    with Deployment(processes=WORKERS, args=args) as unsafe:
        initial = reset(unsafe.url, dim=16, seed=7, learning_rate=0.05)
        acks, failures = train_concurrently(unsafe.url, random_batches(2000, seed=1), clients=16)
        found = problems(initial, acks, state(unsafe.url), unacknowledged=len(failures))
    assert any("lost updates" in problem or "answered twice" in problem for problem in found), found
