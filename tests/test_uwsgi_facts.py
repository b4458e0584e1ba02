"""Pins the uWSGI facts that voweler's SharedArea backend is built on (see voweler/state/sharedarea.py).

Each runs the real uWSGI with the project's uwsgi.ini and 4 workers; only the app is a probe.
If an upgrade of uWSGI changes one of these, this file says which design choice to revisit.
"""

import os
import signal
import threading
import time

import pytest
import requests

from voweler_tools.client import Client
from voweler_tools.deployment import REPO, Deployment

pytestmark = pytest.mark.uwsgi


@pytest.fixture
def probe():
    args = ("--pythonpath", str(REPO / "tests" / "uwsgi_apps"), "--module", "facts:application")
    with Deployment(processes=4, args=args) as server:
        yield server


def get(server, path, timeout=10):
    return Client(server.url, timeout).call("GET", path).body


def hold(server, path):
    """Send a request that never returns, and wait until its worker says it holds the lock."""

    def send():
        Client(server.url, timeout=120).call("GET", path)  # its worker is about to be killed: the answer does not matter

    threading.Thread(target=send, daemon=True).start()
    for _ in range(200):
        holder = get(server, "/")["holder"]
        if holder:
            return holder
        time.sleep(0.05)
    raise AssertionError(f"nobody took the lock via {path}")


def wait_for_respawn(server, dead_pid):
    for _ in range(200):
        pids = server.worker_pids()
        if dead_pid not in pids and len(pids) == server.processes:
            return
        time.sleep(0.05)
    raise AssertionError(f"worker {dead_pid} was not replaced")


def test_a_memoryview_taken_in_the_master_is_shared_by_every_worker(probe):
    get(probe, "/write?12345")
    readers = {}
    while len(readers) < 4:  # until every worker has answered
        answer = get(probe, "/")
        readers[answer["pid"]] = answer["value"]
    assert set(readers.values()) == {12345}


def test_a_user_lock_whose_holder_was_sigkilled_is_recovered(probe):
    holder = hold(probe, "/hold-lock")
    os.kill(holder, signal.SIGKILL)
    # a wedged lock would hang here until the timeout
    assert get(probe, "/take-lock", timeout=20)["ok"]
    wait_for_respawn(probe, holder)
    assert get(probe, "/take-lock", timeout=20)["ok"]


def test_memoryview_access_takes_no_lock_even_when_the_areas_own_lock_is_wedged(probe):
    # A worker killed while holding the SharedArea's rwlock wedges sharedarea_read/write for good
    # (the rwlock is not robust). voweler never uses them: its reads and writes go through the
    # memoryview, and its writers through a user lock, so they carry on.
    holder = hold(probe, "/hold-area-wlock")
    os.kill(holder, signal.SIGKILL)
    wait_for_respawn(probe, holder)
    get(probe, "/write?777")
    assert get(probe, "/")["value"] == 777
    assert get(probe, "/take-lock", timeout=20)["ok"]


def test_http_socket_closes_every_connection_and_uwsgi_ini_says_so():
    # Without `add-header = Connection: close`, a keep-alive client's second request on the
    # same connection is reset. With it, a requests.Session works like any other client.
    with Deployment(processes=2) as server, requests.Session() as session:
        answers = [session.get(server.url + "/api/health", timeout=10) for _ in range(10)]
        assert [answer.status_code for answer in answers] == [200] * 10
        assert {answer.headers["Connection"] for answer in answers} == {"close"}
