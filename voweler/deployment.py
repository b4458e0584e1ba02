"""Start a real uWSGI deployment of this checkout on free loopback ports: for tests and benches::

    with Deployment(processes=2) as server:
        requests.get(server.url + "/api/health").json()   # {"ok": true, ...}
        server.reload()        # graceful reload through the master FIFO
        server.restart()       # stop and start again, same ports, same data directory

It runs ``uwsgi --ini uwsgi.ini`` exactly as an operator would, with ``VOWELER_HTTP``,
``VOWELER_STATS``, ``VOWELER_PROCESSES`` and ``VOWELER_DATA_DIR`` set, waits until every worker
is up, and stops the whole process group afterwards, however the test ended. Unless given a
``data_dir``, each deployment keeps its state in a fresh temporary directory, removed at the end.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UWSGI_INI = REPO / "uwsgi.ini"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def uwsgi_binary() -> str:
    """The uwsgi installed beside this Python (a virtualenv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "uwsgi"
    found = str(beside) if beside.exists() else shutil.which("uwsgi")
    if not found:
        raise RuntimeError("uwsgi is not installed: pip install -e '.[test]'")
    return found


class Deployment:
    """One uWSGI master and its workers.

    Parameters
    ----------
    processes
        Worker processes.
    args
        More uWSGI options, appended after ``--ini`` so that they override it.
    env
        More environment variables (``VOWELER_STATE``, say).
    data_dir
        ``VOWELER_DATA_DIR``: where the state's files live. By default a fresh temporary
        directory, removed when the deployment is left; a given one is kept.
    keep_log
        Keep uWSGI's log file after a clean exit too (it is always kept after an exception).
    """

    def __init__(
        self,
        processes: int = 4,
        args: tuple[str, ...] = (),
        env: dict | None = None,
        ini: Path = UWSGI_INI,
        data_dir: Path | str | None = None,
        keep_log: bool = False,
    ):
        self.processes, self.args, self.ini = processes, tuple(args), ini
        self.extra_env = dict(env or {})
        self.http = f"127.0.0.1:{free_port()}"
        self.stats_address = f"127.0.0.1:{free_port()}"
        self.url = f"http://{self.http}"
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="voweler-uwsgi-", suffix=".log")[1])
        self.keep_log = keep_log
        self._own_data_dir = data_dir is None
        self.data_dir = Path(tempfile.mkdtemp(prefix="voweler-data-") if data_dir is None else data_dir).resolve()
        # uwsgi.ini puts the master FIFO in the data directory
        self.fifo = self.data_dir / "master.fifo"

    # -- life cycle -------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> "Deployment":
        env = {
            **os.environ,
            "VOWELER_HTTP": self.http,
            "VOWELER_STATS": self.stats_address,
            "VOWELER_PROCESSES": str(self.processes),
            "VOWELER_DATA_DIR": str(self.data_dir),
            **self.extra_env,
        }
        if sys.prefix != sys.base_prefix:  # let uWSGI's embedded Python find this virtualenv
            env["VIRTUAL_ENV"] = sys.prefix
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [uwsgi_binary(), "--ini", str(self.ini), *self.args],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: stop() can take all of it down
            )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()  # never leave a half-started uWSGI behind
            raise
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        """Until /api/health answers and every worker has been spawned."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"uWSGI exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/api/health", timeout=2) as answer:
                    if answer.status == 200 and len(self.worker_pids()) == self.processes:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"uWSGI did not come up within {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 15) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # die-on-term: a clean stop
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group at once (master, workers, mule): a crash, not a stop."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        # the group's last members may outlive the master by a moment: wait until they are gone
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def restart(self, timeout: float = 60) -> "Deployment":
        """Stop uWSGI and start it again: same ports, same data directory."""
        self.stop()
        return self.start(timeout)

    def reload(self, command: str = "r", timeout: float = 60) -> None:
        """A graceful reload through the master FIFO; return when every worker is a new one.

        ``r`` reloads the whole instance (the master re-executes itself, which would wipe an
        anonymous SharedArea); ``w`` reloads only the workers; ``c`` is a chain reload, one worker
        at a time.
        """
        if command not in ("r", "w", "c"):
            raise ValueError(f"unknown reload command {command!r}: r, w or c")
        before = set(self.worker_pids())
        with open(self.fifo, "w") as fifo:
            fifo.write(command)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = set(self.worker_pids())
            if len(pids) == self.processes and not pids & before:
                self.wait_ready(max(1.0, deadline - time.monotonic()))
                return
            time.sleep(0.05)
        raise RuntimeError(f"the workers were not replaced within {timeout} s of {command!r}:\n{self.log()}")

    def kill_worker(self, rng: random.Random | None = None) -> int:
        """SIGKILL one worker, chosen at random; the master respawns it. Returns its pid."""
        victim = (rng or random).choice(self.worker_pids())
        os.kill(victim, signal.SIGKILL)
        return victim

    def __enter__(self) -> "Deployment":
        return self.start()

    def __exit__(self, exc_type, *exc_info) -> None:
        self.stop()
        if self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if exc_type is None and not self.keep_log:  # after a failure, the log stays for whoever investigates
            self.log_path.unlink(missing_ok=True)

    # -- looking inside ---------------------------------------------------------------------

    def stats(self) -> dict:
        """uWSGI's stats server document (what uwsgitop shows)."""
        host, port = self.stats_address.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return json.loads(b"".join(chunks))

    def worker_pids(self) -> list[int]:
        """Pids of the live workers."""
        try:
            workers = self.stats()["workers"]
        except (OSError, ValueError, KeyError):
            return []
        return [w["pid"] for w in workers if w["pid"] > 0 and w.get("status") != "cheap"]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
