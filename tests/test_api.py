"""The JSON API, through Flask's test client, on the in-process (memory://) backend."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voweler.services import services
from voweler_tools.checks import PERCEPTRON_KEYS
from voweler.models.perceptron import ALPHABET, IS_VOWEL, Perceptron, export_document, letter_optimum
from voweler.models.robustness import flip_distances
from voweler.services.perceptron import boundaries

TRAIN, RESET, SHOW = "/api/perceptron/train", "/api/perceptron/reset", "/api/perceptron"
JSON, FORM = "application/json", "application/x-www-form-urlencoded"
DOCUMENT_KEYS = set(PERCEPTRON_KEYS)  # the perceptron document's exact keys, as the consistency bench checks them


def assert_error(response, status: int, *fragments: str) -> dict:
    """The one error shape: {"error", "status", "message", "pid"}, with ``status`` everywhere."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == JSON
    body = json.loads(response.get_data())
    assert set(body) == {"error", "status", "message", "pid"}
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["pid"], int) and not isinstance(body["pid"], bool)
    assert isinstance(body["message"], str)
    for fragment in fragments:
        assert fragment.lower() in body["message"].lower(), body["message"]
    return body


def post(client, path: str, body=None, raw: str | bytes | None = None, content_type: str = JSON):
    """POST ``body`` as JSON, or ``raw`` bytes as they are."""
    return client.post(path, data=json.dumps(body) if raw is None else raw, content_type=content_type)


