"""The page, end to end: real headless Chromium against the real uWSGI with 4 workers.

Debian's chromium (``apt-get install chromium``) is driven by Playwright for Python through
``executable_path``; Playwright's own browser downloads are not used. Without chromium or
Playwright these tests are skipped, unless VOWELER_REQUIRE_BROWSER=1 makes that an error.

Each test starts from models reset to known settings, and fails if the page logged a console
error, threw, or had a request fail or answer an HTTP error it did not expect. Screenshots go to
tests/screenshots/, for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from voweler.models import Perceptron
from voweler.models.perceptron import ALPHABET, IS_VOWEL
from voweler_tools.client import Client

pytestmark = pytest.mark.uwsgi

CHROMIUM = os.environ.get("VOWELER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# The machine may have no internet: keep Chromium from trying to reach it.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
TIMEOUT = 10_000  # ms: generous, for correctness on a busy machine, not a measure of speed
START = {"dim": 16, "seed": 0, "learning_rate": 0.1}


def need_browser() -> None:
    """Skip without Playwright or chromium; fail instead under VOWELER_REQUIRE_BROWSER=1 (CI)."""
    message = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        message = "Playwright is not installed: pip install -e '.[test]'"
    if message is None and not os.path.exists(CHROMIUM):
        message = "chromium is not installed: apt-get install chromium"
    if message:
        if os.environ.get("VOWELER_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    need_browser()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT)
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watch:
    """Everything that went wrong in a page: console errors, exceptions, failed requests, HTTP errors."""

    def __init__(self, page):
        self.problems: list[str] = []
        self.allowed: set[int] = set()  # HTTP statuses a test provokes on purpose
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: self.problems.append(f"request failed: {request.method} {request.url} {request.failure}"))
        page.on("response", self._response)

    def allow(self, status: int) -> None:
        self.allowed.add(status)

    def _console(self, message):
        if message.type not in ("error", "warning"):
            return
        provoked = re.search(r"the server responded with a status of (\d+)", message.text)
        if provoked and int(provoked.group(1)) in self.allowed:
            return
        self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, response):
        if response.status >= 400 and response.status not in self.allowed:
            self.problems.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


def api(server) -> Client:
    """The JSON API of ``server``, outside the page: what another client does."""
    return Client(server.url, timeout=30)


def reset_models(url: str) -> None:
    client = Client(url, timeout=30)
    client.post("/api/perceptron/reset", START)  # HttpError unless a 2xx answer
    client.post("/api/bandit/reset", {"arms": [{"name": "A"}, {"name": "B"}]})


def open_page(browser, server, width: int = 1280):
    """A fresh tab on the page at this width, once it shows the models; and its Watch."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(server.url + "/")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    version = api(server).get("/api/perceptron")["version"]
    expect(page.locator("#p-version")).to_have_text(f"{version:,}")
    return context, page, watch


@pytest.fixture
def page(browser, server):
    reset_models(server.url)
    context, page, watch = open_page(browser, server)
    page.watch = watch
    yield page
    try:
        watch.check()
    finally:
        context.close()


def perceptron(server) -> dict:
    return api(server).get("/api/perceptron")


def bandit(server) -> dict:
    return api(server).get("/api/bandit")


def accuracy_text(model: Perceptron) -> str:
    """The page's accuracy line for this model: "46% (12 of 26)"."""
    right = int((model.predictions() == IS_VOWEL).sum())
    return f"{round(model.accuracy() * 100)}% ({right} of 26)"


def shoot(page, name: str, selector: str | None = None) -> None:
    path = SCREENSHOTS / f"{name}.png"
    if selector:
        page.locator(selector).screenshot(path=path)
    else:
        page.screenshot(path=path, full_page=True)


# --- the perceptron -----------------------------------------------------------------------------


