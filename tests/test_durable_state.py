"""Durable state (voweler/state/durable.py): the state outlives uWSGI, on the real uWSGI.

A stop and start, a master reload, and a SIGKILL of the whole process group keep every
acknowledged update, because the SharedAreas are files. A simulated machine crash (area files
torn, a boot other than this one) restores the last snapshot instead. The unit tests at the end
pin the pieces without uWSGI.
"""

from __future__ import annotations

import mmap
import random
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bandit_client import EVENTS, RESET, REWARD, SERVE, SHOW
from voweler_tools.checks import without_pid
from voweler_tools.client import Client
from voweler_tools.deployment import Deployment
from voweler.models import Perceptron
from voweler.state import StateError, durable
from voweler.state.sharedarea import SharedAreaStore
from voweler.state.cells import CellTally

WORKERS = 4
AREA_FILES = ("perceptron.area", "bandit.area", "bandit-tally.area", "names.area")


@pytest.fixture
def server():
    # snapshots every 0.2 s, so that a test waits little for one
    with Deployment(processes=WORKERS, env={"VOWELER_FLUSH_SECONDS": "0.2"}) as deployment:
        yield deployment


def post(url: str, path: str, body: dict) -> dict:
    answer = Client(url, timeout=30).call("POST", path, body)
    assert answer.status in (200, 201), answer
    return answer.body


def make_history(url: str) -> list[str]:
    """Concurrent training, serves and rewards through every worker; returns unredeemed tickets."""
    post(url, "/api/perceptron/reset", {"dim": 24, "seed": 5})
    post(url, RESET, {"arms": [{"name": "red"}, {"name": "blue"}]})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: post(url, "/api/perceptron/train", {"letters": "aeibcd"[i % 6] * (1 + i % 3)}), range(120)))
        tickets = [answer["ticket"] for answer in pool.map(lambda _: post(url, SERVE, {}), range(60))]
        list(pool.map(lambda t: post(url, REWARD, {"ticket": t, "clicked": True}), tickets[:25]))
        list(pool.map(lambda i: post(url, "/api/names/elements/learn", {"names": [f"zorbium{i}"]}), range(40)))
    return tickets[25:]


def everything(url: str) -> dict:
    """The whole observable state, minus which worker answered."""
    get = lambda path: without_pid(Client(url, timeout=30).get(path))  # noqa: E731
    return {
        "perceptron": get("/api/perceptron"), "bandit": get(SHOW), "events": get(EVENTS + "?limit=1000"),
        "names": get("/api/names/elements/learned"),
    }  # fmt: skip


def assert_tickets_still_good(url: str, unredeemed: list[str]) -> None:
    # the tally's secret and its redemption bitmap survived: old tickets are redeemed once
    client = Client(url, timeout=30)
    assert client.call("POST", REWARD, {"ticket": unredeemed[0], "clicked": True}).status == 200
    assert client.call("POST", REWARD, {"ticket": unredeemed[0], "clicked": True}).status == 409


def test_a_stop_and_start_keeps_the_state_exactly_and_seals_the_files(server):
    unredeemed = make_history(server.url)
    before = everything(server.url)
    assert before["perceptron"]["version"] > 120
    assert sum(arm["impressions"] for arm in before["bandit"]["arms"]) == 60
    server.stop()
    assert (server.data_dir / "sealed").exists()  # the exit hook ran after the last worker
    server.start()
    assert not (server.data_dir / "sealed").exists()  # a running uWSGI's files are not sealed
    assert everything(server.url) == before
    assert_tickets_still_good(server.url, unredeemed)


def test_sigkill_of_the_whole_process_group_keeps_the_state_exactly(server):
    unredeemed = make_history(server.url)
    before = everything(server.url)
    server.kill()
    assert not (server.data_dir / "sealed").exists()
    server.start()
    assert everything(server.url) == before
    assert_tickets_still_good(server.url, unredeemed)


