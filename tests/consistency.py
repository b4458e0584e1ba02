"""Drive a deployment with concurrent training, and list every way its answers are inconsistent.

The checks return problems as sentences rather than asserting, so that one test can show they
pass against voweler and another that they fail against a deliberately unsafe variant.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import requests

from voweler.models import Perceptron
from voweler.models.perceptron import ALPHABET


@dataclass(frozen=True)
class Ack:
    """An acknowledged training request: what was sent, and the version that answered it."""

    letters: str
    version: int
    updates: int
    pid: int


def random_batches(count: int, seed: int = 0, longest: int = 6) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(ALPHABET, k=rng.randint(1, longest))) for _ in range(count)]


def reset(url: str, **settings) -> dict:
    answer = requests.post(url + "/api/perceptron/reset", json=settings, timeout=30)
    answer.raise_for_status()
    return answer.json()


def state(url: str) -> dict:
    answer = requests.get(url + "/api/perceptron", timeout=30)
    answer.raise_for_status()
    return answer.json()


def train_concurrently(url: str, batches: list[str], clients: int = 16) -> tuple[list[Ack], list[str]]:
    """Send each batch as one train request from ``clients`` threads; return acks and failures."""

    def send(letters: str):
        try:
            answer = requests.post(url + "/api/perceptron/train", json={"letters": letters}, timeout=60)
        except requests.RequestException as error:
            return f"{letters!r}: {type(error).__name__}"
        if answer.status_code != 200:
            return f"{letters!r}: HTTP {answer.status_code} {answer.text[:200]}"
        body = answer.json()
        return Ack(letters, body["version"], body["updates"], body["pid"])

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(send, batches))
    return [r for r in results if isinstance(r, Ack)], [r for r in results if isinstance(r, str)]


def every_worker(url: str, processes: int, attempts: int = 2000, path: str = "/api/perceptron") -> dict[int, dict]:
    """The document at ``path`` as each worker reports it: ask until every worker has answered."""
    seen: dict[int, dict] = {}
    for _ in range(attempts):
        answer = requests.get(url + path, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        seen[body["pid"]] = body
        if len(seen) == processes:
            break
    return seen


def problems(initial: dict, acks: list[Ack], final: dict, unacknowledged: int = 0) -> list[str]:
    """What is wrong with a training run that started from ``initial`` (a fresh reset).

    ``unacknowledged`` requests (connections cut by a killed worker) may or may not have been
    committed; with none, the run must replay exactly.
    """
    found = []
    versions = [ack.version for ack in acks]
    duplicates = len(versions) - len(set(versions))
    if duplicates:
        found.append(f"{duplicates} versions were answered twice: updates overwrote each other")
    expected = set(range(initial["version"] + 1, final["version"] + 1))
    missing = expected - set(versions)
    stray = set(versions) - expected
    if stray:
        found.append(f"{len(stray)} acknowledged versions are not in the final history")
    if len(missing) > unacknowledged:
        found.append(f"{len(missing)} versions were never answered, but only {unacknowledged} requests failed")
    sent = sum(len(ack.letters) for ack in acks)
    if final["updates"] < initial["updates"] + sent:
        found.append(f"lost updates: {sent} letters acknowledged, but the model counts {final['updates'] - initial['updates']}")
    if not missing and final["updates"] > initial["updates"] + sent:
        found.append(f"{final['updates'] - initial['updates'] - sent} letters counted that nobody sent")
    if not missing and not duplicates:
        replayed = Perceptron(initial["dim"], initial["seed"], initial["learning_rate"])
        for ack in sorted(acks, key=lambda ack: ack.version):
            replayed.learn_many(ack.letters)
        if replayed.weights.tobytes() != np.array(final["weights"]).tobytes() or replayed.bias != final["bias"]:
            found.append("replaying the acknowledged requests in version order gives other weights")
    return found


def disagreements(states: dict[int, dict], processes: int) -> list[str]:
    found = []
    if len(states) != processes:
        found.append(f"only {len(states)} of {processes} workers answered")
    distinct = {(s["version"], tuple(s["weights"]), s["bias"]) for s in states.values()}
    if len(distinct) > 1:
        found.append(f"workers disagree: versions {sorted(s['version'] for s in states.values())}")
    return found
