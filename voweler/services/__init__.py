"""One service per model, between the web layer and the state: the app's models, in one table.

Like flaskr's ``get_db()``: :func:`init_app` opens the state backend and every service in
:data:`SERVICES` when the app is created. Each service class opens its own stores and tallies from
the backend (``Service.open(backend, config)``), by the areas of :mod:`voweler.state.layout`. A request
reaches one with ``service("perceptron")``.
"""

from __future__ import annotations

import sys

from flask import Flask, current_app

from voweler.services.bandit import BanditService
from voweler.services.base import Rejected
from voweler.services.names import NamesService
from voweler.services.perceptron import PerceptronService
from voweler.state import open_backend

__all__ = ["SERVICES", "BanditService", "NamesService", "PerceptronService", "Rejected", "backend_name", "init_app", "service", "services"]

SERVICES = {"perceptron": PerceptronService, "bandit": BanditService, "names": NamesService}


def init_app(app: Flask) -> None:
    backend = open_backend(app.config.get("STATE_URL"))
    prepared = backend.prepare()
    if prepared:  # to uWSGI's log: where the state resumed from
        print(f"voweler state: {prepared}", file=sys.stderr, flush=True)
    app.extensions["voweler"] = {
        "backend": backend,
        "services": {name: service.open(backend, app.config) for name, service in SERVICES.items()},
    }


def services(app: Flask | None = None) -> dict:
    """The app's services by name (the current app's by default)."""
    return (app or current_app).extensions["voweler"]["services"]


def service(name: str):
    """The current app's service for model ``name`` (a key of :data:`SERVICES`)."""
    return services()[name]


def backend_name() -> str:
    return current_app.extensions["voweler"]["backend"].name
