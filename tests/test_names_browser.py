"""The page's Names panel in Chromium, against uWSGI with 4 workers: generate, complete, teach, the heat map."""

from __future__ import annotations

import pytest

from test_browser import api, browser, open_page, page, reset_models, shoot  # noqa: F401  (fixtures and helpers)

pytestmark = pytest.mark.uwsgi

CELL = """(label) => {
  const title = [...document.querySelectorAll('#names-heatmap title')].find((t) => t.textContent.startsWith(label));
  return title ? title.textContent : null;
}"""


def choose(page, corpus: str, model: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator(f"#names-corpus option[value='{corpus}']")).to_have_count(1)
    page.select_option("#names-corpus", corpus)
    page.select_option("#names-model", model)


def test_go_generates_new_names_and_a_pattern_is_completed_with_letter_bars(page, server):
    from playwright.sync_api import expect

    choose(page, "elements", "markov2")
    page.click("#names-go")
    items = page.locator("#names-generated li")
    expect(items).to_have_count(10)
    elements = set(open("voweler/models/corpora/elements.txt").read().split())
    assert not set(items.all_inner_texts()) & elements  # "only new names" is ticked

    page.fill("#names-pattern", "***on")
    page.click("#names-complete")
    completions = page.locator("#names-completions li")
    expect(completions.first).to_be_visible()
    expected = api(server).get("/api/names/markov2/elements/complete?q=***on&n=10")["completions"]
    expect(completions.locator(".name")).to_have_text([c["name"] for c in expected])
    expect(page.locator("#names-positions .position")).to_have_count(3)
    expect(page.locator("#names-positions .position").first.locator(".names-bar")).to_have_count(5)
    first_letter = api(server).get("/api/names/markov2/elements/complete?q=***on&n=1")["positions"][0]["letters"][0]
    bar = page.locator("#names-positions .position").first.locator(".names-bar").first
    outer, inner = bar.bounding_box(), bar.locator("span").bounding_box()
    assert outer["width"] > 0 and inner["width"] == pytest.approx(outer["width"] * first_letter["probability"], abs=1.5)
    expect(page.locator("#names-total")).to_contain_text("probability")
    shoot(page, "names-1280", "#names")


def test_teaching_changes_the_counts_and_the_heat_map(page, server):
    from playwright.sync_api import expect

    choose(page, "cities", "markov1")
    expect(page.locator("#names-heatmap rect")).to_have_count(api(server).get("/api/names/markov1/cities/transitions")["rows"].__len__() * len(api(server).get("/api/names/markov1/cities/transitions")["columns"]))
    before = page.evaluate(CELL, "z → z:")
    learned = next(c for c in api(server).get("/api/names")["corpora"] if c["name"] == "cities")["learned"]
    page.fill("#names-teach", "Zzzaz, zzzz zazz")
    page.click("#names-teach-button")
    expect(page.locator("#names-taught")).to_contain_text("Taught zzzaz, zzzz, zazz to cities")
    after = next(c for c in api(server).get("/api/names")["corpora"] if c["name"] == "cities")
    assert after["learned"] == learned + 3 and after["recent"][-3:] == ["zzzaz", "zzzz", "zazz"]
    page.wait_for_function(f"({CELL})('z → z:') !== {before!r}")
    # another client teaches: the count shows without reloading
    api(server).post("/api/names/cities/learn", {"names": ["quuxville"]})
    expect(page.locator("#names-corpus-note")).to_contain_text(f"{learned + 4} learned")
    shoot(page, "names-after-teaching-1280", "#names")


def test_a_refused_pattern_shows_the_servers_message(page, server):
    from playwright.sync_api import expect

    page.watch.allow(400)
    choose(page, "elements", "markov3")
    page.fill("#names-pattern", "*q*")
    page.click("#names-complete")
    expect(page.locator("#names-alerts .alert")).to_contain_text("never seen 'q'")
    page.fill("#names-pattern", "ne*n")
    page.click("#names-complete")
    expect(page.locator("#names-alerts .alert")).to_have_count(0)  # the same kind of action succeeded
    expect(page.locator("#names-completions li").first).to_contain_text("neon")
