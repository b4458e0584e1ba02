"""The JSON API: one blueprint per model, plus health and workers; one error type for all of them."""

from __future__ import annotations

from flask import Flask

from voweler.api import access, bandit, errors, health, names, perceptron, workers
from voweler.api.errors import ApiError

__all__ = ["ApiError", "init_app"]


def init_app(app: Flask) -> None:
    errors.init_app(app)
    for module in (health, perceptron, bandit, names, workers):
        app.register_blueprint(module.bp)

    # The page itself. Under uWSGI, /static/* is served by uWSGI without reaching Python (this
    # uWSGI build has no internal routing to map "/" as well); under `flask run`, Flask serves both.
    @app.get("/")
    @access.public
    def index():
        return app.send_static_file("index.html")

    access.init_app(app)  # last: every route is declared by now
