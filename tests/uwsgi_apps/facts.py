"""A bare WSGI app that probes the uWSGI behaviour voweler's SharedArea backend relies on.

Run by tests/test_uwsgi_facts.py with the project's own uwsgi.ini (only the module swapped).
Shared memory layout: bytes 0-7 a value, bytes 8-15 the pid of whoever holds a lock.
"""

import json
import os
import struct
import time

import uwsgi

# Taken at import, in the master (uwsgi.ini has no lazy-apps), as voweler's stores are.
AREA = uwsgi.sharedarea_memoryview(0)


def answer(start, body, status="200 OK"):
    start(status, [("Content-Type", "application/json")])
    return [json.dumps({**body, "pid": os.getpid()}).encode()]


def application(environ, start):
    path, query = environ["PATH_INFO"], environ.get("QUERY_STRING", "")
    if path == "/write":
        struct.pack_into("<q", AREA, 0, int(query))
    elif path == "/hold-lock":  # take user lock 1, say so, and never give it back
        uwsgi.lock(1)
        struct.pack_into("<q", AREA, 8, os.getpid())
        time.sleep(600)
    elif path == "/take-lock":
        uwsgi.lock(1)
        uwsgi.unlock(1)
    elif path == "/hold-area-wlock":  # take the SharedArea's own write lock, and never give it back
        uwsgi.sharedarea_wlock(0)
        struct.pack_into("<q", AREA, 8, os.getpid())
        time.sleep(600)
    value, holder = struct.unpack_from("<qq", AREA, 0)
    return answer(start, {"value": value, "holder": holder, "ok": True})
