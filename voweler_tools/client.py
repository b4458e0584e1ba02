"""The one JSON-over-HTTP client of voweler's tools: the simulator, the benches and the tests.

Built on requests. Two ways to ask::

    client = Client("http://127.0.0.1:9090", timeout=30)
    answer = client.call("POST", "/api/perceptron/train", {"letters": "aeiou"})  # never raises
    answer.outcome, answer.status, answer.body, answer.elapsed    # "answered", 200, {...}, 0.004
    client.post("/api/perceptron/train", {"letters": "aeiou"})    # the JSON body, or HttpError

:meth:`Client.call` answers an :class:`Answer` whatever happened, which says whether the request
can have been applied; the consistency checks depend on that (voweler_tools/checks.py):

``answered``  a complete HTTP response, whatever its status (``body`` is its JSON, or None and
              ``problem`` says why)
``refused``   the connection could not be made (refused, or the connect timed out): nothing was
              sent, so nothing was applied
``cut``       sent, then the connection broke: reset, closed before an answer, or an answer cut
              short. It may have been applied
``timeout``   sent, and no answer within ``timeout`` seconds: it may still be applied later

:meth:`Client.get`, :meth:`Client.post` and :meth:`Client.delete` return the JSON body of a 2xx
answer and raise :class:`HttpError` (status, error code, message) for anything else.

Every request gets a fresh connection and a fresh ``requests.Session``, so one Client may be used
from any number of threads at once. Sharing a session would buy nothing: uWSGI's http-socket
closes the connection after every answer (uwsgi.ini says ``Connection: close``), so there is no
connection to reuse. Environment proxy settings are ignored (the servers are local), and
redirects are not followed.
"""

from __future__ import annotations

import json
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Mapping

import orjson
import requests
import urllib3.exceptions

ANSWERED, REFUSED, CUT, TIMEOUT = "answered", "refused", "cut", "timeout"

# What requests raises when the transport fails (the rest, such as InvalidURL, are mistakes in
# the call and propagate).
_TRANSPORT = (
    requests.ConnectionError,  # includes ConnectTimeout
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the body was cut short
    requests.exceptions.ContentDecodingError,
)


@dataclass(frozen=True)
class Answer:
    """One request's fate (see the module's docstring for ``outcome``).

    ``sent`` and ``done`` are ``time.monotonic()`` when the request began and ended.
    """

    outcome: str
    status: int | None = None  # None unless answered
    body: Any = None  # the parsed JSON, or None
    problem: str = ""  # why there is no body: the transport error, or "not JSON: ..."
    sent: float = 0.0
    done: float = 0.0
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def elapsed(self) -> float:
        return self.done - self.sent

    @property
    def ok(self) -> bool:
        """Answered with a 2xx status."""
        return self.outcome == ANSWERED and 200 <= self.status < 300

    @property
    def code(self) -> str | None:
        """The API's error code (``"ticket_redeemed"``) of a 4xx or 5xx answer, else None."""
        if self.outcome == ANSWERED and self.status >= 400 and isinstance(self.body, dict):
            return self.body.get("error")
        return None

    @property
    def message(self) -> str:
        """The API's error message, or what went wrong in transport."""
        if isinstance(self.body, dict) and isinstance(self.body.get("message"), str):
            return self.body["message"]
        return self.problem


class HttpError(Exception):
    """A request of :meth:`Client.get`, ``post`` or ``delete`` that got no 2xx JSON answer.

    ``status`` is the HTTP status, None when no answer came (then ``outcome`` says why);
    ``code`` and ``message`` are the API's error code and message (``code`` None if the body
    had none); ``answer`` is the whole :class:`Answer`.
    """

    def __init__(self, method: str, path: str, answer: Answer):
        self.method, self.path, self.answer = method, path, answer
        self.status, self.code, self.message, self.outcome = answer.status, answer.code, answer.message, answer.outcome
        what = self.status if self.status is not None else self.outcome
        super().__init__(f"{what}: {self.message}" if self.code is None else f"{what} {self.code}: {self.message}")


class Client:
    """JSON over HTTP to one server (``http://host:port``, maybe with a path prefix); thread-safe.

    ``token`` is the operator token sent with every request (``Authorization: Bearer``), which
    management requests need when the server has one; by default ``VOWELER_ADMIN_TOKEN`` from the
    environment, as the server reads it.
    """

    def __init__(self, url: str, timeout: float = 30.0, token: str | None = None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the URL must be http://host:port, got {url!r}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.token = os.environ.get("VOWELER_ADMIN_TOKEN") or None if token is None else token

    def __repr__(self) -> str:
        return f"Client({self.url!r}, timeout={self.timeout})"

    def call(self, method: str, path: str, body: Any = None, headers: Mapping[str, str] | None = None) -> Answer:
        """Send one request and say what became of it; never raises for a status or a transport failure.

        ``body`` is sent as JSON; ``bytes`` or ``str`` are sent as they are (a malformed body, say);
        None sends none. ``headers`` are sent besides the client's own.
        """
        headers = {"Connection": "close", **({"Authorization": f"Bearer {self.token}"} if self.token else {}), **(headers or {})}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else json.dumps(body)
        sent = time.monotonic()
        try:
            with requests.Session() as session:
                session.trust_env = False  # no proxies from the environment, no .netrc
                response = session.request(
                    method, self.url + path, data=data, headers=headers, timeout=self.timeout, allow_redirects=False
                )
        except _TRANSPORT as error:
            outcome, problem = classify(error)
            return Answer(outcome, problem=problem, sent=sent, done=time.monotonic())
        done, raw = time.monotonic(), response.content
        try:
            parsed, problem = orjson.loads(raw), ""  # strict, as the server's parser: no NaN, no Infinity
        except orjson.JSONDecodeError:  # not JSON, or not UTF-8
            parsed, problem = None, f"not JSON: {raw[:120]!r}"
        return Answer(ANSWERED, response.status_code, parsed, problem, sent, done, response.headers)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """The JSON body of a 2xx answer; :class:`HttpError` for anything else."""
        answer = self.call(method, path, body)
        if not answer.ok or answer.body is None:
            raise HttpError(method, path, answer)
        return answer.body

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def classify(error: BaseException) -> tuple[str, str]:
    """(outcome, problem) for a transport failure that requests raised.

    requests wraps urllib3's exceptions, which wrap the socket's; the chain decides. A failure to
    connect (urllib3's ``ConnectTimeoutError``, whose subclass ``NewConnectionError`` is a refused
    or unreachable connection) means nothing was sent. A read that timed out means the request
    may still be applied. Anything else after the connection was made (reset, closed, an
    incomplete answer) cut off a request that was sent.
    """
    chain = _chain(error)
    root = chain[-1]
    problem = f"{type(root).__name__}: {root}"[:200]
    connecting = (requests.ConnectTimeout, urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
    if any(isinstance(e, connecting) for e in chain):
        return REFUSED, problem
    if any(isinstance(e, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)) for e in chain):
        return TIMEOUT, problem
    return CUT, problem


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and what it wraps, outermost first: through MaxRetryError's ``reason``, the
    exceptions that requests and urllib3 keep in ``args``, and ``__cause__``."""
    chain: list[BaseException] = []
    while error is not None and all(error is not seen for seen in chain):
        chain.append(error)
        reason = getattr(error, "reason", None)
        inner = [arg for arg in error.args if isinstance(arg, BaseException)]
        error = reason if isinstance(reason, BaseException) else inner[-1] if inner else error.__cause__
    return chain
