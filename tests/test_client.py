"""voweler_tools.client: what it answers for each fate of a request, against real sockets.

The consistency checks rely on the outcome: a request ``refused`` was never sent and cannot have
been applied; one ``cut`` or timed out may have been. Each fate is played by a socket server
here, one connection at a time.
"""

from __future__ import annotations

import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from voweler_tools.client import ANSWERED, CUT, REFUSED, TIMEOUT, Client, HttpError


class OneShot:
    """A socket server that treats every connection with ``behave(connection, request)``."""

    def __init__(self, behave):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.behave, self.requests, self.held = behave, [], []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
        while len(rest) < length:
            rest += connection.recv(65536)
        self.requests.append((head.split(b"\r\n")[0].decode(), rest))
        self.behave(self, connection)

    def close(self):
        self.listener.close()
        for connection in self.held:
            connection.close()


def reply(status: int, body: bytes, length: int | None = None):
    def behave(server, connection):
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body) if length is None else length}\r\nConnection: close\r\n\r\n"
        connection.sendall(head.encode() + body)
        connection.close()

    return behave


def close_silently(server, connection):
    connection.close()


def reset(server, connection):
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close sends RST
    connection.close()


def hang(server, connection):
    server.held.append(connection)


def stall(server, connection):
    connection.sendall(b'HTTP/1.1 200 X\r\nContent-Length: 100\r\n\r\n{"version"')
    server.held.append(connection)


@pytest.fixture
def serve():
    servers = []

    def start(behave):
        servers.append(OneShot(behave))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_a_json_answer_is_answered_with_its_status_body_and_time(serve):
    server = serve(reply(200, b'{"version": 7, "pid": 1}'))
    answer = Client(server.url, timeout=5).call("POST", "/api/perceptron/train", {"letters": "ab"})
    assert (answer.outcome, answer.status, answer.body, answer.problem) == (ANSWERED, 200, {"version": 7, "pid": 1}, "")
    assert answer.ok and answer.code is None and 0 <= answer.elapsed < 5 and answer.done >= answer.sent
    request_line, body = server.requests[0]
    assert request_line == "POST /api/perceptron/train HTTP/1.1" and body == b'{"letters": "ab"}'


def test_an_error_status_is_an_answer_and_the_shortcuts_raise_it(serve):
    error = b'{"error": "ticket_redeemed", "status": 409, "message": "already redeemed", "pid": 1}'
    server = serve(reply(409, error))
    client = Client(server.url, timeout=5)
    answer = client.call("POST", "/api/bandit/reward", {"ticket": "t"})
    assert (answer.outcome, answer.status, answer.code, answer.message, answer.ok) == (
        ANSWERED, 409, "ticket_redeemed", "already redeemed", False
    )  # fmt: skip
    with pytest.raises(HttpError) as info:
        client.post("/api/bandit/reward", {"ticket": "t"})
    assert (info.value.status, info.value.code, info.value.message) == (409, "ticket_redeemed", "already redeemed")
    assert str(info.value) == "409 ticket_redeemed: already redeemed"


def test_a_body_that_is_not_json_is_answered_with_a_problem(serve):
    server = serve(reply(200, b"<html>"))
    answer = Client(server.url, timeout=5).call("GET", "/api/bandit")
    assert (answer.outcome, answer.status, answer.body) == (ANSWERED, 200, None)
    assert answer.problem.startswith("not JSON")
    with pytest.raises(HttpError) as info:
        Client(server.url, timeout=5).get("/api/bandit")
    assert info.value.status == 200 and info.value.message.startswith("not JSON")


def test_a_closed_port_is_refused_so_nothing_was_sent():
    client = Client(closed_port_url(), timeout=5)
    answer = client.call("POST", "/api/perceptron/train", {"letters": "ab"})
    assert answer.outcome == REFUSED, answer
    assert answer.status is None and "ConnectionRefusedError" in answer.problem
    with pytest.raises(HttpError) as info:
        client.get("/api/health")
    assert info.value.status is None and info.value.outcome == REFUSED


@pytest.mark.parametrize(
    "behave",
    [close_silently, reset, reply(200, b'{"version": 7', length=100)],
    ids=["closed before an answer", "reset", "answer cut short"],
)
def test_a_connection_broken_after_the_request_was_sent_is_cut(serve, behave):
    server = serve(behave)
    answer = Client(server.url, timeout=5).call("POST", "/api/perceptron/train", {"letters": "ab"})
    assert answer.outcome == CUT, answer
    assert answer.status is None and server.requests == [("POST /api/perceptron/train HTTP/1.1", b'{"letters": "ab"}')]


@pytest.mark.parametrize("behave", [hang, stall], ids=["no answer", "an answer that stops halfway"])
def test_no_answer_in_time_is_a_timeout(serve, behave):
    server = serve(behave)
    answer = Client(server.url, timeout=0.5).call("POST", "/api/bandit/serve")
    assert answer.outcome == TIMEOUT, answer
    assert 0.5 <= answer.elapsed < 5 and len(server.requests) == 1


def test_one_client_serves_many_threads_at_once(serve):
    server = serve(reply(200, b'{"ok": true}'))
    client = Client(server.url, timeout=10)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: client.call("POST", "/x", {"i": i}), range(200)))
    assert {(a.outcome, a.status) for a in answers} == {(ANSWERED, 200)}
    assert sorted(body for _, body in server.requests) == sorted(f'{{"i": {i}}}'.encode() for i in range(200))


def test_only_http_urls_are_accepted():
    for url in ("127.0.0.1:9090", "ftp://127.0.0.1", "http://"):
        with pytest.raises(ValueError, match="http://host:port"):
            Client(url)
