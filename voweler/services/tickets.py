"""Signed bandit tickets: proof that the server served a given arm, so that a reward can't be forged.

A ticket names the serve (its serial number), the test and the arm slot it was served in, and
when it expires; an HMAC-SHA256 tag over those fields, keyed by the deployment's secret, makes it
unforgeable. That a ticket is accepted *once* is the tally's business
(:meth:`voweler.state.Tally.redeem`), since it needs shared state; everything here is pure.

Format: 48 characters of URL-safe base64 (no padding) encoding 36 bytes::

    format  u8   1
    unused  u8   0
    uid     u16  arm slot in its test
    test    u32  the test it was served in
    serial  u64  the serve's serial number, unique per deployment
    expires u32  Unix time, seconds
    tag     16 bytes: HMAC-SHA256(key, "voweler ticket" + the 20 bytes above), truncated

all little-endian. The HMAC key is derived from the secret, so that the secret itself signs
nothing directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

_FIELDS = struct.Struct("<BxHIQI")
_FORMAT = 1
_TAG_SIZE = 16
_CONTEXT = b"voweler ticket"
TOKEN_LENGTH = 48  # characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]{%d}" % TOKEN_LENGTH)  # exactly one spelling per ticket: no padding, no "+" or "/"


class TicketError(ValueError):
    """A ticket that is not acceptable; ``reason`` is "malformed", "forged" or "expired"."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Ticket:
    test: int
    uid: int
    serial: int
    expires: int


class TicketSigner:
    """Issues and checks tickets with one secret.

    Examples
    --------
    >>> signer = TicketSigner(b"s" * 32, ttl=60)
    >>> token = signer.issue(test=1, uid=2, serial=41, now=1_000_000)
    >>> len(token), signer.verify(token, now=1_000_030)
    (48, Ticket(test=1, uid=2, serial=41, expires=1000060))
    >>> signer.verify(token, now=1_000_061)
    Traceback (most recent call last):
    ...
    voweler.services.tickets.TicketError: the ticket expired 1 s ago (tickets are good for 60 s)
    >>> TicketSigner(b"another secret, 32 bytes long...").verify(token, now=1_000_030)
    Traceback (most recent call last):
    ...
    voweler.services.tickets.TicketError: the ticket's signature does not match: it was not issued by this server
    """

    def __init__(self, secret: bytes, ttl: int = 3600):
        if len(secret) < 16:
            raise ValueError("the ticket secret must be at least 16 bytes")
        self.ttl = ttl
        self._key = hmac.digest(secret, b"voweler bandit ticket key", hashlib.sha256)

    def issue(self, test: int, uid: int, serial: int, now: float) -> str:
        fields = _FIELDS.pack(_FORMAT, uid, test, serial, int(now) + self.ttl)
        return base64.urlsafe_b64encode(fields + self._tag(fields)).decode("ascii")

    def verify(self, token: str, now: float) -> Ticket:
        """The ticket ``token`` stands for, if it is well-formed, genuine and not expired."""
        if not isinstance(token, str) or len(token) != TOKEN_LENGTH:
            raise TicketError("malformed", f"a ticket is {TOKEN_LENGTH} characters as returned by /api/bandit/serve")
        if not _TOKEN.fullmatch(token):
            raise TicketError("malformed", "a ticket is URL-safe base64 (A-Z a-z 0-9 - _) as returned by /api/bandit/serve")
        raw = base64.urlsafe_b64decode(token)
        fields, tag = raw[: _FIELDS.size], raw[_FIELDS.size :]
        if not hmac.compare_digest(tag, self._tag(fields)):
            raise TicketError("forged", "the ticket's signature does not match: it was not issued by this server")
        format_, uid, test, serial, expires = _FIELDS.unpack(fields)
        if format_ != _FORMAT:  # signed by us, so only a future version of voweler could make one
            raise TicketError("malformed", f"ticket format {format_} is not supported")
        if now > expires:
            raise TicketError("expired", f"the ticket expired {int(now - expires)} s ago (tickets are good for {self.ttl} s)")
        return Ticket(test, uid, serial, expires)

    def _tag(self, fields: bytes) -> bytes:
        return hmac.digest(self._key, _CONTEXT + fields, hashlib.sha256)[:_TAG_SIZE]
