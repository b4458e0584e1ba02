"""Reading uWSGI's stats server: the JSON document uwsgitop shows.

One reader for everything that looks at the workers: ``GET /api/workers``, the tests and benches'
:class:`voweler_tools.deployment.Instance`. The master writes the document and closes the connection;
the reader gives up after ``timeout`` seconds in all.
"""

from __future__ import annotations

import json
import socket
import time

TIMEOUT = 1.0  # seconds for connecting to the stats server and reading all of its answer
MAX_BYTES = 4 * 1024 * 1024  # a stats document is a few KiB per worker; refuse a runaway one


class StatsError(OSError):
    """The stats server could not be read; the message says where and why."""


def socket_target(address: str) -> tuple[int, object]:
    """``(family, address)`` to connect to a uWSGI stats address: ``host:port``, a path, or ``@abstract``.

    >>> socket_target("127.0.0.1:9191") == (socket.AF_INET, ("127.0.0.1", 9191))
    True
    >>> socket_target(":9191") == (socket.AF_INET, ("127.0.0.1", 9191))
    True
    >>> socket_target("[::1]:9191") == (socket.AF_INET6, ("::1", 9191))
    True
    >>> socket_target("/run/voweler/stats.sock") == (socket.AF_UNIX, "/run/voweler/stats.sock")
    True
    >>> socket_target("@voweler-stats") == (socket.AF_UNIX, "\\0voweler-stats")
    True
    """
    if address.startswith("@"):
        return socket.AF_UNIX, "\0" + address[1:]
    host, colon, port = address.rpartition(":")
    if "/" in address or not colon or not port.isdigit():
        return socket.AF_UNIX, address
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        return socket.AF_INET6, ("::1" if host in ("", "::") else host, int(port))
    return socket.AF_INET, ("127.0.0.1" if host in ("", "0.0.0.0", "*") else host, int(port))


def read_stats(address: str, timeout: float = TIMEOUT) -> dict:
    """The stats server's JSON document, read until it closes the connection, within ``timeout``."""
    family, target = socket_target(address)
    deadline = time.monotonic() + timeout
    chunks, size = [], 0
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(target)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_BYTES:
                    raise ValueError(f"answer longer than {MAX_BYTES:,} bytes")
        document = json.loads(b"".join(chunks))
    except TimeoutError:
        raise StatsError(f"uWSGI's stats server at {address} gave no complete answer within {timeout:g} s") from None
    except (OSError, ValueError) as error:  # JSONDecodeError is a ValueError
        reason = str(error) or type(error).__name__
        raise StatsError(f"could not read uWSGI's stats server at {address}: {reason}") from None
    if not isinstance(document, dict) or not isinstance(document.get("workers"), list):
        raise StatsError(f"uWSGI's stats server at {address} answered something other than its stats document")
    return document


def live_workers(stats: dict) -> list[dict]:
    """The workers of a stats document that are running: spawned (pid > 0), not cheap (idle-killed)."""
    return [worker for worker in stats["workers"] if worker["pid"] > 0 and worker.get("status") != "cheap"]
