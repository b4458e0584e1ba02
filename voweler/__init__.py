"""voweler: online-learning models shared correctly by every worker process of a web app."""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: the settings (:mod:`voweler.settings`: defaults, then the environment, then
    ``test_config``), the state backend and a service per model, then the API's blueprints."""
    from voweler import api, services, settings

    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # bodies are small JSON documents; larger ones get a 413
    app.config.update(settings.load(os.environ, test_config))
    services.init_app(app)
    api.init_app(app)
    return app