def test_clicking_a_letter_trains_it_and_the_tile_and_accuracy_change(page, server):
    from playwright.sync_api import expect

    # Find, with the same deterministic model, a letter the perceptron gets wrong and that one
    # lesson flips, changing the accuracy.
    fresh = Perceptron(**START)
    for letter in ALPHABET:
        model = Perceptron(**START)
        wrong_before = model.predict_one(letter) != (letter in "aeiouy")
        model.learn_many(letter)
        if wrong_before and model.predict_one(letter) == (letter in "aeiouy") and model.accuracy() != fresh.accuracy():
            break
    else:
        pytest.fail("no letter flips with one lesson from these settings; pick other START settings")
    version = perceptron(server)["version"]
    tile = page.locator(f'.tile[data-letter="{letter}"]')
    expect(tile).to_have_attribute("data-correct", "false")
    expect(page.locator("#p-accuracy")).to_have_text(accuracy_text(fresh))

    tile.click()
    expect(tile).to_have_attribute("data-correct", "true")
    expect(tile).to_have_class(re.compile(r"^(?!.*\bwrong\b)"))
    expect(page.locator("#p-accuracy")).to_have_text(accuracy_text(model))
    expect(page.locator("#p-version")).to_have_text(f"{version + 1:,}")
    expect(page.locator("#p-lesson")).to_contain_text("a mistake, so w moved")
    assert perceptron(server)["updates"] == 1

    # Typing a letter trains it too (outside form fields).
    page.locator("h1").click()
    page.keyboard.press("e")
    expect(page.locator("#p-version")).to_have_text(f"{version + 2:,}")
    expect(page.locator("#p-updates")).to_have_text("2")
    model.learn_many("e")
    expect(page.locator("#p-accuracy")).to_have_text(accuracy_text(model))
    shoot(page, "perceptron-after-a-lesson-1280", "#perceptron")


def test_training_the_alphabet(page, server):
    from playwright.sync_api import expect

    version = perceptron(server)["version"]
    page.get_by_role("button", name="The alphabet a–z").click()
    model = Perceptron(**START)
    mistakes = model.learn_many(ALPHABET)
    expect(page.locator("#p-version")).to_have_text(f"{version + 1:,}")
    expect(page.locator("#p-updates")).to_have_text("26")
    expect(page.locator("#p-mistakes")).to_have_text(str(mistakes))
    expect(page.locator("#p-accuracy")).to_have_text(accuracy_text(model))
    expect(page.locator("#p-lesson")).to_contain_text(f"Trained 26 letters: {mistakes} mistakes")
    expect(page.locator("#chart-accuracy svg")).to_have_attribute("data-points", "2")
    # every tile agrees with the model
    for i, letter in enumerate(ALPHABET):
        correct = bool(model.predictions()[i] == IS_VOWEL[i])
        expect(page.locator(f'.tile[data-letter="{letter}"]')).to_have_attribute("data-correct", str(correct).lower())
    right = int((model.predictions() == IS_VOWEL).sum())
    expect(page.locator("#chart-proj-perceptron svg")).to_have_attribute("data-correct", str(right))


def test_reset_with_dimension_50(page, server):
    from playwright.sync_api import expect

    page.fill("#reset-dim", "50")
    page.get_by_role("button", name="Reset the model").click()
    expect(page.locator("#p-config")).to_contain_text("dimension 50")
    expect(page.locator("#chart-weights svg")).to_have_attribute("data-count", "50")
    expect(page.locator("#p-lda")).to_have_text("100%")  # 26 letters in 50 dimensions: separable
    model = Perceptron(dim=50, seed=0, learning_rate=0.1)
    expect(page.locator("#p-accuracy")).to_have_text(accuracy_text(model))
    assert perceptron(server)["dim"] == 50
    # and the perceptron then learns them all: a few passes over the alphabet
    button = page.get_by_role("button", name="The alphabet a–z")
    for _ in range(8):
        version = perceptron(server)["version"]
        button.click()
        expect(page.locator("#p-version")).to_have_text(f"{version + 1:,}")
        model.learn_many(ALPHABET)
    expect(page.locator("#p-accuracy")).to_have_text(accuracy_text(model))
    shoot(page, "perceptron-dim-50-1280", "#perceptron")


