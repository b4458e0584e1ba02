"""Who may change what (voweler/api/access.py): visitors serve and learn, only operators manage."""

from __future__ import annotations

import threading

import pytest
from flask import Blueprint

from voweler import create_app
from voweler.api.access import MANAGEMENT, PUBLIC, access_of, check_declared
from voweler.models.perceptron import Perceptron, export_document
from voweler_tools.checks import without_pid
from voweler_tools.client import Client
from voweler_tools.deployment import Deployment

TOKEN = "operator-token-" + "x" * 24  # 39 bytes
VISITOR = {"REMOTE_ADDR": "203.0.113.7"}  # a client on another machine (TEST-NET-3)

# Each management route, with a request that would change something (or read the event log).
MANAGEMENT_REQUESTS = [
    ("POST", "/api/perceptron/reset", {"dim": 8}),
    ("POST", "/api/perceptron/import", export_document(Perceptron(dim=8, seed=5))),
    ("POST", "/api/bandit/reset", {"arms": [{"name": "red"}, {"name": "blue"}]}),
    ("POST", "/api/bandit/arms", {"name": "green"}),
    ("DELETE", "/api/bandit/arms/A", None),
    ("GET", "/api/bandit/events", None),
    ("POST", "/api/names/corpora", {"name": "planets", "names": ["mercury", "venus"]}),
]
PUBLIC_REQUESTS = [
    ("GET", "/api/health", None), ("GET", "/api/perceptron", None), ("POST", "/api/perceptron/train", {"letters": "ae"}),
    ("GET", "/api/bandit", None), ("POST", "/api/bandit/serve", None), ("GET", "/", None),
    ("GET", "/api/perceptron/robustness?eps=0.1", None), ("GET", "/api/perceptron/export", None),
    ("GET", "/api/names/markov3/pypi/complete?q=***base", None), ("POST", "/api/names/elements/learn", {"names": ["neon"]}),
]  # fmt: skip


def routes(app) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {PUBLIC: set(), MANAGEMENT: set()}
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            found[access_of(app, rule.endpoint)].add(f"{method} {rule.rule}")
    return found


def test_every_route_is_public_or_management_and_the_lists_are_these():
    found = routes(create_app({"STATE_URL": "memory://"}))
    assert found[MANAGEMENT] == {
        "POST /api/perceptron/reset", "POST /api/perceptron/import", "POST /api/bandit/reset", "POST /api/bandit/arms",
        "DELETE /api/bandit/arms/<name>", "GET /api/bandit/events", "POST /api/names/corpora",
    }  # fmt: skip
    assert found[PUBLIC] == {
        "GET /", "GET /static/<path:filename>", "GET /api/health", "GET /api/workers", "GET /api/perceptron",
        "POST /api/perceptron/train", "GET /api/perceptron/robustness", "GET /api/perceptron/export", "GET /api/bandit", "POST /api/bandit/serve", "POST /api/bandit/reward",
        "GET /api/names", "GET /api/names/<model>/<corpus>/generate", "GET /api/names/<model>/<corpus>/complete",
        "GET /api/names/<model>/<corpus>/score", "GET /api/names/<model>/<corpus>/transitions",
        "GET /api/names/<corpus>/learned", "POST /api/names/<corpus>/learn",
    }  # fmt: skip


def test_a_route_declared_neither_way_stops_the_app_from_starting():
    app = create_app({"STATE_URL": "memory://"})
    extra = Blueprint("extra", __name__)
    extra.add_url_rule("/api/extra", "wipe", lambda: "", methods=["POST"])
    app.register_blueprint(extra)
    with pytest.raises(RuntimeError, match="routes declared neither @public nor @management .*POST /api/extra"):
        check_declared(app)


def state(client) -> tuple:
    read = {"REMOTE_ADDR": "127.0.0.1"}
    perceptron = without_pid(client.get("/api/perceptron", environ_base=read).get_json())
    bandit = without_pid(client.get("/api/bandit", environ_base=read).get_json())
    names = without_pid(client.get("/api/names", environ_base=read).get_json())
    return perceptron, bandit, names


