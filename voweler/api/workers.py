"""``GET /api/workers``: uWSGI's stats server, trimmed for the page: uwsgitop in the browser.

The worker that takes the request connects to the stats server that uWSGI's master runs (the
``stats`` option, ``VOWELER_STATS`` in uwsgi.ini), reads its JSON document to the end, and
answers what the page shows about each worker::

    {"master_pid": 4240, "uwsgi_version": "2.0.31", "backend": "sharedarea", "listen_queue": 0,
     "workers": [{"id": 1, "pid": 4242, "status": "busy", "requests": 17, ...}, ...],
     "locks": {"perceptron": null, "bandit": null, "bandit_tally": null}, "pid": 4242}

Without uWSGI (``flask run``), or under a uWSGI without a stats server, it answers 503 and
says why. Nothing here is cached: each request reads the stats server afresh (the master
writes a few kilobytes; the read times out after one second).
"""

from __future__ import annotations

from flask import Blueprint

from voweler import uwsgi_stats
from voweler.api.access import public
from voweler.api.errors import ApiError
from voweler.api.responses import json_response
from voweler.services import backend_name
from voweler.state import lock_holders

bp = Blueprint("workers", __name__, url_prefix="/api")

TIMEOUT = uwsgi_stats.TIMEOUT

# What the page shows of each worker, as uWSGI names it. Times are uWSGI's: avg_rt and
# running_time in microseconds, last_spawn in Unix seconds.
WORKER_FIELDS = (
    "id", "pid", "status", "accepting", "requests", "delta_requests", "exceptions", "harakiri_count",
    "respawn_count", "avg_rt", "running_time", "last_spawn", "tx", "rss", "vsz",
)  # fmt: skip


@bp.get("/workers")
@public
def workers():
    address = stats_address()
    return json_response({**summarize(read_stats(address)), "backend": backend_name(), "stats": address})


def stats_address() -> str:
    """Where this uWSGI's stats server listens, or a 503 saying why there is none."""
    try:
        import uwsgi
    except ImportError:
        raise ApiError(
            503,
            "not running under uWSGI, so there are no worker statistics; start the server with "
            "`uwsgi --ini uwsgi.ini` to see its workers",
        ) from None
    value = uwsgi.opt.get("stats") or uwsgi.opt.get("stats-server")
    if isinstance(value, list):  # an option given twice: the last one is the one uWSGI uses
        value = value[-1]
    if isinstance(value, bytes):
        value = value.decode()
    if not value or value is True:
        raise ApiError(503, "this uWSGI runs without a stats server; set `stats` in uwsgi.ini (VOWELER_STATS)")
    if uwsgi.opt.get("stats-http"):
        raise ApiError(503, "the stats server speaks HTTP here (stats-http); this endpoint reads the plain one")
    return value


def read_stats(address: str, timeout: float = TIMEOUT) -> dict:
    """The stats server's document (see :mod:`voweler.uwsgi_stats`), or a 503 saying why not."""
    try:
        return uwsgi_stats.read_stats(address, timeout)
    except uwsgi_stats.StatsError as error:
        raise ApiError(503, str(error)) from None


def summarize(stats: dict) -> dict:
    """The page's view of a stats document: the master, each worker, and who holds the model locks.

    >>> summary = summarize({"version": "2.0.31", "pid": 10, "listen_queue": 0, "locks": [{"user 1": 12}],
    ...                      "workers": [{"id": 1, "pid": 12, "status": "busy", "requests": 3}]})
    >>> summary["master_pid"], summary["workers"][0]["requests"], summary["workers"][0]["exceptions"]
    (10, 3, None)
    >>> summary["locks"]["perceptron"]
    12
    """
    return {
        "uwsgi_version": stats.get("version"),
        "master_pid": stats.get("pid"),
        "listen_queue": stats.get("listen_queue"),
        "load": stats.get("load"),
        "workers": [{field: worker.get(field) for field in WORKER_FIELDS} for worker in stats["workers"]],
        "locks": lock_holders(stats),
    }
