"""Naive baseline: the original design, for comparison; loses updates by design.

The perceptron's state is one JSON document in a uWSGI SharedArea (``json_state.py``). Every
training request reads it (``sharedarea_read``), decodes it, learns, encodes it and writes it
back (``sharedarea_write``): no lock around the three steps, no transaction, no version check.
Two workers that read the same version both write their own next version, and the later write
silently drops the earlier one's letters. Each copy in or out is whole (uWSGI takes the area's
rwlock for the length of one call), so a reader never sees half a document: what this baseline
gets wrong is only the read-modify-write.

Everything else is voweler's own code, so that the bench compares state handling alone: the
same Perceptron (embedding, learning rule), the same input checks and error shape, the same
response document (``voweler.services.perceptron.render``) encoded the same way, with ``version``,
``updates`` and ``pid``. What it does not have: the bandit, version-aware caching (each GET
decodes the JSON again), and every consistency guarantee.

    uwsgi --ini bench/naive/uwsgi.ini        # the same VOWELER_* variables as uwsgi.ini
"""

from __future__ import annotations

import uwsgi
from flask import Flask

from bench.naive.json_state import dumps, loads
from voweler.api import errors
from voweler.api.perceptron import letters_in_request, settings_in_request
from voweler.api.responses import json_response
from voweler.services.base import refusing_bad_input
from voweler.models.perceptron import DEFAULTS, check_config, letter_indices
from voweler.services.perceptron import check_length, render

AREA = 0
FIRST_READ = 4096  # bytes: most states end within them; a longer one is read again, whole


def read():
    """(version, model) as stored now: one copy, or two for a state longer than FIRST_READ."""
    data = uwsgi.sharedarea_read(AREA, 0, FIRST_READ)
    if b"\0" not in data:
        data = uwsgi.sharedarea_read(AREA, 0)  # the whole area, in one copy
    return loads(data)


def write(version, model) -> None:
    uwsgi.sharedarea_write(AREA, 0, dumps(version, model))


app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
errors.init_app(app)


@app.get("/api/health")
def health():
    return json_response({"ok": True, "backend": "naive"})


@app.get("/api/perceptron")
def show():
    return json_response(render(*read()))


@app.post("/api/perceptron/train")
def train():
    letters = letters_in_request()
    check_length(letters)
    with refusing_bad_input():
        indices = letter_indices(letters)
    version, model = read()  # read ...
    model.learn_indices(indices)  # ... update ...
    write(version + 1, model)  # ... write: another worker may have written in between
    return json_response(render(version + 1, model))


@app.post("/api/perceptron/reset")
def reset():
    given = settings_in_request()
    with refusing_bad_input():
        check_config(**{**DEFAULTS, **given})
    version, model = read()
    model.reset(**given)
    write(version + 1, model)
    return json_response(render(version + 1, model))
