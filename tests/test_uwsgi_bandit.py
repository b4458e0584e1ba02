"""The bandit under the real uWSGI with 4 workers: exact counts, single-use tickets, one secret.

Every count the server reports is checked against what its clients were told: an impression per
acknowledged serve, a click per accepted reward, per arm, on every worker, with workers killed.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from bandit_client import (
    EVENTS, RESET, REWARD, SERVE, SHOW, count_problems, error_problems, fields, flip, made_up, resign,
)  # fmt: skip
from voweler_tools import checks
from voweler_tools.checks import disagreements, without_pid
from voweler_tools.client import Answer, Client

pytestmark = pytest.mark.uwsgi

WORKERS = 4  # the workers of the `server` fixture (tests/conftest.py)
THREE = [{"name": "red"}, {"name": "green", "prior_ctr": 0.05, "prior_impressions": 100}, {"name": "blue"}]


# -- talking to the server ----------------------------------------------------------------------


def call(url: str, path: str, body: dict | None = None, method: str = "POST") -> Answer:
    """An HTTP status and JSON body (``code``: the error code), or ``status`` None and the transport ``problem``."""
    return Client(url, timeout=30).call(method, path, body)


def document(url: str) -> dict:
    answer = call(url, SHOW, method="GET")
    assert answer.status == 200, answer
    return answer.body


def reset(url: str, arms=THREE) -> dict:
    answer = call(url, RESET, {"arms": arms})
    assert answer.status == 200, answer
    return answer.body


def serve(url: str) -> Answer:
    return call(url, SERVE)


def reward(url: str, ticket: str, clicked: bool = True) -> Answer:
    return call(url, REWARD, {"ticket": ticket, "clicked": clicked})


def every_worker(url: str) -> dict[int, dict]:
    """GET /api/bandit until every worker has answered; their documents by pid."""
    return checks.every_worker(url, WORKERS, path="/api/bandit")


def event_pages(url: str, since: int):
    """The event log's pages from ``since`` on, up to and including the empty one at its head."""
    while True:
        answer = call(url, f"{EVENTS}?since={since}&limit=5000", method="GET")
        assert answer.status == 200, answer
        yield answer.body
        if not answer.body["events"]:
            return
        since = answer.body["next"]


def log_head(url: str) -> int:
    """The ``seq`` the next logged event will get."""
    for page in event_pages(url, 0):
        pass
    return page["next"]


def logged(url: str, since: int) -> list[dict]:
    """Every event from ``since`` on (the log must still hold them all)."""
    rows = []
    for page in event_pages(url, since):
        assert page["skipped"] == 0, "the event log wrapped: the test logs too many events"
        rows += page["events"]
    return rows


def unexpected(answers: list[Answer], status: int = 200) -> list[str]:
    return [f"{a.status} {a.code or a.problem} {a.body and a.body.get('message')}" for a in answers if a.status != status]


# -- 0. a fresh deployment ---------------------------------------------------------------------


def test_a_fresh_deployment_takes_rewards_before_any_reset(server):
    # Runs first (file order): the deployment has never been reset, as after an operator's start.
    if document(server.url)["test"] != 1:
        pytest.skip("the deployment is no longer fresh (tests ran out of order)")
    with ThreadPoolExecutor(8) as pool:
        served = list(pool.map(lambda _: serve(server.url), range(40)))
        rewarded = list(pool.map(lambda a: reward(server.url, a.body["ticket"]) if a.status == 200 else a, served))
    assert unexpected(served) == [] and unexpected(rewarded) == []
    assert count_problems(document(server.url), Counter(a.body["arm"] for a in served), Counter(a.body["arm"] for a in rewarded)) == []
    assert disagreements(every_worker(server.url), WORKERS) == []


# -- 1. exact counts under concurrency ----------------------------------------------------------