def ok(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == JSON
    return response.get_json()


def learned(client) -> tuple:
    """The shared state as seen by a GET: its version and everything learned."""
    doc = ok(client.get(SHOW))
    keys = ("version", "dim", "seed", "learning_rate", "updates", "mistakes", "bias", "weights")
    return tuple(doc[key] for key in keys)


# -- reading ------------------------------------------------------------------------------------


def test_health(client):
    body = ok(client.get("/api/health"))
    assert body == {"ok": True, "pid": body["pid"], "backend": "memory"}
    assert isinstance(body["pid"], int)


def test_fresh_document_has_every_field(client):
    doc = ok(client.get(SHOW))
    assert set(doc) == DOCUMENT_KEYS
    assert (doc["version"], doc["updates"], doc["mistakes"], doc["bias"]) == (0, 0, 0, 0.0)
    model = Perceptron()
    assert (doc["dim"], doc["seed"], doc["learning_rate"]) == (model.dim, model.seed, model.learning_rate)
    assert doc["weights"] == model.weights.tolist()
    assert doc["accuracy"] == model.accuracy() and doc["lda_accuracy"] == model.lda.accuracy
    assert doc["history"] == [[0.0, model.accuracy()]]
    assert isinstance(doc["pid"], int)


def test_letters_rows(client):
    doc = ok(client.get(SHOW))
    rows = doc["letters"]
    assert [row["letter"] for row in rows] == list(ALPHABET)
    assert all(set(row) == {"letter", "vowel", "predicted", "margin"} for row in rows)
    assert "".join(row["letter"] for row in rows if row["vowel"]) == "aeiouy"
    assert all((row["margin"] > 0) == row["predicted"] for row in rows)
    assert doc["accuracy"] == sum(row["vowel"] == row["predicted"] for row in rows) / 26


def test_projections(client):
    doc = ok(client.get(SHOW))
    for name in ("perceptron", "lda"):
        projection = doc["projections"][name]
        assert set(projection) == {"values", "threshold"}
        assert len(projection["values"]) == 26 and isinstance(projection["threshold"], float)
    perceptron = doc["projections"]["perceptron"]
    predicted = [value > perceptron["threshold"] for value in perceptron["values"]]
    assert predicted == [row["predicted"] for row in doc["letters"]]


# -- training -----------------------------------------------------------------------------------


def test_train_learns_the_letters_as_one_new_version(client):
    doc = ok(post(client, TRAIN, {"letters": "aeiou"}))
    assert (doc["version"], doc["updates"]) == (1, 5)
    assert len(doc["history"]) == 2 and doc["history"][-1][0] == 5.0


def test_train_response_is_what_a_following_get_reads(client):
    trained = post(client, TRAIN, {"letters": "aeiou"})
    assert ok(trained) == ok(client.get(SHOW))


def test_train_gives_bit_identical_weights_to_a_local_model(client):
    local = Perceptron()
    for letters in ["aeiou", "thequickbrownfox", ALPHABET]:
        local.learn_many(letters)
        doc = ok(post(client, TRAIN, {"letters": letters}))
    assert doc["weights"] == local.weights.tolist()  # JSON floats round-trip exactly
    assert (doc["bias"], doc["updates"], doc["mistakes"]) == (local.bias, local.updates, local.mistakes)
    assert doc["history"] == local.history.tolist()


def test_every_transaction_adds_exactly_one_version(client):
    requests = [
        (TRAIN, {"letters": "a"}),
        (TRAIN, {"letters": "bcd"}),
        (RESET, {}),
        (RESET, {"dim": 8}),
        (TRAIN, {"letters": "z"}),
    ]
    for expected, (path, body) in enumerate(requests, start=1):
        assert ok(post(client, path, body))["version"] == expected
        assert ok(client.get(SHOW))["version"] == expected


# -- resetting ----------------------------------------------------------------------------------

START = {"dim": 8, "seed": 3, "learning_rate": 0.5}


RESET_CHANGES = [
    {},
    {"dim": 12},
    {"seed": 7},
    {"learning_rate": 2},
    {"dim": 1},
    {"dim": 4096},
    {"dim": 5, "seed": 2**32 - 1, "learning_rate": 1000},
]


@pytest.mark.parametrize("change", RESET_CHANGES)
def test_reset_changes_only_the_given_settings(client, change):
    ok(post(client, RESET, START))
    ok(post(client, TRAIN, {"letters": "hello"}))
    doc = ok(post(client, RESET, change))
    expected = {**START, **change}
    assert {key: doc[key] for key in expected} == expected
    assert (doc["version"], doc["updates"], doc["mistakes"], doc["bias"]) == (3, 0, 0, 0.0)
    assert doc["weights"] == Perceptron(**expected).weights.tolist()
    assert len(doc["weights"]) == expected["dim"]
    assert ok(client.get(SHOW)) == doc


def test_reset_without_a_body_is_a_transaction(client):
    ok(post(client, TRAIN, {"letters": "abc"}))
    doc = ok(client.post(RESET))
    assert (doc["version"], doc["updates"]) == (2, 0)


# -- bad input ----------------------------------------------------------------------------------


def bad(path, body=None, status=400, fragment="", raw=None, content_type=JSON, id=None):
    return pytest.param(path, body, raw, content_type, status, fragment, id=id)


def letters(value, fragment, id):
    return bad(TRAIN, {"letters": value}, 400, fragment, id=f"train-letters-{id}")


def setting(field, value, fragment):
    return bad(RESET, {field: value}, 400, fragment, id=f"reset-{field}={value!r}"[:60])


BIG_INT = "1" + "0" * 400  # a JSON integer too large for a float
OVER_64_KIB = json.dumps({"letters": "a" * 70_000})

BAD_REQUESTS = [
    letters("aEiou", "lowercase a-z; got 'E'", "uppercase"),
    letters("ab1", "lowercase a-z; got '1'", "digit"),
    letters("a b", "lowercase a-z", "space"),
    letters("aé", "lowercase a-z", "unicode"),
    letters("\u0430", "lowercase a-z", "cyrillic-a"),
    letters("", "must not be empty", "empty"),
    letters(1, "must be a string", "int"),
    letters(["a"], "must be a string", "list"),
    letters(None, "must be a string", "null"),
    letters(True, "must be a string", "bool"),
    letters("a" * 4097, "at most 4096", "oversized"),
    bad(TRAIN, {}, 400, "missing field 'letters'", id="train-missing-letters"),
    bad(TRAIN, {"letters": "a", "lr": 1}, 400, "unknown field 'lr'", id="train-unknown-field"),
    bad(TRAIN, ["a"], 400, "must be a JSON object", id="train-body-array"),
    bad(TRAIN, "aeiou", 400, "must be a JSON object", id="train-body-string"),
    bad(TRAIN, 42, 400, "must be a JSON object", id="train-body-number"),
    bad(TRAIN, raw='{"letters": "a"', fragment="not valid JSON", id="train-invalid-json"),
    bad(TRAIN, raw='{"letters": "a"} x', fragment="not valid JSON", id="train-trailing-garbage"),
    bad(TRAIN, raw=b'{"letters": "\xff"}', fragment="not valid JSON", id="train-invalid-utf8"),
    bad(TRAIN, raw="[" * 20000, fragment="not valid JSON", id="train-deeply-nested"),
    *[
        bad(TRAIN, raw=f'{{"letters": {literal}}}', fragment="not valid JSON", id=f"train-{literal}")
        for literal in ("NaN", "Infinity", "-Infinity", "1e999")
    ],
    bad(TRAIN, raw="letters=aeiou", status=415, fragment="application/json", content_type=FORM, id="train-form"),
    bad(TRAIN, raw=OVER_64_KIB, status=413, fragment="larger than 65,536 bytes", id="train-body-over-64KiB"),
    *[setting("dim", value, "dim must be an integer from 1 to 4096") for value in (0, 4097, -1)],
    *[setting("dim", value, "dim must be an integer") for value in (1.5, "16", True, None)],
    *[setting("seed", value, "seed must be an integer from 0 to 4294967295") for value in (-1, 2**32)],
    setting("seed", 1.0, "seed must be an integer"),
    *[setting("learning_rate", value, "learning_rate must be a finite number") for value in (0, -0.1, 1001)],
    *[setting("learning_rate", value, "learning_rate must be a number") for value in ("0.1", True)],
    bad(RESET, raw=f'{{"learning_rate": {BIG_INT}}}', fragment="not valid JSON", id="reset-learning_rate=10**400"),
    bad(RESET, {"dim": 8, "rate": 0.1}, 400, "unknown field 'rate'", id="reset-unknown-field"),
    bad(RESET, raw='{"learning_rate": NaN}', fragment="not valid JSON", id="reset-learning_rate-NaN"),
    bad(RESET, [], 400, "must be a JSON object", id="reset-body-array"),
]

IMPORT, EXPORT, ROBUSTNESS = "/api/perceptron/import", "/api/perceptron/export", "/api/perceptron/robustness"
_exported = Perceptron(dim=8, seed=9, learning_rate=0.25)
_exported.learn_many("vowels")
EXPORTED = export_document(_exported)  # a good document, other than the state the tests start from


def imported(change: dict, fragment: str, id: str, drop: str | None = None):
    body = {key: value for key, value in {**EXPORTED, **change}.items() if key != drop}
    return bad(IMPORT, body, 400, fragment, id=f"import-{id}")


BAD_REQUESTS += [
    imported({"format": "other"}, "format must be 'voweler.perceptron'", "format"),
    imported({"format_version": 2}, "format_version 2 is not supported", "format-version-2"),
    imported({"format_version": "1"}, "format_version '1' is not supported", "format-version-string"),
    imported({}, "missing field 'weights'", "missing-weights", drop="weights"),
    imported({"extra": 1}, "unknown field 'extra'", "unknown-field"),
    imported({"weights": EXPORTED["weights"][:-1]}, "weights must be a list of 8 finite numbers", "too-few-weights"),
    imported({"weights": EXPORTED["weights"] + [0.0]}, "weights must be a list of 8 finite numbers", "too-many-weights"),
    imported({"dim": 9}, "weights must be a list of 9 finite numbers", "dim-disagrees"),
    imported({"weights": ["x"] * 8}, "weights must be a list of 8 finite numbers", "weights-strings"),
    imported({"weights": [None] * 8}, "weights must be a list of 8 finite numbers", "weights-null"),
    imported({"weights": {"0": 1}}, "weights must be a list", "weights-object"),
    imported({"bias": "0"}, "bias must be a finite number", "bias-string"),
    imported({"dim": 0}, "dim must be an integer from 1 to 4096", "dim-0"),
    imported({"seed": -1}, "seed must be an integer", "seed-negative"),
    imported({"learning_rate": 0}, "learning_rate must be a finite number", "learning-rate-0"),
    imported({"updates": -1, "mistakes": 0}, "0 <= mistakes <= updates", "updates-negative"),
    imported({"mistakes": EXPORTED["updates"] + 1}, "0 <= mistakes <= updates", "mistakes-over-updates"),
    imported({"history": []}, "history must be a list of 1 to 256", "history-empty"),
    imported({"history": [[0, 2.0]]}, "history must be a list", "history-accuracy-2"),
    imported({"history": [[0, 0.5, 1]]}, "history must be a list", "history-triple"),
    imported({"history": [[0, 0.5]] * 257}, "history must be a list of 1 to 256", "history-too-long"),
    bad(IMPORT, raw=json.dumps(EXPORTED).replace(repr(EXPORTED["weights"][0]), "NaN", 1), fragment="not valid JSON", id="import-NaN"),
    bad(IMPORT, raw=json.dumps(EXPORTED).replace(f'"bias": {EXPORTED["bias"]!r}', '"bias": 1e999'), fragment="not valid JSON", id="import-overflow"),
    bad(IMPORT, [EXPORTED], 400, "must be a JSON object", id="import-array"),
    bad(IMPORT, {}, 400, "missing field 'format'", id="import-empty"),
    bad(IMPORT, raw=json.dumps({**EXPORTED, "weights": [0.0] * 300_000}), status=413, fragment="larger than 1,048,576", id="import-over-1MiB"),
]


@pytest.mark.parametrize("path, body, raw, content_type, status, fragment", BAD_REQUESTS)
def test_bad_input_is_refused_and_changes_nothing(client, path, body, raw, content_type, status, fragment):
    ok(post(client, RESET, START))
    ok(post(client, TRAIN, {"letters": "hello"}))
    before = learned(client)

    response = post(client, path, body, raw=raw, content_type=content_type)

    assert response.status_code < 500, response.get_data(as_text=True)
    assert_error(response, status, fragment)
    assert learned(client) == before


@pytest.mark.parametrize(
    "method, path, status, allowed",
    [
        ("GET", TRAIN, 405, {"POST"}),
        ("GET", RESET, 405, {"POST"}),
        ("DELETE", SHOW, 405, {"GET"}),
        ("PUT", "/api/health", 405, {"GET"}),
        ("GET", "/api/nope", 404, None),
        ("POST", "/api/nope", 404, None),
    ],
)
def test_wrong_method_or_path(client, method, path, status, allowed):
    response = client.open(path, method=method)
    assert_error(response, status, *sorted(allowed or ()))
    if allowed:
        assert allowed <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_app_is_not_in_debug_mode(app):
    assert app.debug is False


def test_index_page(client):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"<html" in response.data.lower()


def test_a_state_too_large_for_its_store_is_a_413_that_changes_nothing(app, client):
    services(app)["perceptron"].store.capacity = 4096  # as a small SharedArea would be
    before = client.get("/api/perceptron").get_json()
    response = client.post("/api/perceptron/reset", json={"dim": 1000})
    assert_error(response, 413, "needs", "bytes", "4,096")
    assert response.get_json()["error"] == "state_too_large"
    after = client.get("/api/perceptron").get_json()
    assert (after["version"], after["dim"], after["weights"]) == (before["version"], before["dim"], before["weights"])


# -- the optimum ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dim, seed", [(3, 0), (8, 1), (16, 0), (50, 2)])
def test_the_document_has_the_optimum(client, dim, seed):
    doc = ok(post(client, RESET, {"dim": dim, "seed": seed}))
    best = letter_optimum(dim, seed)
    assert doc["optimum"] == {"accuracy": best.accuracy, "separable": best.separable, "margin": best.margin}
    assert doc["optimum"]["accuracy"] >= max(doc["lda_accuracy"], doc["accuracy"])
    assert (doc["optimum"]["margin"] is None) == (not doc["optimum"]["separable"])
    projection = doc["projections"]["optimum"]
    predicted = [value > projection["threshold"] for value in projection["values"]]
    assert sum(p == v for p, v in zip(predicted, IS_VOWEL.tolist())) / 26 == best.accuracy


# -- induced error analysis ----------------------------------------------------------------------


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_robustness_gives_each_boundary_its_flip_distances(client, norm):
    ok(post(client, RESET, START))
    ok(post(client, TRAIN, {"letters": "helloworld"}))
    body = ok(client.get(f"{ROBUSTNESS}?eps=0.05&norm={norm}"))
    assert (body["eps"], body["norm"], set(body["boundaries"])) == (0.05, norm, {"perceptron", "lda", "optimum"})
    model = Perceptron(**START)
    model.learn_many("helloworld")
    for name, (w, b) in boundaries(model).items():
        answer = body["boundaries"][name]
        assert [row["letter"] for row in answer["letters"]] == list(ALPHABET)
        distances = flip_distances(model.embedding, w, b, norm)
        assert [row["flip_distance"] for row in answer["letters"]] == pytest.approx(distances.tolist(), rel=1e-12)
        correct = (model.embedding @ w + b > 0) == IS_VOWEL
        assert [row["correct"] for row in answer["letters"]] == correct.tolist()
        robust = [row["robust"] for row in answer["letters"]]
        assert robust == [c and d > 0.05 for c, d in zip(correct, distances)]
        assert answer["robust_accuracy"] == sum(robust) / 26 and answer["accuracy"] == correct.mean()


def test_robust_accuracy_falls_as_eps_grows_and_defaults(client):
    ok(post(client, RESET, {"dim": 16, "seed": 0}))
    default = ok(client.get(ROBUSTNESS))
    assert (default["eps"], default["norm"]) == (0, "l2")
    last = {name: 1.0 for name in ("perceptron", "lda", "optimum")}
    for eps in (0, 0.01, 0.02, 0.05, 0.1, 1, 100):
        body = ok(client.get(f"{ROBUSTNESS}?eps={eps}"))
        for name, answer in body["boundaries"].items():
            assert answer["robust_accuracy"] <= last[name]
            last[name] = answer["robust_accuracy"]
    assert last == {"perceptron": 0.0, "lda": 0.0, "optimum": 0.0}


@pytest.mark.parametrize(
    "query, fragment",
    [
        ("eps=-1", "eps must be a number from 0 to 100"),
        ("eps=100.5", "eps must be a number from 0 to 100"),
        ("eps=abc", "eps must be a number"),
        ("eps=", "eps must be a number"),
        ("eps=nan", "eps must be a finite number"),
        ("eps=inf", "eps must be a finite number"),
        ("eps=1e999", "eps must be a finite number"),
        ("norm=l1", "norm must be one of l2, linf"),
        ("norm=", "norm must be one of l2, linf"),
        ("norm=L2", "norm must be one of l2, linf"),
    ],
)
def test_robustness_bad_query(client, query, fragment):
    before = learned(client)
    assert_error(client.get(f"{ROBUSTNESS}?{query}"), 400, fragment)
    assert learned(client) == before


# -- export and import ---------------------------------------------------------------------------


def test_export_then_import_restores_the_model_as_one_new_version(client):
    ok(post(client, RESET, START))
    ok(post(client, TRAIN, {"letters": "the quick brown fox".replace(" ", "")}))
    saved = ok(client.get(EXPORT))
    assert saved["format"] == "voweler.perceptron" and saved["format_version"] == 1
    before = ok(client.get(SHOW))
    ok(post(client, RESET, {"dim": 32, "seed": 7}))
    ok(post(client, TRAIN, {"letters": "abc"}))
    version = ok(client.get(SHOW))["version"]

    after = ok(post(client, IMPORT, saved))  # as exported, with its "version" and "pid"

    assert after["version"] == version + 1
    drop = {"version", "pid"}
    assert {k: v for k, v in after.items() if k not in drop} == {k: v for k, v in before.items() if k not in drop}
    assert ok(client.get(SHOW)) == {**after, "pid": after["pid"]}
    again = ok(client.get(EXPORT))
    assert {k: v for k, v in again.items() if k not in drop} == {k: v for k, v in saved.items() if k not in drop}


def test_an_export_at_the_largest_dimension_imports(client):
    ok(post(client, RESET, {"dim": 4096, "seed": 1}))
    ok(post(client, TRAIN, {"letters": "aeiou"}))
    raw = client.get(EXPORT).get_data()
    assert len(raw) > 64 * 1024
    before = learned(client)
    ok(post(client, RESET, {"dim": 2}))
    after = ok(post(client, IMPORT, raw=raw))
    assert (after["dim"], after["updates"], after["weights"]) == (4096, 5, before[-1])


@pytest.mark.parametrize("failure", [ArithmeticError("not certified"), np.linalg.LinAlgError("SVD did not converge")])
def test_an_optimum_the_solvers_cannot_certify_is_null_not_a_500(client, monkeypatch, failure):
    import voweler.models.perceptron as perceptron_model
    import voweler.services.perceptron as perceptron_service

    tries = []

    def failing(dim, seed):
        tries.append((dim, seed))
        raise failure

    monkeypatch.setattr(perceptron_model, "letter_optimum", failing)
    monkeypatch.setattr(perceptron_service, "_UNCERTIFIED", set())
    doc = ok(post(client, RESET, {"dim": 5, "seed": 77}))
    assert doc["optimum"] is None and set(doc["projections"]) == {"perceptron", "lda"}
    body = ok(client.get(ROBUSTNESS))
    assert set(body["boundaries"]) == {"perceptron", "lda"}
    ok(post(client, TRAIN, {"letters": "aeiou"}))  # a new version: the failure is not paid again
    assert tries == [(5, 77)]


def test_a_query_integer_of_thousands_of_digits_is_a_400_not_a_500(client):
    huge = "9" * 5000  # beyond what Python converts to int without being asked to
    for path in (f"/api/bandit/events?since={huge}", f"/api/names/markov2/elements/generate?n={huge}"):
        assert_error(client.get(path), 400, "must be an integer")
