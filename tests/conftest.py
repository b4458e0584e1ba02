"""Shared test setup: the fixtures every test module may ask for.

``app`` and ``client`` are voweler's Flask app on the in-process ``memory://`` backend and its test
client. A module changes them by overriding ``app_config`` (what ``create_app`` is given: the
bandit's tests add a SECRET) and ``prepare_client`` (done to each new client first: the bandit's
tests reset it to their arms). Tests that need an app of their own call ``create_app`` themselves.

Tests marked ``uwsgi`` start real uWSGI deployments (voweler_tools.deployment). ``server`` is the
real uWSGI with 4 workers, one per test module that uses it.

Tests of the redis:// backend use ``redis_url``: a real redis-server, started once per session
on a free port (tests/redis_server.py), with its database emptied before each test. Without
redis-server installed they are skipped, unless VOWELER_REQUIRE_REDIS=1 (as in .ci/run) makes
that an error. ``own_redis`` is a redis-server of one test's own, to stop, kill or hang.

pytest puts tests/ on the path (its helpers import as ``consistency``, ``bandit_client``, ...),
and pyproject.toml's ``pythonpath`` the checkout (for ``bench``).
"""

import pytest

from redis_server import RedisServer, need_redis_server
from voweler import create_app
from voweler_tools.deployment import Deployment

# Apps that only import under uWSGI; the tests start them with `uwsgi --module`.
collect_ignore = ["uwsgi_apps"]


@pytest.fixture
def app_config() -> dict:
    """The config ``app`` is created with; a module may override this fixture."""
    return {"STATE_URL": "memory://"}


@pytest.fixture
def app(app_config):
    return create_app(app_config)


@pytest.fixture
def prepare_client():
    """What is done to each new ``client`` first (nothing); a module may override this fixture."""
    return lambda client: None


@pytest.fixture
def client(app, prepare_client):
    client = app.test_client()
    prepare_client(client)
    return client


@pytest.fixture(scope="session")
def redis_server():
    need_redis_server()
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, emptied: a fresh database for each test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="module")
def server():
    """The real ``uwsgi --ini uwsgi.ini`` with 4 workers, one per test module that asks for it
    (a module may define its own ``server`` instead)."""
    with Deployment(processes=4) as deployment:
        yield deployment


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, which it may stop, kill or hang."""
    need_redis_server()
    with RedisServer() as server:
        yield server
