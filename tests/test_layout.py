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


@pytest.mark.parametrize(
    "sizes, files, locks, fragments",
    [
        ([a.size for a in AREAS[:-1]], [None] * 2, 3, ["declares 2 SharedAreas", "has 3", "perceptron, bandit, bandit_tally"]),
        ([a.size for a in AREAS], ["bandit.area", "perceptron.area", None], 3, ["SharedArea 0 onto bandit.area", "perceptron.area"]),
        ([a.size for a in AREAS], [None] * 3, 2, ["`locks = 2`", "set `locks = 3`"]),
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
        (("--locks", "2"), "uwsgi.ini has `locks = 2`, but the 3 areas of voweler/state/layout.py use user locks 1 to 3"),
        (("--sharedarea", "1"), "uwsgi.ini declares 4 SharedAreas, but voweler/state/layout.py has 3"),
    ],
)
def test_uwsgi_refuses_to_start_on_a_layout_that_is_not_the_registry(args, message):
    with pytest.raises(RuntimeError, match=re.escape(message)):
        Deployment(processes=1, args=args).start(timeout=30)