def test_an_api_error_is_shown_with_the_servers_message(page, server):
    from playwright.sync_api import expect

    page.watch.allow(400)
    before = perceptron(server)
    page.fill("#reset-dim", "5000")  # beyond the input's max: the server's check is the one that counts
    page.get_by_role("button", name="Reset the model").click()
    alert = page.locator("#perceptron-alerts")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("Resetting the model failed")
    expect(alert).to_contain_text("dim must be an integer from 1 to 4096; got 5000")
    expect(alert).to_contain_text("POST /api/perceptron/reset: 400 bad_request")
    after = perceptron(server)
    assert (after["version"], after["dim"]) == (before["version"], before["dim"])  # nothing changed
    shoot(page, "error-shown-1280", "#perceptron-alerts")
    # the same error again is counted, not repeated; dismissing removes it
    page.get_by_role("button", name="Reset the model").click()
    expect(alert).to_contain_text("(2 times)")
    expect(alert.locator(".alert")).to_have_count(1)
    alert.get_by_role("button", name="Dismiss this error").click()
    expect(alert.locator(".alert")).to_have_count(0)


def test_an_error_shows_where_the_person_is_looking_on_a_phone(browser, server):
    from playwright.sync_api import expect

    # At 390 px the alert area is far above the reset form: the error is brought into view and
    # focused, and dismissing it gives the focus back to where the person was.
    reset_models(server.url)
    context, page, watch = open_page(browser, server, 390)
    try:
        watch.allow(400)
        page.fill("#reset-dim", "5000")
        button = page.get_by_role("button", name="Reset the model")
        button.click()
        error = page.locator("#perceptron-alerts .alert", has_text="dim must be an integer from 1 to 4096; got 5000")
        expect(error).to_be_in_viewport()
        expect(error).to_be_focused()
        page.screenshot(path=SCREENSHOTS / "error-in-view-390.png")  # what the person sees
        error.get_by_role("button", name="Dismiss this error").click()
        expect(page.locator("#perceptron-alerts .alert")).to_have_count(0)
        expect(button).to_be_focused()
        watch.check()
    finally:
        context.close()


def test_an_error_alert_goes_when_the_same_kind_of_action_next_succeeds(page, server):
    from playwright.sync_api import expect

    page.watch.allow(400)
    alerts = page.locator("#bandit-alerts .alert")
    page.fill("#arm-name", "a/b")
    page.get_by_role("button", name="Add arm").click()
    expect(alerts).to_have_count(1)
    expect(alerts).to_contain_text("Adding arm “a/b” failed")
    # an error of another kind stays: a true CTR that is not a rate
    page.fill('#sim-table input[aria-label="True CTR of arm A"]', "2")
    page.get_by_role("button", name="Start the simulator").click()
    expect(alerts).to_have_count(2)
    page.fill("#arm-name", "green")
    page.get_by_role("button", name="Add arm").click()
    expect(page.locator('#arms-table tr[data-arm="green"]')).to_have_count(1)
    expect(alerts).to_have_count(1)
    expect(alerts).to_contain_text("Starting the simulator failed")

    # the perceptron: a failed reset stays through training, and goes with the next good reset
    perceptron_alerts = page.locator("#perceptron-alerts .alert")
    page.fill("#reset-dim", "5000")
    page.get_by_role("button", name="Reset the model").click()
    expect(perceptron_alerts).to_have_count(1)
    version = perceptron(server)["version"]
    page.locator('.tile[data-letter="a"]').click()
    expect(page.locator("#p-version")).to_have_text(f"{version + 1:,}")
    expect(perceptron_alerts).to_have_count(1)
    page.fill("#reset-dim", "20")
    page.get_by_role("button", name="Reset the model").click()
    expect(page.locator("#p-config")).to_contain_text("dimension 20")
    expect(perceptron_alerts).to_have_count(0)


# --- the bandit -------------------------------------------------------------------------------


