"""What every service promises the web layer: a document rendered once per state version."""

from __future__ import annotations

import pytest

from voweler.services import Rejected
from voweler.services import bandit as bandit_module
from voweler.services import perceptron as perceptron_module
from voweler.services import services
from voweler.state import StateUnavailable


@pytest.fixture
def renders(monkeypatch):
    """Counts each service's document renders."""
    counted = {"perceptron": 0, "bandit": 0}

    def counting(name, render):
        def wrapper(*args, **kwargs):
            counted[name] += 1
            return render(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(perceptron_module, "render", counting("perceptron", perceptron_module.render))
    monkeypatch.setattr(bandit_module.BanditService, "_render", counting("bandit", bandit_module.BanditService._render))
    return counted


@pytest.mark.parametrize("name, change", [("perceptron", "train"), ("bandit", "serve")])
def test_a_document_is_rendered_once_per_version_and_the_same_bytes_are_served_again(app, renders, name, change):
    service = services(app)[name]
    first = service.document()
    assert service.document() is first and renders[name] == 1  # nothing changed: the same bytes
    service.train("aeiou") if change == "train" else service.serve()
    second = service.document()
    assert second != first and renders[name] == 2
    assert service.document() is second and renders[name] == 2


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda s: s.train("aEiou"), "lowercase a-z"),
        (lambda s: s.train("a" * 4097), "at most 4096"),
        (lambda s: s.reset({"dim": 0}), "dim must be an integer from 1 to 4096"),
    ],
)
def test_bad_input_is_refused_before_the_state_is_touched(app, monkeypatch, call, fragment):
    service = services(app)["perceptron"]

    def unreachable(*args):
        raise StateUnavailable("Redis is down")  # as a store would while its backend is

    monkeypatch.setattr(service.store, "read", unreachable)
    monkeypatch.setattr(service.store, "transact", unreachable)
    with pytest.raises(Rejected, match=fragment):  # a 400, not a 503: the input is what is wrong
        call(service)


def test_an_error_of_the_state_layer_is_not_taken_for_bad_input(app, monkeypatch):
    """Only the models' own checks become refusals; a ValueError from inside a transaction stays a bug (500)."""
    for name, change in (("perceptron", lambda s: s.train("aeiou")), ("bandit", lambda s: s.remove_arm("A"))):
        service = services(app)[name]
        monkeypatch.setattr(service.store, "_load", lambda locked=False: (_ for _ in ()).throw(ValueError("torn")))
        with pytest.raises(ValueError, match="torn"):
            change(service)
