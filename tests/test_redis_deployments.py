"""Two uWSGI deployments ("hosts"), 2 workers each, learning into one Redis (VOWELER_STATE=redis://).

Everything the single-host tests check must hold across hosts: consecutive versions, no lost
update, replay equality, the same model everywhere, exact bandit counts, tickets served by one
host redeemed once by the other. And when Redis dies, requests get the one JSON error shape as a
503, never a 500, and service resumes by itself when Redis is back.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from bandit_client import RESET, REWARD, SERVE, SHOW, count_problems, error_problems
from consistency import problems, random_batches, reset, state, train_concurrently
from voweler_tools.checks import disagreements, every_worker, without_pid
from redis_server import RedisServer, need_redis_server
from voweler_tools.client import Client
from voweler_tools.deployment import Deployment

pytestmark = pytest.mark.uwsgi

WORKERS = 2


@pytest.fixture(scope="module")
def one_redis():
    need_redis_server()
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def hosts(one_redis):
    # No VOWELER_SECRET: the bandit's generated secret must reach both hosts through Redis.
    env = {"VOWELER_STATE": one_redis.url, "VOWELER_SECRET": ""}
    with Deployment(processes=WORKERS, env=env) as first, Deployment(processes=WORKERS, env=env) as second:
        yield first, second


def test_both_hosts_use_redis(hosts):
    for host in hosts:
        assert Client(host.url, timeout=10).get("/api/health")["backend"] == "redis"


def test_training_through_two_hosts_loses_nothing_and_both_hold_the_same_model(hosts):
    first, second = hosts
    initial = reset(first.url, dim=16, seed=5)
    batches = random_batches(1200, seed=6)
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(train_concurrently, host.url, batches[i::2], 8) for i, host in enumerate(hosts)]
        (acks_1, failed_1), (acks_2, failed_2) = (run.result() for run in runs)
    assert failed_1 + failed_2 == []
    assert len({ack.pid for ack in acks_1 + acks_2}) == 2 * WORKERS  # every worker of both hosts trained
    final = state(second.url)
    assert problems(initial, acks_1 + acks_2, final) == []  # consecutive versions, nothing lost, replay equal
    workers = {**every_worker(first.url, WORKERS), **every_worker(second.url, WORKERS)}
    assert disagreements(workers, 2 * WORKERS) == []


def test_tickets_served_by_one_host_are_redeemed_once_through_the_other(hosts):
    first, second = hosts
    arms = [{"name": "red"}, {"name": "green"}, {"name": "blue"}]
    one, other = Client(first.url, timeout=30), Client(second.url, timeout=30)
    assert one.call("POST", RESET, {"arms": arms}).status == 200

    def serve(_):
        answer = one.call("POST", SERVE)
        assert answer.status == 200, answer
        return answer.body

    def reward(pair):
        number, served = pair
        body = {"ticket": served["ticket"], "clicked": number % 3 == 0}
        answer = other.call("POST", REWARD, body)
        return answer.status, answer.body

    def reward_again(served):
        return one.call("POST", REWARD, {"ticket": served["ticket"], "clicked": True})

    with ThreadPoolExecutor(8) as pool:
        served = list(pool.map(serve, range(600)))
        rewarded = list(pool.map(reward, enumerate(served)))
        again = list(pool.map(reward_again, served[:100]))
    assert [status for status, _ in rewarded] == [200] * 600  # the secret is the same on both hosts
    assert {answer.status for answer in again} == {409}  # and each ticket counts once, on any host
    assert all(error_problems(answer.body, 409, "ticket_redeemed") == [] for answer in again)
    impressions = Counter(s["arm"] for s in served)
    clicks = Counter(s["arm"] for number, s in enumerate(served) if number % 3 == 0)
    documents = [Client(host.url, timeout=10).get(SHOW) for host in hosts]
    for document in documents:
        assert count_problems(document, impressions, clicks) == []
    assert without_pid(documents[0]) == without_pid(documents[1])
    assert documents[0]["version"] >= 600 + 200  # a serve and an accepted reward each add one


def test_redis_killed_under_load_gives_503s_then_service_resumes_without_a_500(hosts, one_redis):
    first, second = hosts
    stop = threading.Event()
    answers: list[tuple[float, str, int | None, dict | None, str | None]] = []
    requests_to_send = [
        ("POST", "/api/perceptron/train", {"letters": "aeiou"}),
        ("GET", "/api/perceptron", None),
        ("POST", "/api/bandit/serve", None),
        ("GET", "/api/bandit", None),
    ]

    def load(host, offset):
        client, i = Client(host.url, timeout=30), offset
        while not stop.is_set():
            method, path, body = requests_to_send[i % len(requests_to_send)]
            i += 1
            answer = client.call(method, path, body)
            if answer.status is None:  # refused, cut or timed out
                answers.append((time.monotonic(), path, None, None, answer.outcome))
                continue
            answers.append((time.monotonic(), path, answer.status, answer.body, answer.headers.get("Retry-After")))

    threads = [threading.Thread(target=load, args=(host, i)) for i in range(4) for host in hosts]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        one_redis.kill()
        killed = time.monotonic()
        time.sleep(2)
        restarting = time.monotonic()  # from here on, requests may succeed again
        one_redis.start()  # the same port; empty, as nothing was persisted
        restarted = time.monotonic()
        time.sleep(3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    statuses = Counter(status for _, _, status, _, _ in answers)
    assert set(statuses) <= {200, 503}, statuses  # no 500, no transport error, nothing else
    down = [a for a in answers if killed + 0.2 < a[0] < restarting]
    assert down and all(status == 503 for _, _, status, _, _ in down), Counter(a[2] for a in down)
    for _, path, status, body, retry_after in answers:
        if status == 503:
            assert error_problems(body, 503, "unavailable") == [], path
            assert one_redis.url in body["message"] and retry_after == "1"
    recovered = [a for a in answers if a[0] > restarted + 1]
    assert recovered and all(status == 200 for _, _, status, _, _ in recovered), Counter(a[2] for a in recovered)
    assert {path for _, path, _, _, _ in recovered} == {path for _, path, _ in requests_to_send}
