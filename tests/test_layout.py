"""The registry of areas (voweler/state/layout.py) against uwsgi.ini and the real uWSGI."""

from __future__ import annotations

import re

import pytest

from voweler.state import AREAS, Kind, area_of
from voweler.state.cells import CellTally
from voweler.state.layout import PAGE, check_uwsgi
from voweler_tools.deployment import REPO, Deployment

INI = (REPO / "uwsgi.ini").read_text()


def test_uwsgi_ini_declares_the_areas_of_the_registry_in_its_order():
    sizes = {name: int(size) for name, size in re.findall(r"^set-placeholder = (\w+)_bytes=(\d+)$", INI, re.M)}
    assert sizes == {area.label: area.size for area in AREAS}
    declared = re.findall(r"^sharedarea = file=%\(data_dir\)/([\w.-]+),size=%\((\w+)_bytes\)$", INI, re.M)
    assert declared == [(area.file, area.label) for area in AREAS]
    # the area files that exec-asap makes, and that the exit hook syncs, are the same ones
    made = re.search(r"^exec-asap = .*for area in (.*); do", INI, re.M).group(1)
    assert re.findall(r'"([\w.-]+) %\((\w+)_bytes\)"', made) == [(area.file, area.label) for area in AREAS]
    synced = re.search(r"^exec-as-user-atexit = .* sync ([\w. -]+) && touch sealed", INI, re.M).group(1).split()
    assert synced == [area.file for area in AREAS]
    assert int(re.search(r"^locks = (\d+)$", INI, re.M).group(1)) == max(area.lock for area in AREAS)


def test_every_area_is_whole_pages_and_the_tally_fits_its_area():
    assert all(area.size % PAGE == 0 for area in AREAS)
    assert [area.index for area in AREAS] == list(range(len(AREAS)))
    assert len({(area.model, area.kind) for area in AREAS}) == len(AREAS)
    tally = area_of("bandit", Kind.TALLY)
    assert CellTally.bytes_needed() <= tally.size < CellTally.bytes_needed() + PAGE


N, SIZES, LABELS = len(AREAS), [area.size for area in AREAS], ", ".join(area.label for area in AREAS)


@pytest.mark.parametrize(
    "sizes, files, locks, fragments",
    [
        (SIZES[:-1], [None] * (N - 1), N, [f"declares {N - 1} SharedAreas", f"has {N}", LABELS]),
        (SIZES, [AREAS[1].file, AREAS[0].file] + [None] * (N - 2), N, [f"SharedArea 0 onto {AREAS[1].file}", AREAS[0].file]),
        (SIZES, [None] * N, N - 1, [f"`locks = {N - 1}`", f"set `locks = {N}`"]),
        ([SIZES[0] + PAGE] + SIZES[1:], [None] * N, N, [f"SharedArea 0 {SIZES[0] + PAGE:,} bytes", f"has {SIZES[0]:,}"]),
    ],
)
def test_a_mismatch_names_both_sides(sizes, files, locks, fragments):
    with pytest.raises(ValueError) as refused:
        check_uwsgi(sizes, files, locks)
    for fragment in fragments:
        assert fragment in str(refused.value)


@pytest.mark.uwsgi
@pytest.mark.parametrize(
    "args, message",
    [
        (("--locks", f"{N - 1}"), f"uwsgi.ini has `locks = {N - 1}`, but the {N} areas of voweler/state/layout.py use user locks 1 to {N}"),
        (("--sharedarea", "1"), f"uwsgi.ini declares {N + 1} SharedAreas, but voweler/state/layout.py has {N}"),
    ],
)
def test_uwsgi_refuses_to_start_on_a_layout_that_is_not_the_registry(args, message):
    with pytest.raises(RuntimeError, match=re.escape(message)):
        Deployment(processes=1, args=args).start(timeout=30)