def test_add_an_arm_run_the_simulator_and_the_densities_move(page, server):
    from playwright.sync_api import expect

    page.fill("#arm-name", "green")
    page.fill("#arm-prior-ctr", "0.05")
    page.fill("#arm-prior-n", "20")
    page.get_by_role("button", name="Add arm").click()
    expect(page.locator("#arms-table tbody tr")).to_have_count(3)
    expect(page.locator("#chart-densities svg")).to_have_attribute("data-arms", "3")
    expect(page.locator("#sim-table tbody tr")).to_have_count(3)
    curve = page.locator('#chart-densities path.density[data-arm="green"]')
    before = curve.get_attribute("d")
    assert curve.get_attribute("data-alpha") == "1" and curve.get_attribute("data-beta") == "19"  # 20 at 0.05

    page.fill('#sim-table input[aria-label="True CTR of arm green"]', "0.3")
    page.select_option("#sim-speed", "100")
    page.get_by_role("button", name="Start the simulator").click()
    # at least 150 visitors, and until green has been clicked: Thompson sampling may show green,
    # behind a pessimistic prior, only a few times in the first 150
    page.wait_for_function(
        "() => window.voweler.simulator.visitors >= 150 && (window.voweler.simulator.perArm.get('green')?.clicks ?? 0) >= 1",
        timeout=60_000,
    )
    page.get_by_role("button", name="Stop the simulator").click()
    page.wait_for_function("() => window.voweler.simulator.inFlight === 0")

    simulated = page.evaluate("() => ({visitors: window.voweler.simulator.visitors, clicks: window.voweler.simulator.clicks})")
    doc = bandit(server)
    # every visit the page counted was counted by the server, and nothing else
    assert doc["impressions"] == simulated["visitors"]
    assert doc["clicks"] == simulated["clicks"]
    expect(page.locator("#b-version")).to_have_text(f"{doc['version']:,}")  # the page caught up
    expect(page.locator("#b-impressions")).to_have_text(f"{doc['impressions']:,}")
    expect(curve).not_to_have_attribute("d", before)
    green = next(arm for arm in doc["arms"] if arm["name"] == "green")
    assert float(curve.get_attribute("data-alpha")) == green["alpha"] > 1
    expect(page.locator("#sim-status")).to_contain_text(f"{simulated['visitors']:,} visitors")
    expect(page.locator("#sim-status")).to_contain_text("A uniform split would expect")
    expect(page.locator("#chart-sim svg")).to_have_attribute("data-visitors", str(simulated["visitors"]))
    shoot(page, "bandit-after-simulation-1280", "#bandit")

    # Remove an arm while the simulator runs: the table and the chart follow, and the visitors
    # in flight for that arm are void (their tickets answer 410), which is counted, not alarmed.
    page.watch.allow(410)
    page.get_by_role("button", name="Start the simulator").click()
    page.wait_for_function(f"() => window.voweler.simulator.visitors >= {simulated['visitors'] + 40}", timeout=60_000)
    page.get_by_role("button", name="Remove arm A").click()
    expect(page.locator("#arms-table tbody tr")).to_have_count(2)
    expect(page.locator("#chart-densities svg")).to_have_attribute("data-arms", "2")
    expect(page.locator("#sim-table tbody tr")).to_have_count(2)
    page.wait_for_function(f"() => window.voweler.simulator.visitors >= {simulated['visitors'] + 80}", timeout=60_000)
    page.get_by_role("button", name="Stop the simulator").click()
    page.wait_for_function("() => window.voweler.simulator.inFlight === 0")
    assert [arm["name"] for arm in bandit(server)["arms"]] == ["B", "green"]
    expect(page.locator("#bandit-alerts .alert")).to_have_count(0)


def test_the_beta_densities_match_scipy(page):
    from scipy import stats

    # the uniform prior, a weak prior below 1 (infinite at 0), a young arm, and arms after
    # a hundred thousand and twenty million impressions (log-gamma must not overflow)
    for a, b in [(1, 1), (0.06, 1.94), (3, 97), (2.5, 0.8), (1234.5, 98765.5), (1e6 + 0.5, 2e7 + 0.5)]:
        mean, sd = a / (a + b), stats.beta.std(a, b)
        xs = [x for x in (mean - 3 * sd, mean - sd, mean, mean + sd, mean + 3 * sd, 0.5, 0.9) if 0 < x < 1]
        got = page.evaluate(
            "async ([a, b, xs]) => { const beta = await import('/static/js/beta.js'); return xs.map((x) => beta.betaPdf(x, a, b)); }",
            [a, b, xs],
        )
        assert got == pytest.approx(list(stats.beta.pdf(xs, a, b)), rel=1e-6, abs=1e-300), (a, b)


# --- the workers --------------------------------------------------------------------------------


