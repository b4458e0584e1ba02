"""Start a real uWSGI deployment of this checkout on free loopback ports: for tests and benches::

    with Deployment(processes=2) as server:
        Client(server.url).get("/api/health")   # {"ok": true, ...}
        server.reload()        # graceful reload through the master FIFO
        server.restart()       # stop and start again, same ports, same data directory

It runs ``uwsgi --ini uwsgi.ini`` exactly as an operator would, with ``VOWELER_HTTP``,
``VOWELER_STATS``, ``VOWELER_PROCESSES`` and ``VOWELER_DATA_DIR`` set, waits until every worker
is up, and stops the whole process group afterwards, however the test ended. Unless given a
``data_dir``, each deployment keeps its state in a fresh temporary directory, removed at the end.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from voweler.uwsgi_stats import StatsError, live_workers, read_stats
from voweler_tools.client import Client

REPO = Path(__file__).resolve().parent.parent  # the checkout: voweler_tools/ is beside voweler/
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


class Instance:
    """A running uWSGI deployment of voweler: found by its URL, and by its stats server and
    master FIFO when known. What tests and benches do to any deployment: watch its workers,
    kill one, reload it. :class:`Deployment` is one this process starts and stops itself.
    """

    def __init__(self, url: str, stats_address: str | None = None, fifo: Path | str | None = None, processes: int = 4):
        self.url, self.stats_address, self.processes = url, stats_address, processes
        self.fifo = Path(fifo) if fifo else None

    def stats(self) -> dict:
        """uWSGI's stats server document (what uwsgitop shows)."""
        if not self.stats_address:
            raise StatsError("this deployment's stats server is not known")
        return read_stats(self.stats_address, timeout=5)

    def worker_pids(self) -> list[int]:
        """Pids of the live workers ([] while the stats server cannot be read)."""
        try:
            return [worker["pid"] for worker in live_workers(self.stats())]
        except (OSError, KeyError):
            return []

    def wait_ready(self, timeout: float = 60) -> None:
        """Until /api/health answers and, where the stats server is known, every worker is up."""
        deadline, health = time.monotonic() + timeout, Client(self.url, timeout=2)
        while time.monotonic() < deadline:
            self._check_running()
            if health.call("GET", "/api/health").status == 200 and (
                not self.stats_address or len(self.worker_pids()) == self.processes
            ):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.url} was not ready with {self.processes} workers within {timeout} s{self._details()}")

    def wait_replaced(self, pids, timeout: float = 60) -> None:
        """Until every worker is up and none of ``pids`` is among them, then :meth:`wait_ready`.

        uWSGI lists a killed worker until it respawns it, which it delays by 2 s when workers
        die too fast.
        """
        if not self.stats_address:  # no way to see the workers: health is all there is
            return self.wait_ready(timeout)
        pids, deadline = set(pids), time.monotonic() + timeout
        while time.monotonic() < deadline:
            live = set(self.worker_pids())
            if len(live) == self.processes and not live & pids:
                return self.wait_ready(max(1.0, deadline - time.monotonic()))
            time.sleep(0.05)
        raise RuntimeError(f"workers {sorted(pids)} were not all replaced within {timeout} s{self._details()}")

    def reload(self, command: str = "r", timeout: float = 60) -> None:
        """A graceful reload through the master FIFO; return when every worker is a new one.

        ``r`` reloads the whole instance (the master re-executes itself, which would wipe an
        anonymous SharedArea); ``w`` reloads only the workers; ``c`` is a chain reload, one worker
        at a time.
        """
        if command not in ("r", "w", "c"):
            raise ValueError(f"unknown reload command {command!r}: r, w or c")
        if self.fifo is None:
            raise RuntimeError("this deployment's master FIFO is not known")
        before = set(self.worker_pids())
        with open(self.fifo, "w") as fifo:
            fifo.write(command)
        if not self.stats_address:
            time.sleep(1)  # nothing tells when the old workers are gone: give them a moment
            return self.wait_ready(timeout)
        self.wait_replaced(before, timeout)

    def kill_worker(self, rng: random.Random | None = None, spare=(), tries: int = 30) -> tuple[int, bool] | None:
        """SIGKILL one worker, busy with a request if uWSGI reports one, so that the kill cuts it off.

        ``spare``: pids already killed (the stats list them until they are respawned). Returns
        ``(pid, was_busy)``, or None if no worker could be found. The master respawns it.
        """
        rng, spare = rng or random.Random(), set(spare)
        for attempt in range(tries):
            try:
                live = [w for w in live_workers(self.stats()) if w["pid"] not in spare]
            except (OSError, KeyError):
                live = []
            busy = [w["pid"] for w in live if w.get("status") == "busy"]
            if not busy and attempt < tries - 1:
                time.sleep(0.002)
                continue
            choices = busy or [w["pid"] for w in live]
            if not choices:
                return None
            victim = rng.choice(choices)
            try:
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:  # it just died
                spare.add(victim)
                continue
            return victim, bool(busy)
        return None

    def killing(self, run, kills: int, seed: int, every: float = 0.3, timeout: float = 300):
        """``run()`` in a thread while a busy worker is SIGKILLed every ``every`` s, ``kills`` times
        at most (fewer if ``run`` ends first); ``(what run returned, the pids killed)``."""
        outcome: dict = {}
        stream = threading.Thread(target=lambda: outcome.update(result=run()))
        stream.start()
        killed, rng = [], random.Random(seed)
        for _ in range(kills):
            time.sleep(every)
            if not stream.is_alive():
                break
            victim = self.kill_worker(rng, spare=killed)  # busy with a request, if one is
            if victim is not None:
                killed.append(victim[0])
        stream.join(timeout)
        return outcome["result"], killed

    def _check_running(self) -> None:
        """Raise if the deployment is known to have exited."""

    def _details(self) -> str:
        """More to say in an error message (a log, say)."""
        return ""


class Deployment(Instance):
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
        self.args, self.ini = tuple(args), ini
        self.extra_env = dict(env or {})
        self.http = f"127.0.0.1:{free_port()}"
        super().__init__(f"http://{self.http}", f"127.0.0.1:{free_port()}", processes=processes)
        self.process: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="voweler-uwsgi-", suffix=".log")[1])
        self.keep_log = keep_log
        self._own_data_dir = data_dir is None
        self._ever_ready = False
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
            if not self._ever_ready:  # a refused first start: its error carries the log; leave nothing
                self._remove_own_files(log=not self.keep_log)
            raise
        self._ever_ready = True
        return self

    def _check_running(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"uWSGI exited with {self.process.returncode}:\n{self.log()}")

    def _details(self) -> str:
        return ":\n" + self.log()

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

    def __enter__(self) -> "Deployment":
        return self.start()

    def __exit__(self, exc_type, *exc_info) -> None:
        self.stop()
        # after a failure, the log stays for whoever investigates
        self._remove_own_files(log=exc_type is None and not self.keep_log)

    def _remove_own_files(self, log: bool) -> None:
        if self._own_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        if log:
            self.log_path.unlink(missing_ok=True)

    # -- looking inside ---------------------------------------------------------------------

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
