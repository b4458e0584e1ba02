"""The optimum, induced error analysis, export and import under the real uWSGI with 4 workers."""

from __future__ import annotations

import numpy as np
import pytest

from voweler.models.perceptron import IS_VOWEL, Perceptron, letter_optimum, letter_space
from voweler.models.robustness import worst_perturbation
from voweler.services.perceptron import boundaries
from voweler_tools.client import Client

pytestmark = pytest.mark.uwsgi

WORKERS = 4


def every_worker(client: Client, path: str) -> dict[int, dict]:
    """``path`` as each worker answers it (asks until all 4 have)."""
    answers: dict[int, dict] = {}
    for _ in range(400):
        body = client.get(path)
        answers.setdefault(body["pid"], body)
        if len(answers) == WORKERS:
            return answers
    raise AssertionError(f"only {len(answers)} workers answered")


def test_every_worker_reports_the_same_optimum_and_flip_distances(server):
    client = Client(server.url)
    client.post("/api/perceptron/reset", {"dim": 8, "seed": 1, "learning_rate": 0.1})
    client.post("/api/perceptron/train", {"letters": "abcdefghijklmnopqrstuvwxyz"})
    documents = every_worker(client, "/api/perceptron")
    optima = {str(doc["optimum"]) for doc in documents.values()}
    assert len(optima) == 1
    best = letter_optimum(8, 1)
    assert next(iter(documents.values()))["optimum"] == {"accuracy": best.accuracy, "separable": False, "margin": None}
    analyses = every_worker(client, "/api/perceptron/robustness?eps=0.02&norm=linf")
    assert len({str({k: v for k, v in a.items() if k != "pid"}) for a in analyses.values()}) == 1


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_the_servers_flip_distances_survive_fuzzing_and_the_worst_case_just_beyond_flips(server, norm):
    """Fuzz the letters for real: the distances come from the server, the attacks from here."""
    client = Client(server.url)
    client.post("/api/perceptron/reset", {"dim": 16, "seed": 4})
    doc = client.post("/api/perceptron/train", {"letters": "thequickbrownfoxjumpsoverthelazydog"})
    analysis = client.get(f"/api/perceptron/robustness?eps=0&norm={norm}")
    model = Perceptron(dim=16, seed=4)
    model.learn_many("thequickbrownfoxjumpsoverthelazydog")
    assert model.weights.tolist() == doc["weights"]
    X = letter_space(16, 4).embedding
    rng = np.random.default_rng(0)
    for name, (w, b) in boundaries(model).items():
        for i, row in enumerate(analysis["boundaries"][name]["letters"]):
            d, decision = row["flip_distance"], bool(X[i] @ w + b > 0)
            assert decision == (row["correct"] == IS_VOWEL[i])
            if norm == "l2":
                changes = rng.standard_normal((500, 16))
                changes *= 0.999 * d / np.linalg.norm(changes, axis=1, keepdims=True)
            else:
                changes = rng.choice([-1.0, 1.0], size=(500, 16)) * 0.999 * d
            assert (((X[i] + changes) @ w + b > 0) == decision).all(), (name, row)
            assert bool((X[i] + worst_perturbation(X[i], w, b, norm, 0.999 * d)) @ w + b > 0) == decision
            assert bool((X[i] + worst_perturbation(X[i], w, b, norm, 1.001 * d)) @ w + b > 0) != decision


def test_export_from_one_worker_imports_through_another_as_one_version(server):
    client = Client(server.url)
    client.post("/api/perceptron/reset", {"dim": 2048, "seed": 5, "learning_rate": 0.3})
    client.post("/api/perceptron/train", {"letters": "vowelsandconsonants"})
    saved = client.get("/api/perceptron/export")
    before = client.get("/api/perceptron")
    client.post("/api/perceptron/reset", {"dim": 3})
    version = client.get("/api/perceptron")["version"]
    after = client.post("/api/perceptron/import", saved)
    assert after["version"] == version + 1
    for doc in every_worker(client, "/api/perceptron").values():
        assert doc["version"] == after["version"]
        assert (doc["dim"], doc["weights"], doc["updates"], doc["history"]) == (
            2048, before["weights"], before["updates"], before["history"],
        )  # fmt: skip


def test_a_bad_import_is_a_400_and_changes_nothing(server):
    client = Client(server.url)
    client.post("/api/perceptron/reset", {"dim": 8, "seed": 2})
    saved = client.get("/api/perceptron/export")
    before = client.get("/api/perceptron")
    for broken in ({**saved, "weights": saved["weights"][:3]}, {**saved, "format_version": 9}, "{\"format\": NaN}"):
        answer = client.call("POST", "/api/perceptron/import", broken)
        assert (answer.status, answer.code) == (400, "bad_request"), answer.body
    after = client.get("/api/perceptron")
    assert {k: v for k, v in after.items() if k != "pid"} == {k: v for k, v in before.items() if k != "pid"}
