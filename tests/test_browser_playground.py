"""The page's playground, end to end in Chromium: the optimum, the ε slider, links, play and step,
export and import (helpers and fixtures from tests/test_browser.py)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from test_browser import START, Watch, api, browser, open_page, page, perceptron, reset_models, shoot  # noqa: F401
from voweler.models.perceptron import ALPHABET, IS_VOWEL, Perceptron, letter_optimum
from voweler.models.robustness import flip_distances

pytestmark = pytest.mark.uwsgi

LESSONS = "thequickbrownfox"


def expected_ringed(model: Perceptron, eps: float, norm: str) -> set[str]:
    """Letters the perceptron gets right that a change of size eps can make wrong."""
    distances = flip_distances(model.embedding, model.weights, model.bias, norm)
    correct = model.predictions() == IS_VOWEL
    return {ALPHABET[i] for i in range(26) if correct[i] and distances[i] <= eps}


def ringed(page) -> set[str]:
    return set(page.locator(".tile.fuzzable").evaluate_all("tiles => tiles.map(t => t.dataset.letter)"))


def test_the_optimum_is_shown_beside_the_perceptron_and_lda(page, server):
    from playwright.sync_api import expect

    best = letter_optimum(START["dim"], START["seed"])
    expect(page.locator("#p-optimum")).to_have_text(f"{round(best.accuracy * 100)}% ({round(best.accuracy * 26)} of 26)")
    note = "separable: the widest boundary clears every letter by" if best.separable else "not separable"
    expect(page.locator("#p-optimum-note")).to_contain_text(note)
    strip = page.locator("#chart-proj-optimum svg")
    expect(strip).to_have_attribute("data-correct", str(round(best.accuracy * 26)))
    # Every sentence of the panel that says "best" is about the optimum (or a best threshold).
    text = page.locator("#perceptron").inner_text()
    sentences = [line for line in re.split(r"(?<=[.:!?])\s+|\n", text) if "best" in line.lower()]
    assert sentences
    for sentence in sentences:
        assert re.search(r"optimum|optimal|threshold", sentence, re.I), sentence


def test_the_slider_rings_the_letters_that_can_be_fuzzed_into_error(page, server):
    from playwright.sync_api import expect

    api(server).post("/api/perceptron/train", {"letters": LESSONS})
    model = Perceptron(**START)
    model.learn_many(LESSONS)
    expect(page.locator("#p-updates")).to_have_text(str(len(LESSONS)))
    expect(page.locator(".tile.fuzzable")).to_have_count(0)  # at ε = 0 nothing can be fuzzed
    for eps, norm in [(0.05, "l2"), (0.2, "l2"), (0.02, "linf")]:
        page.locator("#p-norm").select_option(norm)
        page.locator("#p-eps").fill(str(eps))
        expected = expected_ringed(model, eps, norm)
        assert 0 < len(expected) < 26, (eps, norm, expected)  # the case tells something
        expect(page.locator(".tile.fuzzable")).to_have_count(len(expected))
        assert ringed(page) == expected
        robust = int(sum((model.predictions() == IS_VOWEL)) - len(expected))
        expect(page.locator("#p-robust")).to_contain_text(f"perceptron {robust} of 26")
    shoot(page, "perceptron-eps-1280", "#perceptron")


def test_a_link_reproduces_the_view_and_start_over_rebuilds_its_model(browser, server):
    from playwright.sync_api import expect

    reset_models(server.url)
    link = "#panel=bandit&dim=8&seed=1&lr=0.25&eps=0.05&norm=linf&ctr=A:0.07,B:0.02&speed=100"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    try:
        page.goto(server.url + "/" + link)
        expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
        expect(page.locator("#p-eps")).to_have_value("0.05")
        expect(page.locator("#p-norm")).to_have_value("linf")
        expect(page.locator("#reset-dim")).to_have_value("8")
        expect(page.locator("#reset-seed")).to_have_value("1")
        expect(page.locator("#reset-rate")).to_have_value("0.25")
        expect(page.locator("#sim-ctr-0")).to_have_value("0.07")
        expect(page.locator("#sim-ctr-1")).to_have_value("0.02")
        expect(page.locator("#sim-speed")).to_have_value("100")
        expect(page.locator("#p-link-note")).to_contain_text("This link is for dimension 8, seed 1")
        assert perceptron(server)["dim"] == START["dim"]  # opening a link changes nothing on the server

        page.get_by_role("button", name="Reset the model").click()
        expect(page.locator("#p-link-note")).to_be_hidden()
        doc = perceptron(server)
        assert (doc["dim"], doc["seed"], doc["learning_rate"]) == (8, 1, 0.25)
        assert doc["weights"] == Perceptron(dim=8, seed=1, learning_rate=0.25).weights.tolist()
        rebuilt = Perceptron(dim=8, seed=1, learning_rate=0.25)
        ringed_here = expected_ringed(rebuilt, 0.05, "linf")
        assert 0 < len(ringed_here) < 26
        expect(page.locator(".tile.fuzzable")).to_have_count(len(ringed_here))
        assert ringed(page) == ringed_here

        # The address now holds the whole view: another tab opened on it shows the same.
        address = page.url
        assert "panel=bandit" in address and "eps=0.05" in address and "ctr=A:0.07,B:0.02" in address
        other = context.new_page()
        other_watch = Watch(other)
        other.goto(address)
        expect(other.locator("#p-version")).to_have_text(f"{doc['version']:,}")
        expect(other.locator("#p-eps")).to_have_value("0.05")
        expect(other.locator("#p-norm")).to_have_value("linf")
        expect(other.locator(".tile.fuzzable")).to_have_count(len(ringed_here))
        assert ringed(other) == ringed_here
        expect(other.locator("#p-link-note")).to_be_hidden()
        other_watch.check()
        watch.check()
    finally:
        context.close()


def test_play_and_step_train_real_letters(page, server):
    from playwright.sync_api import expect

    version = perceptron(server)["version"]
    page.get_by_role("button", name="Step").click()
    expect(page.locator("#p-version")).to_have_text(f"{version + 1:,}")
    assert perceptron(server)["updates"] == 1

    page.locator("#p-speed").select_option("30")
    page.get_by_role("button", name="▶ Play").click()
    expect(page.locator("#p-pause")).to_be_enabled()
    # every step is a real request: the server counts them, and the page follows
    expect(page.locator("#p-updates")).to_have_text(re.compile(r"^([6-9]|\d\d+)$"))
    page.get_by_role("button", name="⏸ Pause").click()
    expect(page.locator("#p-play")).to_be_enabled()
    doc = perceptron(server)
    assert doc["updates"] >= 6 and len(doc["history"]) == doc["updates"] + 1  # one request per letter


def test_export_then_import_round_trips(page, server, tmp_path):
    from playwright.sync_api import expect

    api(server).post("/api/perceptron/train", {"letters": LESSONS})
    expect(page.locator("#p-updates")).to_have_text(str(len(LESSONS)))
    before = perceptron(server)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export the model").click()
    saved = tmp_path / "model.json"
    download.value.save_as(saved)
    exported = json.loads(saved.read_text())
    assert exported["weights"] == before["weights"] and exported["format"] == "voweler.perceptron"

    api(server).post("/api/perceptron/reset", {"dim": 40, "seed": 9})
    expect(page.locator("#p-config")).to_contain_text("dimension 40")
    version = perceptron(server)["version"]
    page.locator("#p-import-file").set_input_files(saved)
    expect(page.locator("#p-config")).to_contain_text(f"dimension {START['dim']}")
    after = perceptron(server)
    assert after["version"] == version + 1
    assert {k: after[k] for k in ("weights", "bias", "updates", "mistakes", "history")} == {
        k: before[k] for k in ("weights", "bias", "updates", "mistakes", "history")
    }
    expect(page.locator("#p-lesson")).to_contain_text("Imported model.json")

    # A broken file is refused with the server's message, and changes nothing.
    page.watch.allow(400)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**exported, "weights": exported["weights"][:3]}))
    page.locator("#p-import-file").set_input_files(broken)
    expect(page.locator("#perceptron-alerts")).to_contain_text("weights must be a list of 16 finite numbers")
    assert perceptron(server)["version"] == after["version"]