@pytest.mark.parametrize("command", ["r", "w", "c"])
def test_a_reload_through_the_master_fifo_keeps_the_state_exactly(server, command):
    unredeemed = make_history(server.url)
    before = everything(server.url)
    server.reload(command)
    assert everything(server.url) == before
    assert_tickets_still_good(server.url, unredeemed)


def test_a_group_killed_mid_stream_keeps_every_acknowledged_update(server):
    post(server.url, "/api/perceptron/reset", {"dim": 16, "seed": 1})
    acknowledged, stop = [], threading.Event()

    def train():
        while not stop.is_set():
            answer = Client(server.url, timeout=5).call("POST", "/api/perceptron/train", {"letters": "ab"})
            if answer.status == 200:  # not refused, cut or timed out, and acknowledged
                acknowledged.append(answer.body["version"])

    threads = [threading.Thread(target=train) for _ in range(6)]
    for thread in threads:
        thread.start()
    while len(acknowledged) < 150:
        time.sleep(0.01)
    server.kill()  # while six clients are mid-request
    stop.set()
    for thread in threads:
        thread.join()
    server.start()
    final = everything(server.url)["perceptron"]
    # every acknowledged version is there, once; a request cut off after its commit may add one more
    assert len(set(acknowledged)) == len(acknowledged)
    assert max(acknowledged) <= final["version"] <= max(acknowledged) + 6
    assert final["updates"] == 2 * (final["version"] - 1)  # 2 letters per version after the reset


def snapshot_version(data_dir: Path) -> int:
    """The perceptron's version in its snapshot, read with the same store code the workers use."""
    image = bytearray(durable.read_snapshot(data_dir / "perceptron.area.snapshot"))
    return SharedAreaStore("perceptron", Perceptron, image, threading.Lock()).read().version


def test_after_a_machine_crash_the_last_snapshot_is_restored(server):
    make_history(server.url)
    before = everything(server.url)
    deadline = time.monotonic() + 30
    while snapshot_version(server.data_dir) != before["perceptron"]["version"] and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # and the other areas' snapshots, taken in the same pass
    server.kill()
    # What a power cut can leave: area files torn (here: garbage), written in another boot.
    for name in AREA_FILES:
        path = server.data_dir / name
        path.write_bytes(bytes([0xA5]) * path.stat().st_size)
    (server.data_dir / "boot_id").write_text("a-boot-before-the-crash\n")
    server.start()
    assert everything(server.url) == before
    assert "restored ['perceptron.area', 'bandit.area', 'bandit-tally.area', 'names.area'] from snapshots" in server.log()


def test_in_the_same_boot_the_area_files_win_over_an_older_snapshot():
    # snapshots every hour: only the flusher's first pass, at start, writes one
    with Deployment(processes=2, env={"VOWELER_FLUSH_SECONDS": "3600"}) as server:
        time.sleep(0.5)
        make_history(server.url)
        before = everything(server.url)
        server.kill()
        server.start()
        assert everything(server.url) == before  # not the empty state in the snapshot


def test_a_second_uwsgi_on_the_same_data_directory_refuses_to_start_and_seals_nothing(server):
    second = Deployment(processes=1, data_dir=server.data_dir)
    with pytest.raises(RuntimeError, match="is in use by another uWSGI"):
        second.start(timeout=30)
    assert Client(server.url, timeout=30).call("GET", "/api/health").status == 200
    # its exit hook ran too, but the files are live: sealing them would make the next start
    # after a machine crash trust torn files instead of the snapshots
    assert not (server.data_dir / "sealed").exists()


def test_a_data_directory_in_dev_shm_is_durable_too():
    data_dir = Path(tempfile.mkdtemp(prefix="voweler-test-", dir="/dev/shm"))  # unique: runs may overlap
    try:
        with Deployment(processes=1, data_dir=data_dir) as server:
            assert "a new data directory" in server.log()
            with pytest.raises(RuntimeError, match="is in use by another uWSGI"):
                Deployment(processes=1, data_dir=data_dir).start(timeout=30)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def test_lazy_apps_is_refused_with_durable_areas():
    with pytest.raises(RuntimeError, match="remove lazy-apps"):
        Deployment(processes=1, args=("--lazy-apps",)).start(timeout=30)


