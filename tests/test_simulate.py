"""Tests of voweler-simulate (voweler_tools/simulate.py): the offline simulation
(voweler_tools/simulation.py), its report and JSON, argument parsing, and HTTP mode
(voweler_tools/drive.py) against a small stand-in server that speaks the bandit API."""

from __future__ import annotations

import itertools
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from bandit_model import Bandit
from voweler_tools import simulate as sim  # the command; it names the offline and HTTP functions too

ARMS = [("arm1", 0.02), ("arm2", 0.012), ("arm3", 0.03)]


# -- offline --------------------------------------------------------------------------------------


def test_offline_result_is_consistent():
    result = sim.simulate(ARMS, impressions=400, runs=3, seed=1)
    assert result["mode"] == "offline" and (result["impressions"], result["runs"], result["seed"]) == (400, 3, 1)
    assert result["prior"] == {"prior_ctr": 0.5, "prior_impressions": 2.0}
    assert result["best_expected_clicks"] == pytest.approx(400 * 0.03)
    for policy in ("thompson", "uniform"):
        report = result[policy]
        shares = sum(report["shares"][name]["mean"] for name, _ in ARMS)
        assert shares == pytest.approx(1.0)
        for key in ("clicks", "expected_clicks", "regret"):
            spread = report[key]
            assert spread["p10"] <= spread["mean"] <= spread["p90"] or spread["p10"] == spread["p90"]
        # expected clicks and regret add up to the best possible
        assert report["expected_clicks"]["mean"] + report["regret"]["mean"] == pytest.approx(400 * 0.03)
        assert report["regret"]["p10"] >= 0
    extra = result["extra_clicks"]
    thompson, uniform = result["thompson"]["clicks"]["mean"], result["uniform"]["clicks"]["mean"]
    assert extra["percent"] == pytest.approx(100 * (thompson / uniform - 1))
    assert extra["paired_difference"]["mean"] == pytest.approx(thompson - uniform)


def test_offline_is_deterministic_for_a_seed():
    one = sim.simulate(ARMS, impressions=200, runs=2, seed=3)
    two = sim.simulate(ARMS, impressions=200, runs=2, seed=3)
    other = sim.simulate(ARMS, impressions=200, runs=2, seed=4)
    one.pop("seconds"), two.pop("seconds"), other.pop("seconds")
    assert one == two and one != other


def test_one_run_makes_the_same_choices_as_the_bandit_model():
    # The simulation's Thompson choices are the Bandit's: same seed, same clicks, same counts.
    impressions, seed = 300, 11
    result = sim.simulate(ARMS, impressions=impressions, runs=1, seed=seed, prior_ctr=0.02, prior_impressions=20)
    bandit = Bandit([(name, 0.02, 20) for name, _ in ARMS], seed=seed)
    truth = dict(ARMS)
    for u in np.random.default_rng([seed, 1]).random(impressions):  # the simulation's click draws
        name, _ = bandit.choose()
        bandit.record(name, clicked=bool(u < truth[name]))
    shown = bandit.posterior().impressions
    assert [round(result["thompson"]["shares"][name]["mean"] * impressions) for name, _ in ARMS] == shown.tolist()
    assert result["thompson"]["clicks"]["mean"] == bandit.posterior().clicks.sum()


def test_common_random_numbers_make_equal_arms_click_alike():
    # When every arm has the same CTR, the same draw decides each click for both policies.
    result = sim.simulate([("a", 0.1), ("b", 0.1)], impressions=500, runs=4, seed=0)
    assert result["thompson"]["clicks"] == result["uniform"]["clicks"]
    assert result["extra_clicks"]["paired_difference"] == {"mean": 0.0, "p10": 0.0, "p90": 0.0}


def test_thompson_beats_uniform_on_the_readme_case():
    result = sim.simulate(ARMS, impressions=1500, runs=100, seed=0)
    assert 10 < result["extra_clicks"]["percent_expected"] < 30
    assert result["thompson"]["shares"]["arm3"]["mean"] > 0.5 > result["uniform"]["shares"]["arm3"]["mean"]


def test_main_prints_a_report(capsys):
    assert sim.main(["0.02", "blue=0.03", "--impressions", "200", "--runs", "3"]) == 0
    out = capsys.readouterr().out
    assert "Thompson sampling vs uniform random allocation: 2 arms, 200 impressions, 3 runs" in out
    assert "arm1" in out and "blue" in out and "expected regret" in out
    assert "clicks compared with uniform allocation" in out