def test_5000_concurrent_serves_and_their_rewards_are_counted_exactly_on_every_worker(server):
    serves, rewards = 5000, 150
    reset(server.url)
    initial = document(server.url)
    log_start = log_head(server.url)
    chosen = set(random.Random(1).sample(range(serves), rewards))

    reward_futures = []
    with ThreadPoolExecutor(4) as reward_pool:  # rewards from other threads, while serving goes on

        def serve_one(i: int) -> Answer:
            answer = serve(server.url)
            if i in chosen and answer.status == 200:
                reward_futures.append(reward_pool.submit(reward, server.url, answer.body["ticket"], True))
            return answer

        with ThreadPoolExecutor(16) as serve_pool:
            served = list(serve_pool.map(serve_one, range(serves)))
        rewarded = [future.result() for future in reward_futures]

    assert unexpected(served) == [] and unexpected(rewarded) == []
    assert len(rewarded) == rewards
    assert {a.body["pid"] for a in served} == set(server.worker_pids())  # all 4 workers served
    serve_versions = [a.body["version"] for a in served]
    reward_versions = [a.body["version"] for a in rewarded]
    assert len(set(serve_versions)) == serves, "two serves were answered the same version"
    assert min(reward_versions) < max(serve_versions), "the rewards did not overlap the serves"

    final = document(server.url)
    # One version per serve and per accepted reward, each answered exactly once, no gap.
    assert sorted(serve_versions + reward_versions) == list(range(initial["version"] + 1, final["version"] + 1))
    assert count_problems(final, Counter(a.body["arm"] for a in served), Counter(a.body["arm"] for a in rewarded)) == []
    assert disagreements(every_worker(server.url), WORKERS) == []

    # The event log agrees: one serve event per ticket, one click event per reward, same serials.
    events = logged(server.url, log_start)
    assert Counter(e["event"] for e in events) == {"serve": serves, "click": rewards}
    tickets = {fields(a.body["ticket"]).serial: a.body for a in served}
    assert {e["serial"]: (e["arm"], e["version"]) for e in events if e["event"] == "serve"} == {
        serial: (body["arm"], body["version"]) for serial, body in tickets.items()
    }
    clicked_serials = sorted(e["serial"] for e in events if e["event"] == "click")
    assert clicked_serials == sorted(fields(served[i].body["ticket"]).serial for i in chosen)


# -- 2. tickets that must count nothing ---------------------------------------------------------


def test_replayed_forged_and_made_up_tickets_are_refused_and_count_nothing(server):
    reset(server.url)
    ended = [serve(server.url).body["ticket"] for _ in range(20)]  # from a test that then ends
    reset(server.url)
    with ThreadPoolExecutor(16) as pool:
        served = [a.body for a in pool.map(lambda _: serve(server.url), range(300))]
        accepted = list(pool.map(lambda body: reward(server.url, body["ticket"]), served[:100]))
    assert unexpected(accepted) == []
    redeemed, unredeemed = [b["ticket"] for b in served[:100]], [b["ticket"] for b in served[100:]]
    rng = random.Random(2)
    other_secret = os.urandom(32)

    attempts = (
        [(t, 409, "ticket_redeemed") for t in redeemed for _ in range(3)]
        + [(flip(t, rng.randrange(27, 48)), 403, "forged_ticket") for t in redeemed + unredeemed[:100]]  # signature
        + [(flip(t, rng.randrange(0, 27)), 403, "forged_ticket") for t in unredeemed[100:]]  # signed fields
        + [(resign(t, other_secret), 403, "forged_ticket") for t in redeemed[:50] + unredeemed[:50]]
        + [(made_up(rng), 403, "forged_ticket") for _ in range(100)]
        + [(made_up(rng)[: rng.randrange(0, 48)], 400, "invalid_ticket") for _ in range(20)]
        + [(t, 410, "test_ended") for t in ended]
    )
    rng.shuffle(attempts)
    before = every_worker(server.url)
    assert disagreements(before, WORKERS) == []

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda attempt: reward(server.url, attempt[0], rng.random() < 0.5), attempts))

    wrong = [
        (a.status, a.code, status, code)
        for a, (_, status, code) in zip(answers, attempts)
        if a.status != status or a.code != code or error_problems(a.body, status, code)
    ]
    assert wrong == []
    after = every_worker(server.url)
    assert disagreements(after, WORKERS) == []
    assert without_pid(next(iter(after.values()))) == without_pid(next(iter(before.values())))
    # The genuine tickets whose forgeries were refused are still good.
    assert unexpected([reward(server.url, t) for t in unredeemed[:5]]) == []


