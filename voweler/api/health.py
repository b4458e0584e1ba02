"""``GET /api/health``: is this worker up, and which backend does it use.

Deliberately minimal: benchmarks use it as the ceiling that the model endpoints are compared with.
"""

from flask import Blueprint

from voweler.api.access import public
from voweler.api.responses import json_response
from voweler.services import backend_name

bp = Blueprint("health", __name__, url_prefix="/api")


@bp.get("/health")
@public
def health():
    return json_response({"ok": True, "backend": backend_name()})