def test_a_start_that_fails_on_a_damaged_snapshot_seals_nothing(server):
    make_history(server.url)
    time.sleep(0.5)
    server.kill()
    (server.data_dir / "boot_id").write_text("a-boot-before-the-crash\n")
    (server.data_dir / "bandit.area.snapshot").write_bytes(b"damaged")
    with pytest.raises(RuntimeError, match="is damaged"):
        server.start(timeout=30)
    # a sealed directory would be trusted as is by the next start, skipping the snapshots
    assert not (server.data_dir / "sealed").exists()
    with pytest.raises(RuntimeError, match="is damaged"):
        server.start(timeout=30)


def test_an_area_file_of_another_program_is_refused_not_overwritten(tmp_path):
    foreign = b"NOTVOWLR" + bytes(98304 - 8)
    (tmp_path / "perceptron.area").write_bytes(foreign)
    with pytest.raises(RuntimeError, match="holds data of another program or format"):
        Deployment(processes=1, data_dir=tmp_path).start(timeout=30)
    assert (tmp_path / "perceptron.area").read_bytes() == foreign


def test_a_bad_flush_interval_stops_uwsgi_from_starting():
    with pytest.raises(RuntimeError, match="VOWELER_FLUSH_SECONDS must be"):
        Deployment(processes=1, env={"VOWELER_FLUSH_SECONDS": "0"}).start(timeout=30)


# -- the pieces, without uWSGI ------------------------------------------------------------------


@pytest.fixture
def area(tmp_path):
    path = tmp_path / "model.area"
    path.write_bytes(bytes(8192))
    with open(path, "r+b") as file:
        memory = mmap.mmap(file.fileno(), 8192, mmap.MAP_SHARED)
    view = memoryview(memory)
    yield durable.FileArea(0, view, threading.Lock(), path)
    view.release()
    memory.close()


def test_the_backing_file_of_a_shared_mapping_is_found_and_anonymous_memory_has_none(area):
    assert durable.backing_file(area.memory) == area.path
    anonymous = mmap.mmap(-1, 4096)
    assert durable.backing_file(memoryview(anonymous)) is None


def test_the_flusher_writes_a_snapshot_only_when_the_area_changed(area):
    flusher = durable.Flusher([area])
    assert flusher.flush() == 1
    assert flusher.flush() == 0
    area.memory[100] = 7
    assert flusher.flush() == 1
    assert durable.read_snapshot(area.snapshot_path) == bytes(area.memory)
    assert durable.Flusher([area]).flush() == 0  # a new flusher knows the snapshot on disk


class CommitsBetweenCopies:
    """A lock around which another writer commits a change of two areas as soon as the flusher
    lets go of it: what a bandit edit does (the experiment, then the tally follows)."""

    def __init__(self, commit):
        self._lock, self.commit = threading.Lock(), commit

    def __enter__(self):
        self._lock.acquire()

    def __exit__(self, *exc_info):
        self._lock.release()
        self.commit()


def test_the_flusher_snapshots_every_area_at_one_moment(tmp_path):
    # The invariant of the two areas: the second (a tally) never holds a value newer than the
    # first (its experiment). Copied one by one, a commit between the copies would break it.
    paths, maps = [tmp_path / "experiment.area", tmp_path / "tally.area"], []
    for path in paths:
        path.write_bytes(bytes(4096))
        with open(path, "r+b") as file:
            maps.append(mmap.mmap(file.fileno(), 4096, mmap.MAP_SHARED))
    experiment, tally = (memoryview(m) for m in maps)

    def commit():
        if experiment[0] < 5:
            experiment[0] += 1  # the experiment changes first...
            tally[0] = experiment[0]  # ...and the tally follows it

    areas = [
        durable.FileArea(0, experiment, CommitsBetweenCopies(commit), paths[0]),
        durable.FileArea(1, tally, threading.Lock(), paths[1]),
    ]
    flusher = durable.Flusher(areas)
    for _ in range(3):
        flusher.flush()
        saved = [durable.read_snapshot(area.snapshot_path)[0] for area in areas]
        assert saved[1] <= saved[0], f"the tally's snapshot ({saved[1]}) is newer than its experiment's ({saved[0]})"
    experiment.release(), tally.release()
    for m in maps:
        m.close()