def test_main_prints_json(capsys):
    argv = ["red=0.05", "0.01", "--impressions", "100", "--runs", "2", "--seed", "7", "--json"]
    argv += ["--prior-ctr", "0.03", "--prior-impressions", "30"]
    assert sim.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["arms"] == [{"name": "red", "ctr": 0.05}, {"name": "arm2", "ctr": 0.01}]
    assert (result["impressions"], result["runs"], result["seed"]) == (100, 2, 7)
    assert result["prior"] == {"prior_ctr": 0.03, "prior_impressions": 30.0}
    assert set(result["thompson"]) == {"clicks", "expected_clicks", "regret", "shares"}


def test_the_script_is_declared():
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '[project.scripts]\nvoweler-simulate = "voweler_tools.simulate:main"' in text


# -- arguments ------------------------------------------------------------------------------------


def test_parse_arms_names_unnamed_arms_by_position():
    assert sim.parse_arms(["0.1", "b=0.2", "0.3", "x=y=0"]) == [("arm1", 0.1), ("b", 0.2), ("arm3", 0.3), ("x=y", 0.0)]


@pytest.mark.parametrize(
    "texts, message",
    [
        ([], "at least one arm"),
        (["1.5"], "the CTR must be a number from 0 to 1, like 0.02; got '1.5'"),
        (["-0.1"], "got '-0.1'"),
        (["nan"], "got 'nan'"),
        (["red=abc"], "got 'abc'"),
        (["red="], "got ''"),
        (["=0.1"], "arm name must be 1 to 64 characters"),
        (["a/b=0.1"], "must not contain '/'"),
        (["a=0.1", "a=0.2"], "the name 'a' is used twice"),
        (["arm2=0.1", "0.2"], "the name 'arm2' is used twice"),
        (["0.1"] * 65, "at most 64 arms"),
    ],
)
def test_parse_arms_errors(texts, message):
    with pytest.raises(ValueError) as info:
        sim.parse_arms(texts)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "the following arguments are required: ARM"),
        (["1.5"], "the CTR must be a number from 0 to 1"),
        (["0.1", "--impressions", "0"], "must be from 1 to"),
        (["0.1", "--impressions", "ten"], "must be a whole number"),
        (["0.1", "--runs", "-1"], "must be from 1 to"),
        (["0.1", "--seed", "-1"], "must be from 0"),
        (["0.1", "--impressions", "10000000", "--runs", "100"], "must be at most 100,000,000"),
        (["0.1", "--prior-ctr", "1"], "prior_ctr must be between 0 and 1 (exclusive); got 1.0"),
        (["0.1", "--prior-impressions", "0"], "prior_impressions must be a number greater than 0"),
        (["0.1", "--prior-ctr", "abc"], "must be a number"),
        (["0.1", "--concurrency", "4"], "--concurrency and --reset apply only with --url"),
        (["0.1", "--reset"], "--concurrency and --reset apply only with --url"),
        (["0.1", "--url", "http://127.0.0.1:1", "--runs", "5"], "--runs applies only offline"),
        (["0.1", "--url", "127.0.0.1:9090"], "--url must start with http://"),
        (["0.1", "--url", "http://127.0.0.1:1", "--prior-ctr", "0.1"], "add --reset"),
        (["0.1", "--url", "http://127.0.0.1:1", "--concurrency", "0"], "must be from 1 to 256"),
    ],
)
def test_argument_errors_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        sim.main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


# -- HTTP mode, against a stand-in server -------------------------------------------------------