def send(client, method, path, body, headers=None, remote=None):
    return client.open(path, method=method, json=body, headers=headers or {}, environ_base=remote or {})


def assert_refused(answer, status, code, *fragments):
    body = answer.get_json()
    assert answer.status_code == status and body["error"] == code and body["status"] == status, body
    assert set(body) == {"error", "status", "message", "pid"}
    for fragment in fragments:
        assert fragment in body["message"]


@pytest.mark.parametrize("method, path, body", MANAGEMENT_REQUESTS)
class TestManagementWithAToken:
    @pytest.fixture
    def client(self):
        return create_app({"STATE_URL": "memory://", "ADMIN_TOKEN": TOKEN}).test_client()

    def test_without_the_header_it_is_a_401_that_says_how_and_changes_nothing(self, client, method, path, body):
        before = state(client)
        answer = send(client, method, path, body)  # from this very machine: a token is still needed
        assert_refused(answer, 401, "unauthorized", "Authorization: Bearer")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert state(client) == before

    @pytest.mark.parametrize("header", [f"Bearer {TOKEN[:-1]}y", f"Bearer {TOKEN}x", "Bearer x", f"Basic {TOKEN}"])
    def test_a_wrong_token_is_a_403_and_changes_nothing(self, client, method, path, body, header):
        before = state(client)
        answer = send(client, method, path, body, {"Authorization": header}, VISITOR)
        if header.startswith("Basic"):
            assert_refused(answer, 401, "unauthorized")
        else:
            assert_refused(answer, 403, "forbidden", "token is wrong")
        assert state(client) == before

    def test_the_right_token_is_let_through_from_anywhere(self, client, method, path, body):
        answer = send(client, method, path, body, {"Authorization": f"Bearer {TOKEN}"}, VISITOR)
        assert answer.status_code in (200, 201), answer.get_json()


@pytest.mark.parametrize("method, path, body", MANAGEMENT_REQUESTS)
class TestManagementWithoutAToken:
    @pytest.fixture
    def client(self):
        return create_app({"STATE_URL": "memory://"}).test_client()

    def test_this_machine_may_manage(self, client, method, path, body):
        for local in ("127.0.0.1", "127.8.9.10", "::1"):
            answer = send(client, method, path, body, remote={"REMOTE_ADDR": local})
            # let through: done, or refused by the model the second time (409: green exists; 404: A is gone)
            assert answer.status_code in (200, 201, 404, 409), answer.get_json()

    def test_another_machine_gets_a_403_that_says_how_to_set_a_token(self, client, method, path, body):
        before = state(client)
        for remote in ("203.0.113.7", "10.0.0.2", "::ffff:10.0.0.2", "2001:db8::1"):
            answer = send(client, method, path, body, {"Authorization": f"Bearer {TOKEN}"}, {"REMOTE_ADDR": remote})
            assert_refused(answer, 403, "local_only", "VOWELER_ADMIN_TOKEN")
        assert state(client) == before


@pytest.mark.parametrize("token", [None, TOKEN])
def test_public_requests_never_ask(token):
    client = create_app({"STATE_URL": "memory://", "ADMIN_TOKEN": token}).test_client()
    for method, path, body in PUBLIC_REQUESTS:
        assert send(client, method, path, body, remote=VISITOR).status_code == 200, path
    ticket = send(client, "POST", "/api/bandit/serve", None, remote=VISITOR).get_json()["ticket"]
    assert send(client, "POST", "/api/bandit/reward", {"ticket": ticket, "clicked": True}, remote=VISITOR).status_code == 200


