"""/api/names through the app: every operation, and every bad input as a 4xx that changes nothing."""

from __future__ import annotations

import pytest

from voweler.models.names import MAX_CREATE, MAX_LEARN
from voweler_tools.checks import without_pid

BASE = "/api/names"


def state(client) -> dict:
    everything = without_pid(client.get(BASE).get_json())
    everything["learned"] = {c["name"]: client.get(f"{BASE}/{c['name']}/learned").get_json()["learned"] for c in everything["corpora"]}
    return everything


def test_the_catalogue_lists_models_and_corpora_with_counts(client):
    body = client.get(BASE).get_json()
    assert body["models"] == ["markov1", "markov2", "markov3"]
    corpora = {c["name"]: c for c in body["corpora"]}
    assert set(corpora) == {"pypi", "stdlib", "elements", "cities"}
    assert corpora["elements"]["names"] == 118 and corpora["elements"]["learned"] == 0
    assert {"version", "pid"} <= set(body)


def test_generate_is_reproducible_for_a_seed_and_honours_its_options(client):
    url = f"{BASE}/markov2/elements/generate?n=8&seed=42&novel=true&min_length=6&max_length=9"
    first, second = client.get(url).get_json(), client.get(url).get_json()
    assert first["names"] == second["names"] and len(first["names"]) == 8 and first["seed"] == 42
    assert all(6 <= len(name) <= 9 for name in first["names"])
    elements = set(open("voweler/models/corpora/elements.txt").read().split())
    assert not set(first["names"]) & elements
    unseeded = client.get(f"{BASE}/markov1/pypi/generate").get_json()
    assert len(unseeded["names"]) == 10 and isinstance(unseeded["seed"], int)  # the seed it drew, to draw again
    again = client.get(f"{BASE}/markov1/pypi/generate?seed={unseeded['seed']}").get_json()
    assert again["names"] == unseeded["names"]


def test_complete_is_sorted_sums_to_one_and_agrees_with_score(client):
    body = client.get(f"{BASE}/markov3/pypi/complete?q=***base&n=10").get_json()
    assert set(body) >= {"pattern", "completions", "total", "positions", "version", "pid"}
    probabilities = [c["probability"] for c in body["completions"]]
    assert len(probabilities) == 10 and probabilities == sorted(probabilities, reverse=True)
    assert all(c["name"].endswith("base") and len(c["name"]) == 7 for c in body["completions"])
    assert [p["index"] for p in body["positions"]] == [0, 1, 2]
    for completion in body["completions"][:3]:
        score = client.get(f"{BASE}/markov3/pypi/score?name={completion['name']}").get_json()
        assert score["probability"] == pytest.approx(completion["probability"] * body["total"], rel=1e-9)
    # n at least the number of matches: they sum to 1
    small = client.get(f"{BASE}/markov1/elements/complete?q=ne*n&n=100").get_json()
    assert sum(c["probability"] for c in small["completions"]) == pytest.approx(1.0)
    sampled = client.get(f"{BASE}/markov2/elements/complete?q=***on&n=20&mode=sample&seed=3").get_json()
    assert sampled == client.get(f"{BASE}/markov2/elements/complete?q=***on&n=20&mode=sample&seed=3").get_json()
    assert sampled["completions"] and all(c["name"].endswith("on") for c in sampled["completions"])


def test_a_pattern_nothing_matches_is_empty_not_an_error(client):
    body = client.get(f"{BASE}/markov2/elements/complete?q=" + "*" * 30).get_json()  # no element is that long
    assert body["completions"] == [] and body["total"] == 0


def test_learning_shows_in_counts_and_in_the_model(client):
    before = client.get(f"{BASE}/markov1/elements/score?name=zzz").get_json()["probability"]
    answer = client.post(f"{BASE}/elements/learn", json={"names": ["zzz", "zzzz"]})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["corpus"]["learned"] == 2 and body["version"] == 1
    assert client.get(f"{BASE}/markov1/elements/score?name=zzz").get_json()["probability"] > before
    assert client.get(f"{BASE}/elements/learned").get_json()["learned"] == ["zzz", "zzzz"]


def test_a_created_corpus_can_be_used_and_taught(client):
    answer = client.post(f"{BASE}/corpora", json={"name": "planets", "names": ["mercury", "venus", "earth", "mars"]})
    assert answer.status_code == 201 and answer.get_json()["corpus"]["names"] == 4
    assert client.get(f"{BASE}/markov1/planets/complete?q=m**s").get_json()["completions"][0]["name"] == "mars"
    assert client.post(f"{BASE}/planets/learn", json={"names": ["jupiter"]}).status_code == 200
    names = {c["name"]: c for c in client.get(BASE).get_json()["corpora"]}
    assert names["planets"]["learned"] == 1 and names["planets"]["shipped"] is False


