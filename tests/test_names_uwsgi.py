"""Names under the real uWSGI with 4 workers: concurrent learning loses nothing, every worker agrees,
and a worker SIGKILLed mid-stream loses nothing acknowledged."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from voweler_tools.checks import disagreements, every_worker
from voweler_tools.client import Client

pytestmark = pytest.mark.uwsgi
WORKERS = 4


def create(url: str, corpus: str) -> int:
    body = Client(url).post("/api/names/corpora", {"name": corpus, "names": ["alpha", "beta", "gamma", "delta"]})
    return body["version"]


def learn_all(url: str, corpus: str, batches: list[list[str]], clients: int) -> tuple[list[tuple[int, list[str]]], list]:
    """Send each batch as one learn request from ``clients`` threads: the (version, names) acknowledged, and the failures."""
    acks, failures, lock = [], [], threading.Lock()

    def send(batch: list[str]) -> None:
        answer = Client(url, timeout=30).call("POST", f"/api/names/{corpus}/learn", {"names": batch})
        with lock:
            if answer.status == 200:
                acks.append((answer.body["version"], batch))
            else:
                failures.append((batch, answer.status, answer.problem or answer.body))

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, batches))
    return acks, failures


def batches(prefix: str, count: int) -> list[list[str]]:
    return [[f"{prefix}{i}a", f"{prefix}{i}b"] for i in range(count)]


def test_concurrent_learns_lose_nothing_and_every_worker_agrees(server):
    start = create(server.url, "concurrent")
    sent = batches("n", 400)
    acks, failures = learn_all(server.url, "concurrent", sent, clients=16)
    assert failures == []
    versions = sorted(version for version, _ in acks)
    assert versions == list(range(start + 1, start + 1 + len(sent)))  # consecutive: no update lost
    learned = Client(server.url).get("/api/names/concurrent/learned")["learned"]
    in_version_order = [name for _, batch in sorted(acks) for name in batch]
    assert learned == in_version_order  # each transaction appended exactly its names, in commit order
    assert disagreements(every_worker(server.url, WORKERS, path="/api/names"), WORKERS) == []
    # and every worker's chains learned the same: the same completions, to the last bit
    for path in ("/api/names/markov2/concurrent/complete?q=n**a&n=20", "/api/names/markov3/concurrent/generate?n=5&seed=9"):
        answers = every_worker(server.url, WORKERS, path=path)
        assert disagreements(answers, WORKERS) == []
    completions = every_worker(server.url, 1, path="/api/names/markov2/concurrent/complete?q=n**a&n=20")
    assert all(c["name"].startswith("n") for body in completions.values() for c in body["completions"])


def test_a_killed_worker_loses_nothing_acknowledged(server):
    start = create(server.url, "killed")
    sent = batches("k", 1200)
    (acks, failures), killed = server.killing(lambda: learn_all(server.url, "killed", sent, clients=8), kills=3, seed=12)
    assert len(killed) >= 2, "the stream ended before the workers could be killed: make it longer"
    assert all(status is None or status >= 500 for _, status, _ in failures), failures  # cut off, never refused

    learned = Client(server.url).get("/api/names/killed/learned")["learned"]
    acknowledged = [name for _, batch in acks for name in batch]
    assert set(acknowledged) <= set(learned)  # nothing acknowledged is lost
    assert len(learned) == len(set(learned))  # nothing applied twice
    assert set(learned) <= {name for batch in sent for name in batch}
    versions = [version for version, _ in acks]
    assert len(versions) == len(set(versions)) and min(versions) > start
    body = Client(server.url).get("/api/names")
    corpus = next(c for c in body["corpora"] if c["name"] == "killed")
    assert corpus["learned"] == len(learned) == 2 * (body["version"] - start)  # a transaction per request, no more

    server.wait_ready()  # every worker respawned
    assert not set(killed) & set(server.worker_pids())
    assert disagreements(every_worker(server.url, WORKERS, path="/api/names"), WORKERS) == []
    assert disagreements(every_worker(server.url, WORKERS, path="/api/names/markov1/killed/transitions"), WORKERS) == []