def test_a_burst_and_all_workers_agree(page, server):
    from playwright.sync_api import expect

    expect(page.locator("#uwsgi-table tbody tr")).to_have_count(4)
    version = perceptron(server)["version"]
    page.fill("#burst-count", "64")
    page.get_by_role("button", name="Fire burst").click()
    result = page.locator("#burst-result")
    expect(result).to_contain_text("All 4 workers report version", timeout=60_000)
    expect(result).to_contain_text(f"version {version + 64:,} with identical weights")
    expect(result).to_contain_text("64 of 64 training requests succeeded")
    expect(result).to_contain_text("no update was lost")
    expect(result).to_have_class(re.compile(r"\bok\b"))
    after = perceptron(server)
    assert after["version"] == version + 64 and after["updates"] == 64
    # the page heard from every worker, and the stats table lists the deployment's workers
    pids = sorted(server.worker_pids())
    for pid in pids:
        expect(page.locator(f'#pid-table tr[data-pid="{pid}"]')).to_have_count(1)
        expect(page.locator(f'#uwsgi-table tr[data-pid="{pid}"]')).to_have_count(1)
    expect(page.locator("#uwsgi-summary")).to_contain_text(f"master pid {server.process.pid}, 4 workers")
    shoot(page, "workers-after-burst-1280", "#workers")


def test_a_pid_has_the_same_colour_in_every_tab(browser, server):
    from playwright.sync_api import expect

    # Two tabs that first hear from different workers: every pid still gets one colour in both.
    reset_models(server.url)
    pids = sorted(server.worker_pids())
    assert len(pids) == 4

    def only_from(pid):
        """Answer the page's GETs with what worker `pid` says (asking again until it answers)."""

        def handle(route):
            if route.request.method != "GET":
                return route.continue_()
            for _ in range(200):
                response = route.fetch()
                try:
                    answered = response.json().get("pid")
                except ValueError:
                    break
                if answered in (pid, None):
                    break
            route.fulfill(response=response)

        return handle

    colours = []
    for first in (pids[0], pids[-1]):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watch = Watch(page)
        page.route("**/api/**", only_from(first))
        try:
            page.goto(server.url + "/")
            expect(page.locator("#uwsgi-table tbody tr")).to_have_count(4)
            chips = page.locator("#uwsgi-table .pid-chip")
            expect(chips).to_have_count(4)
            colours.append(dict(page.evaluate(
                "() => [...document.querySelectorAll('#uwsgi-table .pid-chip')].map((chip) => [Number(chip.textContent), getComputedStyle(chip).backgroundColor])"
            )))
            watch.check()
        finally:
            page.unroute_all(behavior="ignoreErrors")  # a handler may still be asking for a GET in flight
            context.close()
    assert sorted(colours[0]) == pids
    assert colours[0] == colours[1]
    assert len(set(colours[0].values())) > 1


def test_changes_by_another_client_show_without_reloading(page, server):
    from playwright.sync_api import expect

    page.evaluate("() => { window.notReloaded = true; }")
    answer = api(server).post("/api/perceptron/train", {"letters": "aeiou"})
    # The page polls about every 0.6 s; 5 s leaves room for a busy machine.
    expect(page.locator("#p-version")).to_have_text(f"{answer['version']:,}", timeout=5_000)
    expect(page.locator("#p-updates")).to_have_text("5", timeout=5_000)
    api(server).post("/api/bandit/arms", {"name": "from elsewhere"})
    expect(page.locator('#arms-table tr[data-arm="from elsewhere"]')).to_have_count(1, timeout=5_000)
    assert page.evaluate("() => window.notReloaded") is True


def test_polling_pauses_while_the_tab_is_hidden(page, server):
    from playwright.sync_api import expect

    def set_visibility(state):
        page.evaluate(
            """(state) => {
                Object.defineProperty(document, "visibilityState", {value: state, configurable: true});
                document.dispatchEvent(new Event("visibilitychange"));
            }""",
            state,
        )

    set_visibility("hidden")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "paused")
    page.wait_for_timeout(300)  # a poll already under way may still land
    polls = []
    page.on("request", lambda request: polls.append(request.url) if "/api/" in request.url else None)
    page.wait_for_timeout(2000)
    assert polls == []
    set_visibility("visible")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    answer = api(server).post("/api/perceptron/train", {"letters": "b"})
    expect(page.locator("#p-version")).to_have_text(f"{answer['version']:,}")


