"""The bandit's JSON API, through Flask's test client, on the in-process (memory://) backend."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import random
import time
import types
from collections import Counter
from urllib.parse import quote

import pytest

from bandit_client import (
    ARM_KEYS, ARMS, DOCUMENT_KEYS, EVENTS, RESET, REWARD, REWARD_KEYS, SERVE, SERVE_KEYS, SHOW,
    count_problems, error_problems, fields, flip, made_up, resign,
)  # fmt: skip
from voweler_tools.checks import without_pid
from voweler import create_app
from voweler.services import services
from voweler.services.tickets import TicketSigner
from voweler.state.cells import CellTally

JSON, FORM, TEXT = "application/json", "application/x-www-form-urlencoded", "text/plain"
SECRET = b"x" * 32
TTL = 3600
START = [
    {"name": "red"},
    {"name": "green", "prior_ctr": 0.05, "prior_impressions": 200},
    {"name": "blue", "prior_ctr": 0.2, "prior_impressions": 10},
]


@pytest.fixture
def app_config():
    """tests/conftest.py's ``app``, with a secret of the tests' own."""
    return {"STATE_URL": "memory://", "SECRET": SECRET}


@pytest.fixture
def prepare_client():
    """tests/conftest.py's ``client`` starts from these arms (a fresh ``app`` has the default ones)."""
    return lambda client: ok(post(client, RESET, {"arms": START}))


# -- helpers ------------------------------------------------------------------------------------


def post(client, path: str, body=None, raw: str | bytes | None = None, content_type: str = JSON):
    """POST ``body`` as JSON (nothing if None), or ``raw`` bytes as they are."""
    if raw is None and body is not None:
        raw = json.dumps(body)
    return client.post(path, data=raw, content_type=content_type)


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == JSON
    body = response.get_json()
    assert isinstance(body["pid"], int)
    return body