# -- 3. racing to redeem one ticket -------------------------------------------------------------


def test_two_clients_racing_to_redeem_the_same_ticket_win_once(server):
    reset(server.url)
    tickets = [serve(server.url).body["ticket"] for _ in range(50)]
    version = document(server.url)["version"]
    winners = []
    for ticket in tickets:
        barrier, answers = threading.Barrier(2), [None, None]

        def race(i: int, ticket=ticket, barrier=barrier, answers=answers):
            barrier.wait()
            answers[i] = reward(server.url, ticket, clicked=i == 0)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(a.status for a in answers) == [200, 409], answers
        assert [a.code for a in answers if a.status == 409] == ["ticket_redeemed"]
        winners.append(next(a.body for a in answers if a.status == 200))
    final = document(server.url)
    assert final["version"] == version + 50
    assert final["clicks"] == sum(w["clicked"] for w in winners)
    assert disagreements(every_worker(server.url), WORKERS) == []


# -- 4. one secret for every worker -------------------------------------------------------------


def test_a_ticket_served_by_one_worker_is_redeemed_by_any_other(server):
    reset(server.url)
    with ThreadPoolExecutor(16) as pool:
        served = list(pool.map(lambda _: serve(server.url), range(200)))
        redeemed = list(pool.map(lambda a: reward(server.url, a.body["ticket"]), served))
    assert unexpected(served) == [] and unexpected(redeemed) == []
    pairs = Counter((s.body["pid"], r.body["pid"]) for s, r in zip(served, redeemed))
    crossed = sum(n for (serve_pid, reward_pid), n in pairs.items() if serve_pid != reward_pid)
    assert crossed >= 50, pairs  # about 3 in 4 land on another worker
    assert len({reward_pid for serve_pid, reward_pid in pairs if serve_pid != reward_pid}) == WORKERS
    assert document(server.url)["clicks"] == 200


# -- 5. workers killed mid-stream ---------------------------------------------------------------


def test_workers_sigkilled_mid_stream_lose_no_acknowledged_serve_or_reward(server):
    reset(server.url)
    log_start = log_head(server.url)
    operations = 2400
    with_reward = set(random.Random(3).sample(range(operations), 300))

    def operate(i: int) -> tuple[Answer, Answer | None]:
        served = serve(server.url)
        if i not in with_reward or served.status != 200:
            return served, None
        return served, reward(server.url, served.body["ticket"], True)

    def run_stream() -> list:
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(operate, range(operations)))

    results, killed = server.killing(run_stream, kills=3, seed=4, every=0.4, timeout=120)
    assert len(killed) == 3, "the stream ended before the workers could be killed: make it longer"
    server.wait_ready()  # every worker respawned
    assert not set(killed) & set(server.worker_pids())

    serves = [s for s, _ in results]
    rewards = [(s, r) for s, r in results if r is not None]
    # A request to a killed worker may fail in transport; none may fail otherwise.
    assert [a for a in serves + [r for _, r in rewards] if a.status not in (200, None)] == []
    acknowledged = [s for s in serves if s.status == 200]
    failed_serves = len(serves) - len(acknowledged)

    # A reward lost in transport may or may not have been counted: ask again. 200 says it was not
    # (and now is), 409 that it was; either way the ticket has been redeemed exactly once.
    redeemed = [s for s, r in rewards if r.status == 200]
    for s, r in rewards:
        if r.status is None:
            again = reward(server.url, s.body["ticket"], True)
            assert again.status in (200, 409) and again.code in (None, "ticket_redeemed"), again
            redeemed.append(s)

    final = document(server.url)
    served = Counter(s.body["arm"] for s in acknowledged)
    clicked = Counter(s.body["arm"] for s in redeemed)
    assert count_problems(final, served, clicked, unacknowledged_serves=failed_serves) == []
    assert disagreements(every_worker(server.url), WORKERS) == []

    events = logged(server.url, log_start)
    logged_serves = {e["serial"] for e in events if e["event"] == "serve"}
    assert len(logged_serves) == final["impressions"]
    assert {fields(s.body["ticket"]).serial for s in acknowledged} <= logged_serves
    assert sorted(e["serial"] for e in events if e["event"] == "click") == sorted(fields(s.body["ticket"]).serial for s in redeemed)

    for _ in range(2 * WORKERS):  # the respawned workers serve and take rewards too
        fresh = serve(server.url)
        assert fresh.status == 200 and reward(server.url, fresh.body["ticket"]).status == 200


