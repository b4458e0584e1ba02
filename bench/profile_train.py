"""Where a training request's time goes, in one process: the first step of making it cheaper.

    python -m bench.profile_train                 # dim 16, 3,000 requests per figure
    python -m bench.profile_train --dim 4096 --requests 1000 --cprofile 25

It runs the real app (Flask's test client, no HTTP server) on a real SharedArea store layout (a
shared memory block split in two slots, the same ``SharedAreaStore`` code as under uWSGI, with a
thread lock in place of uWSGI's), and reports, per request:

* the whole request, beside ``GET /api/health`` and ``GET /api/perceptron`` measured the same way;
* each phase of a train: parsing, the transaction (decode, learn, encode, digest, write) and
  rendering the answer, by timing the functions that do them;
* the **critical section**: microseconds under the writers' lock per transaction, and the
  ceiling on transactions per second that puts on any number of workers.

Times are this machine's, and drift with its load: compare phases within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import mmap
import pstats
import threading
import time
from collections import defaultdict

from voweler import create_app
from voweler.models import Perceptron
from voweler.services import services
from voweler.state import area_of, base
from voweler.state.sharedarea import SharedAreaStore


class TimedLock:
    """A lock that adds up how long it was held."""

    def __init__(self):
        self._lock, self.held, self.count = threading.Lock(), 0.0, 0

    def __enter__(self):
        self._lock.acquire()
        self._since = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.held += time.perf_counter() - self._since
        self.count += 1
        self._lock.release()


@contextlib.contextmanager
def timing(totals: dict, targets: list[tuple[object, str, str]]):
    """Wrap ``owner.name`` for each target so that its calls add up under ``label``."""
    saved = []
    for owner, name, label in targets:
        original = getattr(owner, name)
        saved.append((owner, name, original))

        def timed(*args, _original=original, _label=label, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_label] += time.perf_counter() - started

        setattr(owner, name, timed)
    try:
        yield
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def per_request(fn, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        fn()
    return (time.perf_counter() - started) / requests * 1e6


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim", type=int, default=16, help="the perceptron's dimension (default 16)")
    parser.add_argument("--requests", type=int, default=3000, help="requests per figure (default 3000)")
    parser.add_argument("--letters", default="a", help="the letters of each train request (default a)")
    parser.add_argument("--cprofile", type=int, metavar="N", default=0, help="also print cProfile's N costliest functions")
    args = parser.parse_args(argv)

    app = create_app({"STATE_URL": "memory://"})
    service = services(app)["perceptron"]
    lock = TimedLock()
    memory = mmap.mmap(-1, area_of("perceptron").size)
    service.store = SharedAreaStore("perceptron", Perceptron, memory, lock, where="a test area")
    client = app.test_client()
    client.post("/api/perceptron/reset", json={"dim": args.dim})
    body = {"letters": args.letters}
    for _ in range(300):  # a full history, as a long-running server has
        client.post("/api/perceptron/train", json=body)

    health = per_request(lambda: client.get("/api/health"), args.requests)
    read = per_request(lambda: client.get("/api/perceptron"), args.requests)
    lock.held, lock.count = 0.0, 0
    train = per_request(lambda: client.post("/api/perceptron/train", json=body), args.requests)
    under_lock = lock.held / lock.count * 1e6

    totals: dict[str, float] = defaultdict(float)
    perceptron_service = type(service)
    targets = [
        (perceptron_service, "train", "service.train (all but Flask)"),
        (base.Store, "_apply", "  transaction: copy, learn, encode, digest"),
        (Perceptron, "learn_indices", "    learn"),
        (Perceptron, "to_state", "    to_state"),
        (base, "encode_state", "    encode_state"),
        (base.Frame, "build", "    Frame.build (BLAKE2b digest)"),
        (Perceptron, "from_state", "    from_state (the copy, and the new snapshot's model)"),
        (SharedAreaStore, "_write", "  write the slot"),
        (perceptron_service, "_render", "  render the answer (once per version)"),
    ]
    with timing(totals, targets):
        per_request(lambda: client.post("/api/perceptron/train", json=body), args.requests)

    print(f"voweler train profile: dim {args.dim}, letters {args.letters!r}, {args.requests:,} requests per figure")
    print(f"  GET /api/health          {health:8.1f} µs")
    print(f"  GET /api/perceptron      {read:8.1f} µs  ({read / health:.2f}x health)")
    print(f"  POST train               {train:8.1f} µs  ({train / health:.2f}x health; ratio {health / train:.2f})")
    print("  where a train's time goes (µs per request):")
    for _owner, _name, label in targets:
        print(f"    {label:<58} {totals[label] / args.requests * 1e6:8.1f}")
    print(f"  under the writers' lock: {under_lock:.1f} µs per transaction: at most {1e6 / under_lock:,.0f} transactions/s")

    if args.cprofile:
        profile = cProfile.Profile()
        profile.enable()
        per_request(lambda: client.post("/api/perceptron/train", json=body), args.requests)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(args.cprofile)
        print(out.getvalue())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
