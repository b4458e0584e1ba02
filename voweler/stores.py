"""The app's models and where their shared state lives: the one bridge from Flask to voweler.state.

Like flaskr's ``get_db()``: ``init_app`` opens one store per model when the app is created,
``get_store(name)`` hands a request the store for a model.
"""

from __future__ import annotations

from flask import Flask, current_app

from voweler.models import Perceptron
from voweler.state import Store, default_url, open_store

# The order matters to the sharedarea backend: the n-th model lives in SharedArea n and takes
# uWSGI lock n + 1. uwsgi.ini declares the areas in this order.
MODELS = {
    "perceptron": Perceptron,
}


def init_app(app: Flask) -> None:
    url = app.config.get("STATE_URL") or default_url()
    app.config["STATE_URL"] = url
    app.extensions["voweler.stores"] = {
        name: open_store(url, name, model_type, index) for index, (name, model_type) in enumerate(MODELS.items())
    }


def get_store(name: str) -> Store:
    return current_app.extensions["voweler.stores"][name]


def backend_name() -> str:
    return next(iter(current_app.extensions["voweler.stores"].values())).backend