def assert_error(response, status: int, code: str | None = None, *fragments: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == JSON
    body = json.loads(response.get_data())
    assert error_problems(body, status, code) == []
    for fragment in fragments:
        assert fragment.lower() in body["message"].lower(), body["message"]
    return body


def show(client) -> dict:
    return ok(client.get(SHOW))


def serve(client) -> dict:
    return ok(post(client, SERVE))


def reward(client, ticket: str, clicked: bool = True) -> dict:
    return ok(post(client, REWARD, {"ticket": ticket, "clicked": clicked}))


def by_name(document: dict) -> dict:
    return {arm["name"]: arm for arm in document["arms"]}


def events(client, since: int = 0, limit: int = 5000) -> dict:
    return ok(client.get(f"{EVENTS}?since={since}&limit={limit}"))


# -- reading ------------------------------------------------------------------------------------


def test_the_document_has_every_field(client):
    doc = show(client)
    assert set(doc) == DOCUMENT_KEYS
    assert (doc["impressions"], doc["clicks"], doc["recent_serves"], doc["ticket_ttl"]) == (0, 0, 0, TTL)
    assert [arm["name"] for arm in doc["arms"]] == ["red", "green", "blue"]
    assert len({arm["slot"] for arm in doc["arms"]}) == 3
    for arm in doc["arms"]:
        assert set(arm) == ARM_KEYS
        assert (arm["impressions"], arm["clicks"], arm["share"]) == (0, 0, 0.0)
        assert set(arm["prior"]) == {"ctr", "impressions"}
        assert 0 < arm["prior"]["ctr"] < 1 and arm["prior"]["impressions"] > 0
        assert arm["alpha"] > 0 and arm["beta"] > 0
        assert arm["mean"] == pytest.approx(arm["alpha"] / (arm["alpha"] + arm["beta"]))
        low, high = arm["interval"]
        assert 0 <= low < arm["mean"] < high <= 1
        assert 0 < arm["propensity"] < 1
    assert by_name(doc)["green"]["prior"] == {"ctr": 0.05, "impressions": 200}
    assert by_name(doc)["blue"]["prior"] == {"ctr": 0.2, "impressions": 10}
    assert sum(arm["propensity"] for arm in doc["arms"]) == pytest.approx(1, abs=1e-9)


def test_a_fresh_server_serves_and_takes_rewards(app):
    # No reset: what a new deployment does on its first page views.
    client = app.test_client()
    doc = show(client)
    assert set(doc) == DOCUMENT_KEYS and doc["arms"], doc
    served = serve(client)
    rewarded = reward(client, served["ticket"])
    assert rewarded["arm"] == served["arm"] and rewarded["version"] == served["version"] + 1
    after = show(client)
    assert by_name(after)[served["arm"]]["impressions"] == 1
    assert by_name(after)[served["arm"]]["clicks"] == 1


# -- serving and rewarding ----------------------------------------------------------------------


def test_a_serve_counts_one_impression_and_signs_a_ticket_for_its_arm(client):
    before = show(client)
    served = serve(client)
    assert set(served) == SERVE_KEYS
    assert served["arm"] in by_name(before)
    assert isinstance(served["ticket"], str) and len(served["ticket"]) == 48
    ticket = fields(served["ticket"])
    assert ticket.test == before["test"] and ticket.uid == by_name(before)[served["arm"]]["slot"]
    assert time.time() + TTL - 5 <= ticket.expires <= time.time() + TTL + 1
    assert TicketSigner(key(client), TTL).verify(served["ticket"], time.time()).serial == ticket.serial
    assert served["propensity"] == pytest.approx(by_name(before)[served["arm"]]["propensity"], abs=1e-9)
    assert served["version"] == before["version"] + 1
    after = show(client)
    assert after["version"] == served["version"]
    assert (after["impressions"], after["clicks"]) == (1, 0)
    assert {arm["name"]: arm["impressions"] for arm in after["arms"]} == {
        name: int(name == served["arm"]) for name in ("red", "green", "blue")
    }
    assert by_name(after)[served["arm"]]["share"] == 1.0 and after["recent_serves"] == 1


@pytest.mark.parametrize("body", [None, {}], ids=["no-body", "empty-object"])
def test_serve_takes_an_empty_body_or_an_empty_object(client, body):
    assert set(ok(post(client, SERVE, body))) == SERVE_KEYS


@pytest.mark.parametrize("clicked", [True, False])
def test_a_reward_counts_a_click_only_if_clicked_and_only_for_its_arm(client, clicked):
    served = serve(client)
    rewarded = reward(client, served["ticket"], clicked)
    assert set(rewarded) == REWARD_KEYS
    assert (rewarded["arm"], rewarded["clicked"], rewarded["version"]) == (served["arm"], clicked, served["version"] + 1)
    after = show(client)
    assert after["version"] == rewarded["version"] and after["clicks"] == int(clicked)
    assert {name: arm["clicks"] for name, arm in by_name(after).items()} == {
        name: int(clicked and name == served["arm"]) for name in ("red", "green", "blue")
    }
    assert by_name(after)[served["arm"]]["impressions"] == 1


def test_version_adds_exactly_one_per_serve_and_per_accepted_reward_and_none_per_refusal(client):
    version = show(client)["version"]
    tickets = []
    for _ in range(20):
        served = serve(client)
        assert served["version"] == version + 1
        version = served["version"]
        tickets.append(served["ticket"])
        assert show(client)["version"] == version
    for i, ticket in enumerate(tickets[::2]):
        rewarded = reward(client, ticket, clicked=bool(i % 2))
        assert rewarded["version"] == version + 1
        version = rewarded["version"]
        assert_error(post(client, REWARD, {"ticket": ticket, "clicked": True}), 409, "ticket_redeemed")
        assert show(client)["version"] == version


def test_counts_match_what_clients_were_told(client):
    served, clicked = Counter(), Counter()
    rng = random.Random(5)
    for _ in range(300):
        answer = serve(client)
        served[answer["arm"]] += 1
        if rng.random() < 0.3:
            click = rng.random() < 0.5
            rewarded = reward(client, answer["ticket"], click)
            clicked[rewarded["arm"]] += click
    assert count_problems(show(client), served, clicked) == []
    # ...and the check is not vacuous: one impression or one click more or less is caught.
    doc = show(client)
    for field, delta in [("impressions", 1), ("impressions", -1), ("clicks", 1), ("clicks", -1)]:
        wrong = json.loads(json.dumps(doc))
        wrong["arms"][0][field] += delta
        wrong[field] += delta
        assert count_problems(wrong, served, clicked), (field, delta)


def test_thompson_sampling_prefers_the_arm_that_gets_clicked(client):
    # Clicks on red only: after a few hundred visitors, red is served most and is most probable.
    for _ in range(400):
        answer = serve(client)
        reward(client, answer["ticket"], clicked=answer["arm"] == "red")
    doc = show(client)
    arms = by_name(doc)
    assert arms["red"]["impressions"] > arms["green"]["impressions"] + arms["blue"]["impressions"]
    assert arms["red"]["propensity"] > 0.9 and arms["red"]["share"] > 0.5
    assert arms["red"]["mean"] > max(arms["green"]["mean"], arms["blue"]["mean"])
    assert sum(arm["share"] for arm in doc["arms"]) == pytest.approx(1)


# -- editing the arms ---------------------------------------------------------------------------


def test_adding_an_arm(client):
    before = show(client)
    doc = ok(post(client, ARMS, {"name": "yellow", "prior_ctr": 0.1, "prior_impressions": 50}), 201)
    assert set(doc) == DOCUMENT_KEYS
    assert [arm["name"] for arm in doc["arms"]] == ["red", "green", "blue", "yellow"]
    yellow = by_name(doc)["yellow"]
    assert yellow["prior"] == {"ctr": 0.1, "impressions": 50}
    assert (yellow["impressions"], yellow["clicks"]) == (0, 0)
    assert yellow["slot"] not in {arm["slot"] for arm in before["arms"]}
    assert doc["test"] == before["test"] and doc["version"] > before["version"]
    assert without_pid(show(client)) == without_pid(doc)


def test_an_arm_added_without_a_prior_gets_one(client):
    doc = ok(post(client, ARMS, {"name": "plain"}), 201)
    prior = by_name(doc)["plain"]["prior"]
    assert 0 < prior["ctr"] < 1 and prior["impressions"] > 0


def test_adding_an_arm_keeps_the_counts_of_the_test(client):
    served = Counter(serve(client)["arm"] for _ in range(30))
    doc = ok(post(client, ARMS, {"name": "late"}), 201)
    expected = {"red": served["red"], "green": served["green"], "blue": served["blue"], "late": 0}
    assert {name: arm["impressions"] for name, arm in by_name(doc).items()} == expected
    assert doc["impressions"] == 30


def test_removing_an_arm(client):
    served = [serve(client) for _ in range(40)]
    before = show(client)
    name = served[0]["arm"]
    doc = ok(client.delete(f"{ARMS}/{name}"))
    assert name not in by_name(doc) and len(doc["arms"]) == 2
    assert doc["test"] == before["test"] and doc["version"] > before["version"]
    assert doc["impressions"] == before["impressions"] - by_name(before)[name]["impressions"]
    assert sum(arm["propensity"] for arm in doc["arms"]) == pytest.approx(1)
    assert all(serve(client)["arm"] != name for _ in range(30))
    # Its tickets count nothing now, and the other arms' tickets still do.
    mine = [s["ticket"] for s in served if s["arm"] == name]
    assert_error(post(client, REWARD, {"ticket": mine[0], "clicked": True}), 410, "arm_removed")
    other = next(s for s in served if s["arm"] != name)
    assert reward(client, other["ticket"])["arm"] == other["arm"]


def test_an_arm_removed_and_added_again_is_a_new_arm(client):
    served = serve(client)
    name = served["arm"]
    old_slot = by_name(show(client))[name]["slot"]
    ok(client.delete(f"{ARMS}/{name}"))
    doc = ok(post(client, ARMS, {"name": name}), 201)
    again = by_name(doc)[name]
    assert (again["impressions"], again["clicks"]) == (0, 0)
    assert again["slot"] != old_slot
    before = show(client)
    assert_error(post(client, REWARD, {"ticket": served["ticket"], "clicked": True}), 410, "arm_removed")
    assert without_pid(show(client)) == without_pid(before)


@pytest.mark.parametrize("name", ["a b", "ünïcødé", "50%", "what?", "#1", "a+b", "x" * 64, "ab.c"])
def test_an_arm_that_could_be_added_can_be_removed_by_its_url(client, name):
    added = post(client, ARMS, {"name": name})
    if added.status_code == 400:
        pytest.skip(f"the model refuses the name {name!r}: {added.get_json()['message']}")
    ok(added, 201)
    doc = ok(client.delete(f"{ARMS}/{quote(name, safe='')}"))
    assert name not in by_name(doc)


def test_reset_starts_a_new_test_from_zero_and_voids_older_tickets(client):
    served = [serve(client) for _ in range(10)]
    reward(client, served[0]["ticket"])
    before = show(client)
    arms = [{"name": "a", "prior_ctr": 0.3, "prior_impressions": 3}, {"name": "b"}]
    doc = ok(post(client, RESET, {"arms": arms}))
    assert set(doc) == DOCUMENT_KEYS
    assert doc["test"] > before["test"] and doc["version"] > before["version"]
    assert [arm["name"] for arm in doc["arms"]] == ["a", "b"]
    assert (doc["impressions"], doc["clicks"], doc["recent_serves"]) == (0, 0, 0)
    assert by_name(doc)["a"]["prior"] == {"ctr": 0.3, "impressions": 3}
    assert all(arm["impressions"] == arm["clicks"] == 0 and arm["share"] == 0 for arm in doc["arms"])
    assert without_pid(show(client)) == without_pid(doc)
    for old in served[1:3]:
        assert_error(post(client, REWARD, {"ticket": old["ticket"], "clicked": True}), 410, "test_ended")
    assert without_pid(show(client)) == without_pid(doc)
    fresh = serve(client)
    assert fresh["arm"] in ("a", "b") and reward(client, fresh["ticket"])["arm"] == fresh["arm"]


def test_reset_to_the_same_arms_still_starts_over(client):
    for _ in range(5):
        serve(client)
    test = show(client)["test"]
    doc = ok(post(client, RESET, {"arms": START}))
    assert doc["test"] > test and doc["impressions"] == 0


def test_64_arms_are_allowed(client):
    doc = ok(post(client, RESET, {"arms": [{"name": f"arm{i}"} for i in range(64)]}))
    assert len(doc["arms"]) == 64
    assert len({arm["slot"] for arm in doc["arms"]}) == 64
    assert sum(arm["propensity"] for arm in doc["arms"]) == pytest.approx(1)
    serve(client)


# -- the event log ------------------------------------------------------------------------------


def test_the_event_log_records_serves_and_rewards(client):
    start = events(client)["next"]
    served = [serve(client) for _ in range(5)]
    click, no_click = reward(client, served[1]["ticket"], True), reward(client, served[3]["ticket"], False)
    doc = show(client)
    page = events(client, since=start)
    rows = page["events"]
    assert [row["seq"] for row in rows] == list(range(start, start + 7))
    assert page["next"] == start + 7 and page["skipped"] == 0
    for row in rows:
        assert set(row) == {"seq", "time", "event", "test", "arm", "arm_slot", "serial", "version", "propensity"}
        assert row["test"] == doc["test"] and abs(row["time"] - time.time()) < 60
    for row, answer in zip(rows[:5], served):
        ticket = fields(answer["ticket"])
        assert row["event"] == "serve"
        assert (row["arm"], row["arm_slot"], row["serial"]) == (answer["arm"], ticket.uid, ticket.serial)
        assert (row["version"], row["propensity"]) == (answer["version"], answer["propensity"])
    for row, answer, kind, rewarded in [(rows[5], served[1], "click", click), (rows[6], served[3], "no_click", no_click)]:
        assert row["event"] == kind
        assert (row["arm"], row["serial"], row["propensity"]) == (answer["arm"], fields(answer["ticket"]).serial, None)
        assert row["version"] == rewarded["version"]
    assert [row["serial"] for row in rows[:5]] == list(range(rows[0]["serial"], rows[0]["serial"] + 5))


def test_event_pages_put_together_are_the_whole_log(client):
    for _ in range(23):
        served = serve(client)
        reward(client, served["ticket"], clicked=served["arm"] == "red")
    whole = events(client)
    assert len(whole["events"]) == 46 and whole["skipped"] == 0
    pages, since = [], 0
    while True:
        page = events(client, since=since, limit=5)
        assert len(page["events"]) <= 5 and page["skipped"] == 0
        if not page["events"]:
            assert page["next"] == since
            break
        assert page["events"][0]["seq"] == since
        pages += page["events"]
        since = page["next"]
    assert pages == whole["events"]
    # Past the newest event is a mistake (a client that kept `next` across a server restart,
    # say): said plainly, not an empty page to wait on forever.
    assert_error(client.get(f"{EVENTS}?since=47"), 400, "bad_request", "beyond the newest event")


def test_default_event_page(client):
    serve(client)
    page = ok(client.get(EVENTS))
    assert len(page["events"]) == 1 and page["next"] == 1


def test_events_of_an_ended_test_name_no_arm(client):
    serve(client)
    ok(post(client, RESET, {"arms": [{"name": "x"}, {"name": "y"}]}))
    old, = events(client)["events"]
    assert old["arm"] is None and old["event"] == "serve" and old["test"] < show(client)["test"]


def test_events_older_than_the_log_are_reported_skipped(monkeypatch):
    monkeypatch.setattr(CellTally, "log_capacity", 16)
    client = create_app({"STATE_URL": "memory://", "SECRET": SECRET}).test_client()
    ok(post(client, RESET, {"arms": START}))
    for _ in range(40):
        serve(client)
    page = events(client, since=0)
    seqs = [row["seq"] for row in page["events"]]
    assert seqs == list(range(40 - 15, 40))  # the newest capacity - 1
    assert page["skipped"] == 25 and page["next"] == 40
    assert events(client, since=30)["skipped"] == 0
    assert show(client)["impressions"] == 40  # the counters are not the log


# -- bad input ----------------------------------------------------------------------------------


def key(client) -> bytes:
    """What this app signs its tickets with."""
    return services(client.application)["bandit"].ticket_secret()


class Context(types.SimpleNamespace):
    """Tickets in every condition, for the table below."""


@pytest.fixture
def primed(client):
    """A bandit that has history, and tickets in every condition."""
    ctx = Context()
    ctx.key = key(client)
    ctx.old_test = serve(client)["ticket"]  # served in a test that then ended
    ok(post(client, RESET, {"arms": START}))
    removed = serve(client)
    ok(client.delete(f"{ARMS}/{removed['arm']}"))
    ok(post(client, ARMS, {"name": removed["arm"]}), 201)  # the same name, a new arm
    ctx.removed = removed["ticket"]
    for i in range(20):
        answer = serve(client)
        if i % 3 == 0:
            reward(client, answer["ticket"], clicked=i % 2 == 0)
            ctx.redeemed = answer["ticket"]
    ctx.fresh = serve(client)["ticket"]
    ctx.test = show(client)["test"]
    return client, ctx


def bad(path, body=None, status=400, code="bad_request", fragment="", raw=None, content_type=JSON, method="POST", id=None):
    """A request that must be refused. ``body`` may be a function of the ticket context."""
    return pytest.param(method, path, body, raw, content_type, status, code, fragment, id=id)


def arm(field, value, status=400, code="bad_request", fragment="", id=None):
    body = {"name": "new", field: value} if field != "name" else {field: value}
    return bad(ARMS, body, status, code, fragment, id=id or f"arms-{field}={value!r}"[:60])


def reset_arm(field, value, status=400, code="bad_request", fragment="", id=None):
    item = {"name": "new", field: value} if field != "name" else {field: value}
    return bad(RESET, {"arms": [{"name": "ok"}, item]}, status, code, fragment, id=id or f"reset-{field}={value!r}"[:60])


def ticket(make, status, code, fragment="", id=None):
    return bad(REWARD, lambda ctx: {"ticket": make(ctx), "clicked": True}, status, code, fragment, id=f"reward-{id}")


def long_names(n):
    return {"arms": [{"name": f"arm{i}"} for i in range(n)]}


BAD_PRIORS = [
    *[("prior_ctr", value, "prior_ctr") for value in (0, 1, -0.1, 1.5, 0.0, 1.0, -1e-9)],
    *[("prior_impressions", value, "prior_impressions") for value in (0, -1, -0.5, 1e300, 10**15)],
]
BAD_TYPES = [
    *[("prior_ctr", value, "prior_ctr must be a number") for value in ("0.1", True, False, [0.1], {"v": 0.1}, "NaN")],
    *[("prior_impressions", value, "prior_impressions must be a number") for value in ("10", True, [10], "Infinity")],
    *[("name", value, "name must be a string") for value in (1, True, None, ["red"], {"n": "red"})],
]
BAD_NAMES = ["", "a/b", "/", "x" * 65, " red", "red ", "\t", "a\nb", "\u0000"]

BAD_REQUESTS = [
    # -- serve
    bad(SERVE, {"arm": "red"}, fragment="unknown field 'arm'", id="serve-unknown-field"),
    bad(SERVE, [], fragment="must be a JSON object", id="serve-array"),
    bad(SERVE, None, raw="null", fragment="must be a JSON object", id="serve-null"),
    bad(SERVE, raw="{", fragment="not valid JSON", id="serve-invalid-json"),
    bad(SERVE, raw="serve", status=415, code="unsupported_media_type", content_type=TEXT, id="serve-text"),
    bad(SERVE, raw="a=1", status=415, code="unsupported_media_type", content_type=FORM, id="serve-form"),
    # -- reward: the body
    bad(REWARD, {}, fragment="missing field", id="reward-empty"),
    bad(REWARD, lambda ctx: {"ticket": ctx.fresh}, fragment="missing field 'clicked'", id="reward-no-clicked"),
    bad(REWARD, {"clicked": True}, fragment="missing field 'ticket'", id="reward-no-ticket"),
    *[
        bad(REWARD, lambda ctx, v=value: {"ticket": ctx.fresh, "clicked": v}, fragment="clicked must be a boolean", id=f"reward-clicked={value!r}")
        for value in ("true", 1, 0, None, [True])
    ],
    *[
        bad(REWARD, {"ticket": value, "clicked": True}, fragment="ticket must be a string", id=f"reward-ticket={value!r}")
        for value in (123, None, True, ["x"], {"t": 1})
    ],
    bad(REWARD, lambda ctx: {"ticket": ctx.fresh, "clicked": True, "arm": "red"}, fragment="unknown field 'arm'", id="reward-unknown-field"),
    bad(REWARD, lambda ctx: f"ticket={ctx.fresh}&clicked=true", status=415, code="unsupported_media_type", content_type=FORM, id="reward-form"),
    bad(REWARD, raw='{"ticket": "x", "clicked": tru}', fragment="not valid JSON", id="reward-invalid-json"),
    # -- reward: the ticket
    ticket(lambda ctx: "", 400, "invalid_ticket", id="empty"),
    ticket(lambda ctx: ctx.fresh[:-1], 400, "invalid_ticket", "48 characters", id="47-chars"),
    ticket(lambda ctx: ctx.fresh + "A", 400, "invalid_ticket", "48 characters", id="49-chars"),
    ticket(lambda ctx: ctx.fresh[:20] + "!" + ctx.fresh[21:], 400, "invalid_ticket", "base64", id="not-base64"),
    ticket(lambda ctx: ctx.fresh[:20] + "é" + ctx.fresh[21:], 400, "invalid_ticket", id="non-ascii"),
    ticket(lambda ctx: ctx.fresh[:20] + " " + ctx.fresh[21:], 400, "invalid_ticket", id="space"),
    ticket(lambda ctx: ctx.fresh[:46] + "==", 400, "invalid_ticket", id="padded-34-bytes"),
    *[ticket(lambda ctx, i=i: flip(ctx.fresh, i), 403, "forged_ticket", id=f"one-char-changed-at-{i}") for i in (0, 5, 12, 26, 27, 40, 47)],
    ticket(lambda ctx: resign(ctx.fresh, b"another secret of 32 bytes......"), 403, "forged_ticket", id="other-secret"),
    ticket(lambda ctx: made_up(random.Random(1)), 403, "forged_ticket", id="made-up"),
    ticket(lambda ctx: resign(ctx.fresh, ctx.key, TTL, now=time.time() - TTL - 10), 410, "expired_ticket", id="expired"),
    ticket(lambda ctx: ctx.redeemed, 409, "ticket_redeemed", "already redeemed", id="replayed"),
    ticket(lambda ctx: ctx.old_test, 410, "test_ended", id="before-reset"),
    ticket(lambda ctx: ctx.removed, 410, "arm_removed", id="arm-removed"),
    ticket(lambda ctx: resign(ctx.fresh, ctx.key, serial=10**12), 410, "unknown_ticket", id="never-served"),
    ticket(lambda ctx: resign(ctx.fresh, ctx.key, test=ctx.test + 1), 410, "test_ended", id="future-test"),
    ticket(lambda ctx: resign(ctx.fresh, ctx.key, uid=63), 410, "arm_removed", id="slot-never-used"),
    # -- add an arm
    bad(ARMS, {}, fragment="missing field 'name'", id="arms-no-name"),
    bad(ARMS, {"name": "new", "color": "red"}, fragment="unknown field 'color'", id="arms-unknown-field"),
    bad(ARMS, ["new"], fragment="must be a JSON object", id="arms-array"),
    bad(ARMS, raw='{"name": "new", "prior_ctr": NaN}', fragment="not valid JSON", id="arms-NaN"),
    bad(ARMS, raw='{"name": "new", "prior_impressions": Infinity}', fragment="not valid JSON", id="arms-Infinity"),
    bad(ARMS, raw='{"name": "new", "prior_impressions": 1e999}', fragment="not valid JSON", id="arms-1e999"),
    bad(ARMS, raw="name=new", status=415, code="unsupported_media_type", content_type=FORM, id="arms-form"),
    bad(ARMS, {"name": "red"}, status=409, code="conflict", fragment="red", id="arms-duplicate"),
    *[arm(field, value, fragment=fragment) for field, value, fragment in BAD_PRIORS + BAD_TYPES],
    *[arm("name", value) for value in BAD_NAMES],
    # -- remove an arm
    bad(ARMS + "/nope", method="DELETE", status=404, code="unknown_arm", fragment="nope", id="delete-unknown"),
    bad(ARMS + "/RED", method="DELETE", status=404, code="unknown_arm", id="delete-wrong-case"),
    bad(ARMS + "/", method="DELETE", status=(404, 405), code=None, id="delete-no-name"),
    bad(ARMS + "/a%2Fb", method="DELETE", status=404, code="not_found", id="delete-slash"),
    # -- reset
    bad(RESET, {}, fragment="missing field 'arms'", id="reset-no-arms"),
    bad(RESET, {"arms": []}, id="reset-empty-list"),
    *[bad(RESET, {"arms": value}, fragment="arms must be an array", id=f"reset-arms={value!r}") for value in ("red", {"name": "red"}, None, 3, True)],
    *[bad(RESET, {"arms": [{"name": "ok"}, value]}, fragment="arms[1] must be an object", id=f"reset-item={value!r}") for value in ("red", 1, None, ["red"])],
    bad(RESET, {"arms": [{"name": "ok"}, {"prior_ctr": 0.1}]}, fragment="missing field 'name' in arms[1]", id="reset-item-no-name"),
    bad(RESET, {"arms": [{"name": "ok"}, {"name": "b", "x": 1}]}, fragment="unknown field 'x' in arms[1]", id="reset-item-unknown-field"),
    bad(RESET, {"arms": [{"name": "ok"}], "test": 5}, fragment="unknown field 'test'", id="reset-unknown-field"),
    bad(RESET, {"arms": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}, status=(400, 409), code=None, id="reset-duplicate-name"),
    bad(RESET, long_names(65), status=(400, 409), code=None, fragment="64", id="reset-65-arms"),
    bad(RESET, raw='{"arms": [{"name": "a", "prior_ctr": NaN}]}', fragment="not valid JSON", id="reset-NaN"),
    bad(RESET, raw="arms=a", status=415, code="unsupported_media_type", content_type=FORM, id="reset-form"),
    *[reset_arm(field, value, fragment=fragment) for field, value, fragment in BAD_PRIORS + BAD_TYPES],
    *[reset_arm("name", value, id=f"reset-name={value!r}") for value in BAD_NAMES],
    # -- the event log
    *[
        bad(f"{EVENTS}?{query}", method="GET", fragment=query.split("=")[0], id=f"events-{query}")
        for query in ("since=-1", "since=abc", "since=1.5", "since=", "since=%C2%B2", "since=1e3", f"since={2**62 + 1}",
                      "limit=0", "limit=5001", "limit=-5", "limit=%20%205", "limit=%C2%B9")
    ],
]  # fmt: skip


@pytest.mark.parametrize("method, path, body, raw, content_type, status, code, fragment", BAD_REQUESTS)
def test_bad_input_is_refused_and_changes_nothing(primed, method, path, body, raw, content_type, status, code, fragment):
    client, ctx = primed
    if callable(body):
        body = body(ctx)
    if isinstance(body, str) and raw is None:
        body, raw = None, body
    before = without_pid(show(client))

    if method == "POST":
        response = post(client, path, body, raw=raw, content_type=content_type)
    else:
        response = client.open(path, method=method)

    assert response.status_code < 500, response.get_data(as_text=True)
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, response.get_data(as_text=True)
    assert_error(response, response.status_code, code, fragment)
    assert without_pid(show(client)) == before
    # ...and the fresh ticket is still good: the bandit goes on working.
    assert reward(client, ctx.fresh)["version"] == before["version"] + 1


def test_removing_the_last_arm_is_refused_and_changes_nothing(client):
    ok(post(client, RESET, {"arms": [{"name": "only"}]}))
    serve(client)
    before = without_pid(show(client))
    assert_error(client.delete(f"{ARMS}/only"), 409, "conflict")
    assert without_pid(show(client)) == before


def test_a_65th_arm_is_refused_and_changes_nothing(client):
    ok(post(client, RESET, long_names(64)))
    before = without_pid(show(client))
    response = post(client, ARMS, {"name": "one too many"})
    assert response.status_code in (400, 409), response.get_data(as_text=True)
    assert_error(response, response.status_code, None, "64")
    assert without_pid(show(client)) == before


def test_arms_added_and_removed_many_times_never_break_the_bandit(client):
    # Each added arm takes a new slot of the test; when the slots run out, adding is refused
    # cleanly (not a 500), and a reset frees them.
    for i in range(80):
        added = post(client, ARMS, {"name": f"n{i}"})
        if added.status_code != 201:
            assert_error(added, added.status_code)
            assert 400 <= added.status_code < 500
            break
        ok(client.delete(f"{ARMS}/n{i}"))
        serve(client)
    doc = ok(post(client, RESET, {"arms": START}))
    assert doc["impressions"] == 0
    ok(post(client, ARMS, {"name": "after"}), 201)


@pytest.mark.parametrize(
    "method, path, allowed",
    [("GET", SERVE, {"POST"}), ("GET", REWARD, {"POST"}), ("PUT", ARMS, {"POST"}), ("GET", RESET, {"POST"}),
     ("POST", SHOW, {"GET"}), ("POST", EVENTS, {"GET"}), ("GET", ARMS + "/red", {"DELETE"})],
)  # fmt: skip
def test_wrong_method(client, method, path, allowed):
    response = client.open(path, method=method)
    assert_error(response, 405, "method_not_allowed", *sorted(allowed))


def test_a_body_over_64_kib_is_a_413(client):
    before = without_pid(show(client))
    response = post(client, RESET, {"arms": [{"name": "a" * 60} for _ in range(1200)]})
    assert_error(response, 413, "too_large")
    assert without_pid(show(client)) == before


# -- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("secret", ["", "short", "x" * 15, b"x" * 15, b""])
def test_a_short_secret_is_refused_at_start(secret):
    with pytest.raises(ValueError, match="VOWELER_SECRET must be at least 16 bytes"):
        create_app({"STATE_URL": "memory://", "SECRET": secret})


def _from_env(**env):
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        return create_app({"STATE_URL": "memory://"})


def test_a_short_secret_in_the_environment_is_refused():
    with pytest.raises(ValueError, match="VOWELER_SECRET.*16"):
        _from_env(VOWELER_SECRET="x" * 15)


def test_the_secret_from_the_environment_signs_the_tickets():
    client = _from_env(VOWELER_SECRET="s" * 20).test_client()
    ok(post(client, RESET, {"arms": START}))
    served = serve(client)
    service = services(client.application)["bandit"]
    # The key combines the tally's own secret (a ticket is good only for the state that counted
    # its serve) with VOWELER_SECRET (reading the shared state is not enough to forge one).
    expected = hmac.digest(service.tally.secret(), b"voweler tickets\x00" + b"s" * 20, hashlib.sha256)
    assert key(client) == expected
    TicketSigner(expected).verify(served["ticket"], time.time())  # raises if signed otherwise
    made = resign(served["ticket"], expected, serial=fields(served["ticket"]).serial)
    assert_error(post(client, REWARD, {"ticket": flip(made, 30), "clicked": True}), 403, "forged_ticket")
    assert reward(client, made)["arm"] == served["arm"]  # same serve, signed by us with the same secret


def test_without_a_secret_one_is_generated_and_tickets_work():
    client = create_app({"STATE_URL": "memory://"}).test_client()
    ok(post(client, RESET, {"arms": START}))
    served = serve(client)
    assert_error(post(client, REWARD, {"ticket": resign(served["ticket"], SECRET), "clicked": True}), 403, "forged_ticket")
    assert reward(client, served["ticket"])["arm"] == served["arm"]


@pytest.mark.parametrize("ttl", ["0", "-5", "abc", "1.5", "", " 60", "2592001", "1e3", "²", "60s"])
def test_a_bad_ticket_ttl_is_refused_at_start(ttl):
    with pytest.raises(ValueError, match="VOWELER_TICKET_TTL must be a whole number of seconds"):
        _from_env(VOWELER_TICKET_TTL=ttl)


@pytest.mark.parametrize("ttl", [0, -5, 1.5, True, None])
def test_a_bad_ticket_ttl_in_the_config_is_refused_at_start(ttl):
    with pytest.raises(ValueError, match="VOWELER_TICKET_TTL"):
        create_app({"STATE_URL": "memory://", "TICKET_TTL": ttl})


def test_the_ticket_ttl_is_how_long_tickets_stay_good(monkeypatch):
    monkeypatch.setenv("VOWELER_TICKET_TTL", "60")
    client = create_app({"STATE_URL": "memory://", "SECRET": SECRET}).test_client()
    ok(post(client, RESET, {"arms": START}))
    assert show(client)["ticket_ttl"] == 60
    first, second = serve(client), serve(client)
    assert fields(first["ticket"]).expires == pytest.approx(time.time() + 60, abs=2)
    # 61 s later, by the server's clock:
    later = types.SimpleNamespace(time=lambda: time.time() + 61, time_ns=time.time_ns, monotonic=time.monotonic)
    monkeypatch.setattr("voweler.services.bandit.time", later)
    before = without_pid(show(client))
    assert_error(post(client, REWARD, {"ticket": first["ticket"], "clicked": True}), 410, "expired_ticket")
    assert without_pid(show(client)) == before
    monkeypatch.undo()
    assert reward(client, second["ticket"])["arm"] == second["arm"]


def test_errors_never_leak_a_500_for_odd_but_valid_json(client):
    # Valid JSON in odd shapes, everywhere: a 4xx each, never a 500.
    odd = [None, 0, -1, 1e308, "", "x" * 1000, [], {}, [[]], {"": ""}, True, {"name": {"name": "x"}}]
    for path in (SERVE, REWARD, ARMS, RESET):
        for value in odd:
            for body in (value, {"name": value}, {"arms": value}, {"arms": [value]}, {"ticket": value, "clicked": value}):
                response = post(client, path, body)
                assert response.status_code < 500, (path, body, response.get_data(as_text=True))
                if response.status_code >= 400:
                    assert error_problems(response.get_json(), response.status_code) == []


# -- found by a walk through the README as a new user ------------------------------------------


def test_a_malformed_escape_in_an_arm_url_deletes_nothing(client):
    post(client, "/api/bandit/reset", {"arms": [{"name": "ab"}, {"name": "cd"}]})
    before = show(client)
    for path in ("/api/bandit/arms/ab%", "/api/bandit/arms/cd%2", "/api/bandit/arms/%ZZ"):
        response = client.delete(path, environ_overrides={"REQUEST_URI": path})
        assert_error(response, 400, "bad_request", "malformed percent-escape")
    assert without_pid(show(client)) == without_pid(before)


def test_names_typed_two_ways_in_unicode_are_one_arm(client):
    post(client, "/api/bandit/reset", {"arms": [{"name": "gr\u00fcn"}, {"name": "red"}]})
    assert_error(post(client, "/api/bandit/arms", {"name": "gru\u0308n"}), 409, "conflict")
    ok(client.delete("/api/bandit/arms/" + quote("gru\u0308n")))
    assert [arm["name"] for arm in show(client)["arms"]] == ["red"]


def test_a_chunked_body_is_refused_rather_than_read_as_empty(client):
    response = client.post(
        "/api/bandit/arms", content_type="application/json", headers={"Transfer-Encoding": "chunked"},
        input_stream=io.BytesIO(b'{"name": "yy"}'),
    )
    assert_error(response, 411, "length_required", "Content-Length")


def test_serve_says_it_takes_no_fields(client):
    assert_error(post(client, "/api/bandit/serve", {"foo": 1}), 400, "bad_request", "takes no fields")
