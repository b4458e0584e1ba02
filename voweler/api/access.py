"""Who may call what: visitors serve and learn, only operators manage.

Every route is declared one of two kinds, with a decorator beside its ``@bp.get``/``@bp.post``:

``@public``
    reads, the bandit's ``serve`` and ``reward``, the perceptron's ``train``: what a page's own
    visitors call.
``@management``
    resets, adding and removing arms, reading the event log: what only an operator may do.

A route declared neither way stops the app from starting (:func:`check_declared`), so a new
route cannot be left open by accident.

A management request is let through when:

* ``VOWELER_ADMIN_TOKEN`` is set and the request carries ``Authorization: Bearer <token>``
  (compared in constant time). Without the header it is a 401 with ``WWW-Authenticate``; with
  another token, a 403.
* no token is set and the client is on this machine (127.0.0.0/8 or ::1): the README's first
  command is a working local playground. Anyone else gets a 403 that says how to set a token.

The client is the connection's address. ``X-Forwarded-For`` is believed only from the proxies
named in ``VOWELER_TRUSTED_PROXIES``: the client is then the address that the nearest untrusted
hop forwarded for (the rightmost address in the header that is not itself a trusted proxy).
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Callable

from flask import Flask, current_app, request

from voweler.api.errors import ApiError

PUBLIC, MANAGEMENT = "public", "management"
REALM = 'Bearer realm="voweler management"'


def public(view: Callable) -> Callable:
    """Declare a route public: anyone who can reach the server may call it."""
    view.access = PUBLIC
    return view


def management(view: Callable) -> Callable:
    """Declare a route a management route: an operator's token, or a local client without one."""
    view.access = MANAGEMENT
    return view


def access_of(app: Flask, endpoint: str) -> str | None:
    """How the route behind ``endpoint`` was declared: PUBLIC, MANAGEMENT, or None (undeclared)."""
    return getattr(app.view_functions[endpoint], "access", None)


def check_declared(app: Flask) -> None:
    """Refuse to start with a route declared neither public nor management."""
    undeclared = sorted(
        f"{','.join(sorted(rule.methods - {'HEAD', 'OPTIONS'}))} {rule.rule}"
        for rule in app.url_map.iter_rules()
        if access_of(app, rule.endpoint) is None
    )
    if undeclared:
        raise RuntimeError(
            f"routes declared neither @public nor @management (voweler/api/access.py): {', '.join(undeclared)}"
        )


def init_app(app: Flask) -> None:
    # Flask's own static route serves the page's files: public, like the page.
    app.view_functions["static"] = public(app.view_functions["static"])
    check_declared(app)
    app.before_request(_authorize)


def _authorize() -> None:
    endpoint = request.url_rule.endpoint if request.url_rule else None
    if endpoint is None or access_of(current_app, endpoint) != MANAGEMENT:
        return  # public, or no such route (a 404 or 405 follows)
    token = current_app.config.get("ADMIN_TOKEN")
    if token is None:
        if not client_address().is_loopback:
            raise ApiError(
                403,
                "management is allowed only from this machine while no operator token is set; set "
                "VOWELER_ADMIN_TOKEN (at least 32 bytes) and send it as Authorization: Bearer <token>",
                "local_only",
            )
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(
            401,
            "this is a management request: send the operator token as Authorization: Bearer <token>",
            "unauthorized",
            headers={"WWW-Authenticate": REALM},
        )
    if not hmac.compare_digest(given.strip().encode(), token):
        raise ApiError(403, "the operator token is wrong: this management request is refused", "forbidden")


def client_address() -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The client's address: the connection's, or what a trusted proxy says it forwarded for."""
    peer = _address(request.remote_addr)
    proxies = current_app.config.get("TRUSTED_PROXIES") or ()
    if peer is None:
        return ipaddress.ip_address("0.0.0.0")  # unknown: not loopback
    if not _within(peer, proxies):
        return peer
    forwarded = [hop.strip() for hop in ",".join(request.headers.getlist("X-Forwarded-For")).split(",") if hop.strip()]
    for hop in reversed(forwarded):
        address = _address(hop)
        if address is None:
            return ipaddress.ip_address("0.0.0.0")  # a hop we cannot read: trust nothing beyond it
        if not _within(address, proxies):
            return address
    return _address(forwarded[0]) if forwarded else peer  # every hop is a trusted proxy: the first sent it


def _address(text: str | None):
    try:
        address = ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None
    return address.ipv4_mapped or address if address.version == 6 else address


def _within(address, networks) -> bool:
    return any(address in network for network in networks)