@pytest.mark.parametrize(
    "proxies, peer, forwarded, allowed",
    [
        (None, "127.0.0.1", "203.0.113.7", True),  # no proxy trusted: the header is ignored
        ("127.0.0.1", "127.0.0.1", "203.0.113.7", False),  # the proxy says a visitor sent it
        ("127.0.0.1", "127.0.0.1", "127.0.0.1", True),  # the proxy says a local client sent it
        ("127.0.0.1", "127.0.0.1", "127.0.0.1, 203.0.113.7", False),  # the nearest untrusted hop counts
        ("127.0.0.1,10.0.0.0/8", "127.0.0.1", "203.0.113.7, 10.1.2.3", False),  # through two trusted proxies
        ("127.0.0.1,10.0.0.0/8", "127.0.0.1", "127.0.0.1, 10.1.2.3", True),
        ("127.0.0.1", "127.0.0.1", "not an address", False),  # unreadable: trust nothing
        ("10.0.0.0/8", "127.0.0.1", "203.0.113.7", True),  # from an untrusted peer: the header is ignored
        ("10.0.0.0/8", "203.0.113.9", "127.0.0.1", False),  # a visitor cannot claim to be local
    ],
)
def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(proxies, peer, forwarded, allowed):
    client = create_app({"STATE_URL": "memory://", "TRUSTED_PROXIES": proxies}).test_client()
    answer = send(client, "POST", "/api/perceptron/reset", {}, {"X-Forwarded-For": forwarded}, {"REMOTE_ADDR": peer})
    assert answer.status_code == (200 if allowed else 403), answer.get_json()


@pytest.mark.parametrize(
    "config, fragment",
    [
        ({"ADMIN_TOKEN": "short"}, "VOWELER_ADMIN_TOKEN must be at least 32 printable ASCII bytes"),
        ({"ADMIN_TOKEN": "x" * 31 + " "}, "VOWELER_ADMIN_TOKEN must be at least 32"),
        ({"TRUSTED_PROXIES": "127.0.0.1, nginx"}, "VOWELER_TRUSTED_PROXIES must be IP addresses or networks"),
    ],
)
def test_bad_access_settings_stop_the_app_from_starting(config, fragment):
    with pytest.raises(ValueError, match=fragment):
        create_app({"STATE_URL": "memory://", **config})


@pytest.mark.uwsgi
def test_under_uwsgi_a_visitor_s_reset_is_refused_while_serves_and_rewards_go_on():
    with Deployment(processes=4, env={"VOWELER_ADMIN_TOKEN": TOKEN}) as server:
        operator, visitor = Client(server.url, token=TOKEN), Client(server.url, token="")
        operator.post("/api/bandit/reset", {"arms": [{"name": "red"}, {"name": "blue"}]})
        stop, refused, served, clicks = threading.Event(), [], [], []

        def visit():
            while not stop.is_set():
                answer = visitor.call("POST", "/api/bandit/serve")
                assert answer.ok, answer
                served.append(answer.body["arm"])
                if len(served) % 3 == 0:
                    assert visitor.post("/api/bandit/reward", {"ticket": answer.body["ticket"], "clicked": True})
                    clicks.append(answer.body["arm"])

        threads = [threading.Thread(target=visit) for _ in range(4)]
        for thread in threads:
            thread.start()
        try:
            for _ in range(20):
                for method, path, body in MANAGEMENT_REQUESTS:
                    refused.append(visitor.call(method, path, body).status)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        assert set(refused) == {401}
        document = operator.get("/api/bandit")
        assert document["test"] == 2  # the operator's reset, and no other
        counts = {arm["name"]: (arm["impressions"], arm["clicks"]) for arm in document["arms"]}
        assert counts == {name: (served.count(name), clicks.count(name)) for name in ("red", "blue")}
        assert operator.call("POST", "/api/perceptron/reset", {}).ok


@pytest.mark.uwsgi
def test_under_uwsgi_only_the_trusted_proxy_s_forwarded_for_is_believed():
    """As behind the README's nginx: uWSGI hears only the proxy (here, this machine)."""
    with Deployment(processes=2, env={"VOWELER_TRUSTED_PROXIES": "127.0.0.1"}) as behind, Deployment(processes=2) as direct:
        for server, believed in ((behind, True), (direct, False)):
            for forwarded, visitor_sent in (("203.0.113.7", True), ("127.0.0.1", False)):
                answer = Client(server.url, token="").call("POST", "/api/perceptron/reset", {}, headers={"X-Forwarded-For": forwarded})
                refused = believed and visitor_sent
                assert answer.status == (403 if refused else 200), (server.url, forwarded, answer)