BAD = [
    ("GET", f"{BASE}/markov4/pypi/generate", None, 404, "unknown_model", "markov1, markov2, markov3"),
    ("GET", f"{BASE}/markov1/nope/generate", None, 404, "unknown_corpus", "pypi, stdlib, elements, cities"),
    ("GET", f"{BASE}/markov1/nope/complete?q=a*", None, 404, "unknown_corpus", "the corpora are"),
    ("POST", f"{BASE}/nope/learn", {"names": ["abc"]}, 404, "unknown_corpus", "the corpora are"),
    ("GET", f"{BASE}/markov1/pypi/complete?q=", None, 400, "bad_request", "1 to 32"),
    ("GET", f"{BASE}/markov1/pypi/complete", None, 400, "bad_request", "q must be"),
    ("GET", f"{BASE}/markov1/pypi/complete?q=" + "*" * 33, None, 400, "bad_request", "1 to 32"),
    ("GET", f"{BASE}/markov1/elements/complete?q=*j*", None, 400, "bad_request", "never seen 'j'"),
    ("GET", f"{BASE}/markov1/elements/complete?q=**A", None, 400, "bad_request", "never seen 'A'"),
    ("GET", f"{BASE}/markov1/elements/complete?q=a*&n=0", None, 400, "bad_request", "n must be"),
    ("GET", f"{BASE}/markov1/elements/complete?q=a*&n=101", None, 400, "bad_request", "n must be"),
    ("GET", f"{BASE}/markov1/elements/complete?q=a*&mode=best", None, 400, "bad_request", "mode"),
    ("GET", f"{BASE}/markov1/elements/complete?q=a*&mode=sample&seed=-1", None, 400, "bad_request", "seed"),
    ("GET", f"{BASE}/markov1/elements/generate?n=1000", None, 400, "bad_request", "n must be"),
    ("GET", f"{BASE}/markov1/elements/generate?n=x", None, 400, "bad_request", "n must be"),
    ("GET", f"{BASE}/markov1/elements/generate?min_length=9&max_length=3", None, 400, "bad_request", "min_length"),
    ("GET", f"{BASE}/markov1/elements/generate?max_length=99", None, 400, "bad_request", "max_length"),
    ("GET", f"{BASE}/markov1/elements/generate?novel=maybe", None, 400, "bad_request", "novel"),
    ("GET", f"{BASE}/markov1/elements/score", None, 400, "bad_request", "name must be"),
    ("GET", f"{BASE}/markov1/elements/score?name=Neon", None, 400, "bad_request", "a-z"),
    ("GET", f"{BASE}/markov2/elements/transitions", None, 400, "bad_request", "markov1"),
    ("POST", f"{BASE}/elements/learn", {"names": []}, 400, "bad_request", "1 to 100"),
    ("POST", f"{BASE}/elements/learn", {"names": ["ok"] * (MAX_LEARN + 1)}, 400, "bad_request", "1 to 100"),
    ("POST", f"{BASE}/elements/learn", {"names": ["fine", "Not Fine"]}, 400, "bad_request", "a-z"),
    ("POST", f"{BASE}/elements/learn", {"names": ["x" * 33]}, 400, "bad_request", "1 to 32"),
    ("POST", f"{BASE}/elements/learn", {"names": [7]}, 400, "bad_request", "string"),
    ("POST", f"{BASE}/elements/learn", {"names": "neon"}, 400, "bad_request", "array"),
    ("POST", f"{BASE}/elements/learn", {"name": ["neon"]}, 400, "bad_request", "unknown field"),
    ("POST", f"{BASE}/corpora", {"name": "elements", "names": ["a"]}, 409, "conflict", "exists already"),
    ("POST", f"{BASE}/corpora", {"name": "Bad Name", "names": ["a"]}, 400, "bad_request", "corpus name"),
    ("POST", f"{BASE}/corpora", {"name": "big", "names": ["ab"] * (MAX_CREATE + 1)}, 400, "bad_request", "5,000"),
    ("POST", f"{BASE}/corpora", {"name": "empty", "names": []}, 400, "bad_request", "1 to 5,000"),
    ("POST", f"{BASE}/corpora", {"name": "x"}, 400, "bad_request", "missing field"),
]  # fmt: skip


@pytest.mark.parametrize("method, path, body, status, code, fragment", BAD)
def test_bad_input_is_a_4xx_in_the_one_shape_and_changes_nothing(client, method, path, body, status, code, fragment):
    client.post(f"{BASE}/corpora", json={"name": "planets", "names": ["mercury", "venus"]})
    client.post(f"{BASE}/elements/learn", json={"names": ["neonium"]})
    before = state(client)
    answer = client.open(path, method=method, json=body)
    error = answer.get_json()
    assert answer.status_code == status and error["error"] == code and error["status"] == status, error
    assert set(error) == {"error", "status", "message", "pid"}
    assert fragment in error["message"]
    assert state(client) == before


def test_a_corpus_created_twice_is_refused_the_second_time(client):
    assert client.post(f"{BASE}/corpora", json={"name": "twice", "names": ["ab"]}).status_code == 201
    assert client.post(f"{BASE}/corpora", json={"name": "twice", "names": ["cd"]}).status_code == 409
    assert client.get(f"{BASE}/markov1/twice/complete?q=**").get_json()["completions"][0]["name"] == "ab"


def test_a_kept_completion_is_computed_again_once_the_corpus_learns(client):
    client.post(f"{BASE}/corpora", json={"name": "tiny", "names": ["ab", "cd"]})
    url = f"{BASE}/markov1/tiny/complete?q=c*&n=3"
    first = client.get(url).get_json()
    assert client.get(url).get_json()["completions"] == first["completions"]  # kept
    client.post(f"{BASE}/tiny/learn", json={"names": ["ca", "ca", "ca"]})
    after = client.get(url).get_json()
    assert after["version"] == first["version"] + 1
    assert after["completions"][0]["name"] == "ca" != first["completions"][0]["name"]


def test_the_same_operations_on_redis(redis_url):
    from voweler import create_app

    first, second = (create_app({"STATE_URL": redis_url}).test_client() for _ in range(2))  # two hosts, one Redis
    assert first.post(f"{BASE}/corpora", json={"name": "shared", "names": ["ab", "cd"]}).status_code == 201
    assert first.post(f"{BASE}/shared/learn", json={"names": ["ca"]}).get_json()["corpus"]["learned"] == 1
    assert second.get(f"{BASE}/shared/learned").get_json()["learned"] == ["ca"]
    assert second.get(f"{BASE}/markov1/shared/complete?q=c*").get_json() | {"pid": 0} == (
        first.get(f"{BASE}/markov1/shared/complete?q=c*").get_json() | {"pid": 0}
    )