# --- the whole page at two widths ---------------------------------------------------------------


@pytest.mark.parametrize("width", [1280, 390])
def test_the_page_fits_the_width(browser, server, width):
    from playwright.sync_api import expect

    reset_models(server.url)
    client = api(server)
    client.post("/api/perceptron/train", {"letters": ALPHABET * 2})
    client.post("/api/bandit/arms", {"name": "green"})
    for _ in range(150):  # some traffic, so that the posteriors differ
        served = client.post("/api/bandit/serve")
        clicked = served["arm"] == "green" or served["version"] % 11 == 0
        client.call("POST", "/api/bandit/reward", {"ticket": served["ticket"], "clicked": clicked})
    context, page, watch = open_page(browser, server, width)
    try:
        expect(page.locator("#chart-densities svg")).to_have_attribute("data-arms", "3")
        expect(page.locator("#uwsgi-table tbody tr")).to_have_count(4)
        page.get_by_role("button", name="Fire burst").click()
        expect(page.locator("#burst-result")).to_contain_text("All 4 workers report version", timeout=60_000)
        for selector in ("#tiles", "#reset-form", "#chart-densities", "#arms-table", "#uwsgi-table", "#burst-result"):
            box = page.locator(selector).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, f"{selector} sticks out: {box}"
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        shoot(page, f"page-{width}")
        for panel in ("perceptron", "bandit", "workers"):
            shoot(page, f"{panel}-{width}", f"#{panel}")
        watch.check()
    finally:
        context.close()


# --- who may change what ------------------------------------------------------------------------

OPERATOR_TOKEN = "browser-test-operator-token-" + "t" * 12


def test_a_management_action_asks_for_the_token_once_and_public_ones_never(browser):
    from playwright.sync_api import expect

    from voweler_tools.deployment import Deployment

    with Deployment(processes=2, env={"VOWELER_ADMIN_TOKEN": OPERATOR_TOKEN}) as server:
        operator = Client(server.url, timeout=30, token=OPERATOR_TOKEN)
        operator.post("/api/perceptron/reset", START)
        context, page, watch = open_page(browser, server)
        watch.allow(401)
        watch.allow(403)
        try:
            dialog = page.locator("#token-dialog")
            # a public action: trained at once, no question
            version = operator.get("/api/perceptron")["version"]
            page.locator('.tile[data-letter="a"]').click()
            expect(page.locator("#p-version")).to_have_text(f"{version + 1:,}")
            expect(dialog).to_be_hidden()
            # a management action: refused with 401, so the page asks; a wrong token is refused too
            page.fill("#reset-dim", "20")
            page.get_by_role("button", name="Reset the model").click()
            expect(dialog).to_be_visible()
            expect(page.locator("#token-reason")).to_contain_text("for operators")
            shoot(page, "token-dialog-1280", "#token-dialog")
            page.fill("#token-input", "not-the-operator-token-" + "x" * 10)
            page.get_by_role("button", name="Use token").click()
            expect(page.locator("#perceptron .alert")).to_contain_text("token is wrong")
            assert operator.get("/api/perceptron")["dim"] == 16
            # asked again, and this time it is right
            page.get_by_role("button", name="Reset the model").click()
            expect(dialog).to_be_visible()
            page.fill("#token-input", OPERATOR_TOKEN)
            page.get_by_role("button", name="Use token").click()
            expect(page.locator("#p-config")).to_contain_text("dimension 20")
            assert operator.get("/api/perceptron")["dim"] == 20
            # kept for the tab's session, so the next one does not ask; never in the URL or localStorage
            page.fill("#reset-dim", "24")
            page.get_by_role("button", name="Reset the model").click()
            expect(page.locator("#p-config")).to_contain_text("dimension 24")
            expect(dialog).to_be_hidden()
            assert page.evaluate("Object.values(sessionStorage)") == [OPERATOR_TOKEN]
            assert page.evaluate("localStorage.length") == 0 and OPERATOR_TOKEN not in page.url
            watch.check()
        finally:
            context.close()
