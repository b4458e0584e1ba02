"""Drive a deployment with concurrent training, and list every way its answers are inconsistent.

The checks themselves live in voweler_tools/checks.py, shared with the consistency bench
(bench/consistency.py); this module drives the tests' training runs and words the checks as the
tests use them. They return problems as sentences rather than asserting, so that one test can
show they pass against voweler and another that they fail against a deliberately unsafe variant.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

from voweler.models.perceptron import ALPHABET
from voweler_tools.checks import Train as Ack  # an acknowledged training request
from voweler_tools.checks import check_perceptron
from voweler_tools.client import Client


def random_batches(count: int, seed: int = 0, longest: int = 6) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, k=rng.randint(1, longest))) for _ in range(count)]


def reset(url: str, **settings) -> dict:
    return Client(url, timeout=30).post("/api/perceptron/reset", settings)


def state(url: str) -> dict:
    return Client(url, timeout=30).get("/api/perceptron")


def train_concurrently(url: str, batches: list[str], clients: int = 16) -> tuple[list[Ack], list[str]]:
    """Send each batch as one train request from ``clients`` threads; return acks and failures."""

    client = Client(url, timeout=60)

    def send(letters: str):
        answer = client.call("POST", "/api/perceptron/train", {"letters": letters})
        if answer.status is None:  # refused, cut or timed out
            return f"{letters!r}: {answer.outcome} {answer.problem}"
        if answer.status != 200:
            return f"{letters!r}: HTTP {answer.status} {answer.message[:200]}"
        body = answer.body
        return Ack(letters, body["version"], body["updates"], body["pid"])

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(send, batches))
    return [r for r in results if isinstance(r, Ack)], [r for r in results if isinstance(r, str)]


def problems(initial: dict, acks: list[Ack], final: dict, unacknowledged: int = 0) -> list[str]:
    """What is wrong with a training run that started from ``initial``: versions answered twice or
    missing, lost letters, a replay in version order that gives other weights.

    ``unacknowledged`` requests (connections cut by a killed worker) may or may not have been
    committed; with none, the run must replay exactly.
    """
    return check_perceptron(initial, acks, final, unacknowledged).sentences(("versions", "lost-updates", "replay"))
