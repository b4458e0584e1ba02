"""``GET /api/workers``: uWSGI's stats server as the page sees it, against the real uWSGI.

The stats documents parsed here are the real ones: each test reads a running deployment's
stats server, over TCP or a unix socket. Only the failures (a server that never answers, or
answers garbage) are played by a socket in the test.
"""

from __future__ import annotations

import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

from voweler import create_app
from voweler.api.errors import ApiError
from voweler.api.workers import WORKER_FIELDS, read_stats, summarize
from voweler.state import AREAS
from voweler_tools.client import Client
from voweler_tools.deployment import Deployment

ANSWER_KEYS = {"uwsgi_version", "master_pid", "listen_queue", "load", "workers", "locks", "backend", "stats", "pid"}


def workers(server) -> dict:
    answer = Client(server.url, timeout=10).call("GET", "/api/workers")
    assert answer.status == 200, answer
    return answer.body


def test_without_uwsgi_it_answers_503_and_says_why():
    client = create_app({"STATE_URL": "memory://"}).test_client()
    answer = client.get("/api/workers")
    assert answer.status_code == 503
    body = answer.get_json()
    assert set(body) == {"error", "status", "message", "pid"}
    assert body["error"] == "unavailable" and body["status"] == 503
    assert "not running under uWSGI" in body["message"]
    assert "uwsgi --ini uwsgi.ini" in body["message"]


@pytest.mark.uwsgi
class TestUnderUwsgi:

    def test_it_lists_every_worker_with_its_counters(self, server):
        doc = workers(server)
        assert set(doc) == ANSWER_KEYS
        assert doc["master_pid"] == server.process.pid
        assert doc["backend"] == "sharedarea"
        assert doc["stats"] == server.stats_address
        assert isinstance(doc["uwsgi_version"], str) and doc["uwsgi_version"][0].isdigit()
        assert sorted(w["pid"] for w in doc["workers"]) == sorted(server.worker_pids())
        assert [w["id"] for w in doc["workers"]] == [1, 2, 3, 4]
        for worker in doc["workers"]:
            assert set(worker) == set(WORKER_FIELDS)
            assert worker["status"] in {"idle", "busy"}
            assert worker["respawn_count"] >= 1  # uWSGI counts the first spawn too
            assert worker["requests"] >= 0 and worker["exceptions"] == 0
        # the worker that read the stats was in the middle of this very request
        answering = next(w for w in doc["workers"] if w["pid"] == doc["pid"])
        assert answering["status"] == "busy"
        # no worker holds a model's lock between requests; the flusher mule (a child of the master,
        # not a worker) may, for the moment it copies the areas
        assert set(doc["locks"]) == {area.label for area in AREAS} >= {"perceptron", "bandit", "bandit_tally"}
        for holder in doc["locks"].values():
            assert holder is None or (holder not in server.worker_pids() and parent_pid(holder) == server.process.pid)

    def test_it_summarizes_the_stats_servers_own_document(self, server):
        raw = read_stats(server.stats_address)  # the reader the endpoint uses, on the real server
        summary = summarize(raw)
        assert summary["master_pid"] == raw["pid"] == server.process.pid
        assert summary["uwsgi_version"] == raw["version"]
        assert [(w["id"], w["pid"], w["requests"], w["respawn_count"]) for w in summary["workers"]] == [
            (w["id"], w["pid"], w["requests"], w["respawn_count"]) for w in raw["workers"]
        ]
        # the same reading as Deployment.stats(), which the other tests trust
        assert [w["pid"] for w in summary["workers"]] == [w["pid"] for w in server.stats()["workers"]]

    def test_requests_are_counted_per_worker(self, server):
        before = sum(w["requests"] for w in workers(server)["workers"])
        for _ in range(20):
            Client(server.url, timeout=10).get("/api/health")  # HttpError unless a 2xx answer
        after = sum(w["requests"] for w in workers(server)["workers"])
        assert after >= before + 21  # the 20, and the first /api/workers itself

    def test_a_killed_worker_shows_as_respawned(self, server):
        victim = workers(server)["workers"][0]
        os.kill(victim["pid"], signal.SIGKILL)
        for _ in range(200):
            slot = next(w for w in workers(server)["workers"] if w["id"] == victim["id"])
            if slot["pid"] not in (0, victim["pid"]):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"worker {victim['id']} was not respawned")
        assert slot["respawn_count"] == victim["respawn_count"] + 1
        assert slot["last_spawn"] >= victim["last_spawn"]
        server.wait_replaced({victim["pid"]})  # leave the deployment whole for the other tests


class UnixStatsDeployment(Deployment):
    """A deployment whose stats server listens on a unix socket instead of host:port."""

    def __init__(self, path: str, **options):
        super().__init__(**options, env={"VOWELER_STATS": path})
        self.stats_address = path



@pytest.mark.uwsgi
def test_a_stats_server_on_a_unix_socket():
    path = str(Path(tempfile.mkdtemp(prefix="voweler-stats-")) / "stats.sock")
    with UnixStatsDeployment(path, processes=2) as server:
        doc = workers(server)
        assert doc["stats"] == path
        assert sorted(w["pid"] for w in doc["workers"]) == sorted(server.worker_pids())


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def serve_once(reply: bytes | None) -> tuple[str, socket.socket]:
    """A TCP server for one connection that sends ``reply`` and closes, or (None) never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    address = "127.0.0.1:%d" % listener.getsockname()[1]

    def run():
        connection, _ = listener.accept()
        with connection:
            if reply is None:
                time.sleep(5)
            else:
                connection.sendall(reply)

    threading.Thread(target=run, daemon=True).start()
    return address, listener


def test_a_stats_server_that_never_answers_times_out():
    address, listener = serve_once(None)
    with listener:
        started = time.monotonic()
        with pytest.raises(ApiError) as caught:
            read_stats(address, timeout=1)
        assert time.monotonic() - started < 4  # the timeout holds: it does not wait for the 5 s
    assert caught.value.status == 503
    assert caught.value.message == f"uWSGI's stats server at {address} gave no complete answer within 1 s"


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [(b"not json", "could not read"), (b'{"workers": 1}', "something other than its stats document"), (b"", "could not read")],
)
def test_a_stats_server_that_answers_garbage_is_a_503(reply, fragment):
    address, listener = serve_once(reply)
    with listener, pytest.raises(ApiError) as caught:
        read_stats(address)
    assert caught.value.status == 503 and fragment in caught.value.message


def test_nothing_listening_is_a_503():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        address = "127.0.0.1:%d" % probe.getsockname()[1]
    with pytest.raises(ApiError) as caught:
        read_stats(address)
    assert caught.value.status == 503 and address in caught.value.message
