"""A real redis-server for the tests: on a free port, in a temporary directory, without persistence.

    with RedisServer() as server:
        server.url          # redis://127.0.0.1:<port>/0
        server.kill()       # SIGKILL, as a crash would
        server.start()      # again, on the same port (empty: nothing is persisted)
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from voweler_tools.deployment import free_port


def redis_server_binary() -> str | None:
    return shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin:/usr/local/bin")


def need_redis_server() -> None:
    """Skip the calling test without redis-server; fail instead under VOWELER_REQUIRE_REDIS=1 (CI)."""
    if redis_server_binary() is None:
        message = "redis-server is not installed: apt-get install redis-server"
        if os.environ.get("VOWELER_REQUIRE_REDIS") == "1":
            pytest.fail(message)
        pytest.skip(message)


class RedisServer:
    """One redis-server process; ``start()`` it again after ``kill()`` or ``stop()``, on the same port."""

    def __init__(self, port: int | None = None):
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server")
        self.binary = binary
        self.port = port or free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="voweler-redis-"))
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> "RedisServer":
        command = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.folder),
        ]  # fmt: skip
        with open(self.folder / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{self.log()}")
            if self.ping():
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING within {timeout} s:\n{self.log()}")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def flush(self) -> None:
        """Empty the server: no keys, no cached scripts."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"FLUSHALL\r\nSCRIPT FLUSH\r\n")
            answers = b""
            while answers.count(b"\r\n") < 2:
                answers += sock.recv(64)
        if answers != b"+OK\r\n+OK\r\n":
            raise RuntimeError(f"redis-server did not flush: {answers!r}")

    def kill(self) -> None:
        """SIGKILL: what a crash (or the OOM killer) does."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        self._end(signal.SIGTERM)

    def _end(self, sig: int) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        path = self.folder / "redis.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()


def record_commands(client, monkeypatch) -> list[str]:
    """The names of the commands ``client`` sends from now on, in order."""
    sent: list[str] = []

    def counted(*args, **options):
        sent.append(args[0])
        return type(client).execute_command(client, *args, **options)

    monkeypatch.setattr(client, "execute_command", counted)
    return sent