def test_a_damaged_snapshot_is_an_error_not_a_silent_reset(area):
    durable.write_snapshot(area.snapshot_path, bytes(area.memory))
    blob = bytearray(area.snapshot_path.read_bytes())
    blob[-1] ^= 1
    area.snapshot_path.write_bytes(bytes(blob))
    with pytest.raises(StateError, match="is damaged"):
        durable.read_snapshot(area.snapshot_path)


@pytest.mark.parametrize(
    ("last_boot", "sealed", "restored"),
    [(None, False, False), ("this-boot", False, False), ("another-boot", True, False), ("another-boot", False, True)],
)
def test_recover_trusts_the_files_unless_the_machine_restarted_without_a_clean_stop(
    area, monkeypatch, tmp_path, last_boot, sealed, restored
):
    boot = tmp_path / "boot"
    boot.write_text("this-boot\n")
    monkeypatch.setattr(durable, "BOOT_ID", boot)
    monkeypatch.setattr(durable, "_held_lock", None)
    durable.write_snapshot(area.snapshot_path, b"S" * 8192)
    area.memory[:] = b"F" * 8192
    if last_boot is not None:
        (area.path.parent / "boot_id").write_text(last_boot)
    if sealed:
        (area.path.parent / "sealed").touch()
    durable.recover([area])
    assert bytes(area.memory) == (b"S" if restored else b"F") * 8192
    assert (area.path.parent / "boot_id").read_text().strip() == "this-boot"
    assert not (area.path.parent / "sealed").exists()
    durable._held_lock.close()


def test_areas_resized_since_the_directory_was_written_are_refused(area, monkeypatch):
    monkeypatch.setattr(durable, "_held_lock", None)
    durable.recover([area])
    durable._held_lock.close()
    monkeypatch.setattr(durable, "_held_lock", None)
    smaller = durable.FileArea(0, area.memory[:4096], area.lock, area.path)
    with pytest.raises(StateError, match="are not the ones .* was written with"):
        durable.recover([smaller])
    durable._held_lock.close()


def test_an_area_added_after_the_last_one_is_taken_and_none_can_go(area, monkeypatch, tmp_path):
    monkeypatch.setattr(durable, "_held_lock", None)
    durable.recover([area])
    durable._held_lock.close()
    added = durable.FileArea(1, memoryview(bytearray(4096)), threading.Lock(), area.path.with_name("new.area"))
    monkeypatch.setattr(durable, "_held_lock", None)
    durable.recover([area, added])  # a new model: its area comes after the others
    durable._held_lock.close()
    assert (area.path.parent / "layout").read_text() == f"0 model.area 8192\n1 new.area 4096\n"
    monkeypatch.setattr(durable, "_held_lock", None)
    with pytest.raises(StateError, match="are not the ones .* was written with"):
        durable.recover([area])  # the added area cannot be dropped again
    durable._held_lock.close()


def test_a_foreign_tally_file_is_refused_untouched():
    foreign = bytearray(random.Random(1).randbytes(CellTally.bytes_needed()))
    before = bytes(foreign)
    with pytest.raises(StateError, match="another layout or program"):
        CellTally(foreign, threading.Lock(), "area 2")
    assert bytes(foreign) == before  # not even the journal's recovery wrote into it


def test_a_snapshot_of_another_size_is_refused_before_anything_changes(area, monkeypatch, tmp_path):
    monkeypatch.setattr(durable, "_held_lock", None)
    durable.write_snapshot(area.snapshot_path, b"S" * 4096)
    (area.path.parent / "boot_id").write_text("another-boot")
    area.memory[:] = b"F" * 8192
    with pytest.raises(StateError, match="holds 4096 bytes but SharedArea 0 has 8192"):
        durable.recover([area])
    assert bytes(area.memory) == b"F" * 8192
    durable._held_lock.close()
