"""Shared test setup. Tests marked ``uwsgi`` start real uWSGI deployments (voweler.deployment).

Tests of the redis:// backend use ``redis_url``: a real redis-server, started once per session
on a free port (tests/redis_server.py), with its database emptied before each test. Without
redis-server installed they are skipped, unless VOWELER_REQUIRE_REDIS=1 (as in .ci/run) makes
that an error. ``own_redis`` is a redis-server of one test's own, to stop, kill or hang.

``server`` is the real uWSGI with 4 workers, one per test module that uses it.
"""

import sys

import pytest

from redis_server import RedisServer, need_redis_server
from voweler.deployment import REPO, Deployment

# bench/ is not installed: the tests import its checks (bench/checks.py) from the checkout
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))

# Apps that only import under uWSGI; the tests start them with `uwsgi --module`.
collect_ignore = ["uwsgi_apps"]


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
