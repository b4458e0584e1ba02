"""What every service promises the web layer: a document rendered once per state version."""

from __future__ import annotations

import pytest

from voweler.services import bandit as bandit_module
from voweler.services import perceptron as perceptron_module
from voweler.services import services


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