class StandIn:
    """A tiny server with the bandit API's shapes, backed by the Bandit model (one process)."""

    def __init__(self, arms=("A", "B"), fail_every: int = 0, extra_impressions: int = 0):
        self.bandit = Bandit(list(arms), seed=0)
        self.lock = threading.Lock()
        self.tickets: dict[str, str] = {}
        self.version = 0
        self.test = 1
        self.fail_every = fail_every
        self.extra_impressions = extra_impressions  # counted by nobody: another client, say
        self.serves = itertools.count(1)
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path != "/api/bandit":
                    return self.answer(404, {"error": "not_found", "status": 404, "message": "no such page"})
                with stand_in.lock:
                    self.answer(200, stand_in.document())

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with stand_in.lock:
                    self.answer(*stand_in.post(self.path, body))

            def answer(self, status, document):
                data = json.dumps({**document, "pid": os.getpid()}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def document(self) -> dict:
        posterior = self.bandit.posterior()
        arms = [
            {"name": arm.name, "impressions": int(n), "clicks": int(c), "mean": float(m)}
            for arm, n, c, m in zip(posterior.arms, posterior.impressions, posterior.clicks, posterior.means())
        ]
        return {"version": self.version, "test": self.test, "arms": arms}

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        if path == "/api/bandit/reset":
            self.bandit = Bandit([{k: v for k, v in arm.items()} for arm in body["arms"]], seed=0)
            self.test += 1
            self.version += 1
            return 200, self.document()
        if path == "/api/bandit/serve":
            if self.fail_every and next(self.serves) % self.fail_every == 0:
                return 503, {"error": "unavailable", "status": 503, "message": "try again"}
            name, propensity = self.bandit.choose()
            self.bandit.record(name, clicked=False)
            if self.extra_impressions:
                self.extra_impressions -= 1
                self.bandit.record(name, clicked=False)
            self.version += 1
            ticket = f"t{self.version}"
            self.tickets[ticket] = name
            return 200, {"arm": name, "ticket": ticket, "propensity": propensity, "version": self.version}
        if path == "/api/bandit/reward":
            name = self.tickets.pop(body["ticket"], None)
            if name is None:
                return 409, {"error": "conflict", "status": 409, "message": "ticket already used"}
            self.bandit.clicks[self.bandit.experiment.arm(name).uid] += 1
            self.bandit._posterior = None
            self.version += 1
            return 200, {"arm": name, "clicked": True, "version": self.version}
        return 404, {"error": "not_found", "status": 404, "message": "no such page"}


@pytest.fixture
def stand_in():
    servers = []

    def start(**kwargs):
        servers.append(StandIn(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_drive_with_reset_counts_everything_and_matches(stand_in):
    server = stand_in()
    arms = [("red", 0.3), ("blue", 0.1)]
    lines = []
    result = sim.drive(server.url, arms, impressions=200, concurrency=4, seed=0, reset=True,
                       prior_ctr=0.2, prior_impressions=10, progress=lines.append)
    assert result["ok"] and result["counts_match"] and not result["test_changed"]
    assert result["serves"] == 200 and result["failures"] == {}
    assert result["clicks_accepted"] == result["clicks_sent"] > 0
    assert result["pids"] == [os.getpid()]
    assert sum(result["served"].values()) == 200
    assert {name: c["server_impressions"] for name, c in result["counts"].items()} == result["served"]
    assert result["expected_clicks_uniform"] == pytest.approx(200 * 0.2)
    assert server.bandit.experiment.arms[0].prior_ctr == 0.2  # the priors went with the reset
    assert lines and "200/200 served" in lines[-1]
    report = sim.format_http(result)
    assert "The server's counts match exactly." in report and "serves answered: 200 of 200" in report


def test_drive_refuses_other_arms_and_suggests_reset(stand_in):
    server = stand_in()  # arms A and B
    with pytest.raises(sim.SimulationError, match="--reset"):
        sim.drive(server.url, [("red", 0.1), ("blue", 0.2)], impressions=10)
    result = sim.drive(server.url, [("B", 0.1), ("A", 0.2)], impressions=30, concurrency=2)  # same names, any order
    assert result["ok"]


def test_drive_reports_failures_and_mismatches(stand_in):
    failing = stand_in(fail_every=5)
    result = sim.drive(failing.url, [("A", 0.5), ("B", 0.5)], impressions=50, concurrency=3)
    assert not result["ok"] and result["failures"] == {"503": 10} and result["serves"] == 40
    assert result["counts_match"]  # failed serves were not counted by either side
    assert "10 x 503" in sim.format_http(result)

    busy = stand_in(extra_impressions=3)
    result = sim.drive(busy.url, [("A", 0.5), ("B", 0.5)], impressions=20, concurrency=2)
    assert not result["ok"] and not result["counts_match"] and result["failures"] == {}
    assert "DO NOT match" in sim.format_http(result)


def test_main_in_http_mode_exits_by_result(stand_in, capsys):
    server = stand_in()
    assert sim.main(["A=0.1", "B=0.2", "--url", server.url, "--impressions", "20", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and result["serves"] == 20
    assert sim.main(["x=0.1", "--url", server.url]) == 1
    assert "--reset" in capsys.readouterr().err
    failing = stand_in(fail_every=2)
    assert sim.main(["A=0.1", "B=0.2", "--url", failing.url, "--impressions", "10"]) == 1


def test_drive_cannot_reach_a_server():
    with pytest.raises(sim.SimulationError, match="cannot read the bandit"):
        sim.drive("http://127.0.0.1:9", [("A", 0.1)], impressions=1, timeout=2)
