"""The app's models and where their shared state lives: the one bridge from Flask to voweler.state.

Like flaskr's ``get_db()``: ``init_app`` opens one store per model when the app is created,
``get_store(name)`` hands a request the store for a model, ``get_bandit()`` the bandit service.
"""

from __future__ import annotations

import sys

from flask import Flask, current_app

from voweler.bandit_service import BanditService
from voweler.models import Experiment, Perceptron
from voweler.state import Store, default_url, open_store, open_tally, prepare

# The order matters to the sharedarea backend: the n-th model lives in SharedArea n and takes
# uWSGI lock n + 1; the tallies follow the models. uwsgi.ini declares the areas in this order.
MODELS = {
    "perceptron": Perceptron,  # area 0
    "bandit": Experiment,  # area 1: the arms and their priors
}
TALLIES = ("bandit",)  # area 2: the bandit's counters
# The largest state of each model, in bytes: one slot of its SharedArea in uwsgi.ini. A backend
# without areas of its own (redis://) keeps states within the same bounds.
CAPACITY = {"perceptron": 48 * 1024, "bandit": 32 * 1024}


def init_app(app: Flask) -> None:
    url = app.config.get("STATE_URL") or default_url()
    app.config["STATE_URL"] = url
    recovered = prepare(url)
    if recovered:  # to uWSGI's log: where the state resumed from
        print(f"voweler state: {recovered}", file=sys.stderr, flush=True)
    stores = {
        name: open_store(url, name, model_type, index, capacity=CAPACITY[name])
        for index, (name, model_type) in enumerate(MODELS.items())
    }
    tallies = {name: open_tally(url, name, len(MODELS) + index) for index, name in enumerate(TALLIES)}
    app.extensions["voweler.stores"] = stores
    app.extensions["voweler.bandit"] = BanditService(
        stores["bandit"], tallies["bandit"], secret=app.config["SECRET"], ttl=app.config["TICKET_TTL"]
    )


def get_store(name: str) -> Store:
    return current_app.extensions["voweler.stores"][name]


def get_bandit() -> BanditService:
    return current_app.extensions["voweler.bandit"]


def backend_name() -> str:
    return next(iter(current_app.extensions["voweler.stores"].values())).backend