# -- 6. arms edited while serving ---------------------------------------------------------------


def test_arms_added_and_removed_while_serving_keep_the_live_arms_exact(server):
    """Two editors at once (each edit's own sync may come after the other's) while 12 threads serve."""
    reset(server.url)
    stop = threading.Event()

    def edit(prefix):
        for i in range(4):
            answer = call(server.url, "/api/bandit/arms", {"name": f"{prefix}{i}", "prior_ctr": 0.3, "prior_impressions": 5})
            assert answer.status == 201, answer
            time.sleep(0.05)
            answer = call(server.url, f"/api/bandit/arms/{prefix}{i}", method="DELETE")
            assert answer.status == 200, answer
            time.sleep(0.05)

    def serve_until_stopped(_) -> list[Answer]:
        answers = []
        while not stop.is_set():
            answers.append(serve(server.url))
        return answers

    with ThreadPoolExecutor(2) as editors, ThreadPoolExecutor(12) as pool:
        serving = pool.map(serve_until_stopped, range(12))
        edits = [editors.submit(edit, prefix) for prefix in ("tmp", "new")]
        try:
            for done in edits:
                done.result()
        finally:
            stop.set()
        served = [a for answers in serving for a in answers]
    assert unexpected(served) == []
    removed = {f"{prefix}{i}" for prefix in ("tmp", "new") for i in range(4)}
    assert {a.body["arm"] for a in served} & removed, "no serve met an added arm: make the edits slower"

    with ThreadPoolExecutor(16) as pool:
        rewarded = list(pool.map(lambda a: reward(server.url, a.body["ticket"]), served))
    live = [(s, r) for s, r in zip(served, rewarded) if s.body["arm"] not in removed]
    gone = [(s, r) for s, r in zip(served, rewarded) if s.body["arm"] in removed]
    assert unexpected([r for _, r in live]) == []
    assert [r.code for _, r in gone] == ["arm_removed"] * len(gone)
    final = document(server.url)
    assert [arm["name"] for arm in final["arms"]] == ["red", "green", "blue"]
    assert count_problems(final, Counter(s.body["arm"] for s, _ in live), Counter(s.body["arm"] for s, _ in live)) == []
    assert disagreements(every_worker(server.url), WORKERS) == []


def test_the_largest_experiment_fits_its_sharedarea(server):
    # The most an API client can ask for: 64 arms with 64-character names of 4-byte characters.
    names = [f"{i:02d}" + "\U0001F600" * 62 for i in range(64)]
    doc = reset(server.url, [{"name": name, "prior_ctr": 0.1, "prior_impressions": 1e9 - i} for i, name in enumerate(names)])
    assert [arm["name"] for arm in doc["arms"]] == names
    answer = serve(server.url)
    assert answer.status == 200 and answer.body["arm"] in names
    assert disagreements(every_worker(server.url), WORKERS) == []


# -- the simulator, if there is one ------------------------------------------------------------


def test_the_simulator_over_http_finds_the_counts_match(server):
    from voweler_tools.drive import drive

    arms = [("red", 0.05), ("green", 0.02), ("blue", 0.1)]
    report = drive(server.url, arms, impressions=1000, concurrency=8, seed=5, reset=True)
    assert report["failures"] == {}, report["failure_samples"]
    assert report["counts_match"] is True and report["ok"] is True, report["counts"]
    assert report["serves"] == 1000 and sum(report["served"].values()) == 1000
    assert report["clicks_accepted"] == report["clicks_sent"] > 0
    assert set(report["pids"]) == set(server.worker_pids())
    # Its verdict agrees with what the server says, independently of the simulator's own check.
    final = document(server.url)
    assert count_problems(final, Counter(report["served"]), Counter({name: c["server_clicks"] for name, c in report["counts"].items()})) == []
    assert final["clicks"] == report["clicks_accepted"]
    assert all(c["expected_impressions"] == c["server_impressions"] for c in report["counts"].values())
