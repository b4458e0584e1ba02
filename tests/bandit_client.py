"""Helpers for the bandit's API tests: tickets taken apart and tampered with, and count checks.

The checks return problems as sentences rather than asserting (like tests/consistency.py), so
that a test can show they pass against voweler and that they catch a server that over- or
under-counts.
"""

from __future__ import annotations

import base64
import random
import struct
import time
from collections import Counter
from dataclasses import dataclass

from voweler_tools import checks
from voweler.services.tickets import TOKEN_LENGTH, TicketSigner

SHOW, SERVE, REWARD = "/api/bandit", "/api/bandit/serve", "/api/bandit/reward"
ARMS, RESET, EVENTS = "/api/bandit/arms", "/api/bandit/reset", "/api/bandit/events"
# The documents' exact keys: the ones the consistency bench checks (voweler_tools/checks.py)
ERROR_KEYS, DOCUMENT_KEYS, ARM_KEYS = set(checks.ERROR_KEYS), set(checks.BANDIT_KEYS), set(checks.ARM_KEYS)
SERVE_KEYS, REWARD_KEYS = set(checks.SERVE_KEYS), set(checks.REWARD_KEYS)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_FIELDS = struct.Struct("<BxHIQI")  # the ticket's signed fields, as documented in voweler/services/tickets.py


@dataclass(frozen=True)
class Fields:
    """What a ticket says (it is signed, not encrypted): its arm slot, test, serial and expiry."""

    uid: int
    test: int
    serial: int
    expires: int


def fields(token: str) -> Fields:
    raw = base64.urlsafe_b64decode(token)
    _format, uid, test, serial, expires = _FIELDS.unpack(raw[: _FIELDS.size])
    return Fields(uid, test, serial, expires)


def flip(token: str, index: int) -> str:
    """``token`` with the character at ``index`` replaced by another base64url character."""
    old = token[index]
    new = B64URL[(B64URL.index(old) + 1) % 64]
    return token[:index] + new + token[index + 1 :]


def resign(token: str, secret: bytes, ttl: int = 3600, now: float | None = None, **changes) -> str:
    """The same serve's ticket (or with ``changes``), signed with ``secret``."""
    f = fields(token)
    values = {"test": f.test, "uid": f.uid, "serial": f.serial, **changes}
    return TicketSigner(secret, ttl).issue(now=time.time() if now is None else now, **values)


def made_up(rng: random.Random) -> str:
    return "".join(rng.choice(B64URL) for _ in range(TOKEN_LENGTH))


def error_problems(body, status: int, code: str | None = None) -> list[str]:
    """What is wrong with an error body: the one shape, ``status``, and ``code`` if given."""
    if not isinstance(body, dict) or set(body) != ERROR_KEYS:
        return [f"not the error shape: {body!r}"[:300]]
    found = []
    if body["status"] != status:
        found.append(f"status field {body['status']} != {status}")
    if code is not None and body["error"] != code:
        found.append(f"error code {body['error']!r} != {code!r} ({body['message']})")
    if not isinstance(body["message"], str) or not body["message"]:
        found.append("empty message")
    if not isinstance(body["pid"], int) or isinstance(body["pid"], bool):
        found.append("pid is not an integer")
    return found


def count_problems(document: dict, served: Counter, clicked: Counter, *, unacknowledged_serves: int = 0) -> list[str]:
    """Whether ``document`` (a GET /api/bandit) counts exactly what the clients saw.

    ``served``: acknowledged serves per arm name; ``clicked``: accepted rewards with a click per
    arm name. ``unacknowledged_serves`` serves failed in transport: each may or may not have
    been counted, so impressions may exceed the acknowledged ones by at most that many.
    """
    found = []
    arms = {arm["name"]: arm for arm in document["arms"]}
    unknown = (set(served) | set(clicked)) - set(arms)
    if unknown:
        found.append(f"arms served or clicked that the document does not list: {sorted(unknown)}")
    total_served, total_clicked = sum(served.values()), sum(clicked.values())
    if document["impressions"] != sum(arm["impressions"] for arm in document["arms"]):
        found.append(f"impressions {document['impressions']} is not the sum over the arms")
    if document["clicks"] != sum(arm["clicks"] for arm in document["arms"]):
        found.append(f"clicks {document['clicks']} is not the sum over the arms")
    if not total_served <= document["impressions"] <= total_served + unacknowledged_serves:
        found.append(
            f"impressions {document['impressions']}, but {total_served} serves were acknowledged"
            + (f" and {unacknowledged_serves} failed" if unacknowledged_serves else "")
        )
    if document["clicks"] != total_clicked:
        found.append(f"clicks {document['clicks']}, but {total_clicked} clicks were accepted")
    for name, arm in arms.items():
        if not served[name] <= arm["impressions"] <= served[name] + unacknowledged_serves:
            found.append(f"arm {name}: {arm['impressions']} impressions, {served[name]} serves acknowledged")
        if arm["clicks"] != clicked[name]:
            found.append(f"arm {name}: {arm['clicks']} clicks, {clicked[name]} accepted")
    return found


