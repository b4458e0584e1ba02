"""Naive baseline (the original design, for comparison; loses updates by design): its state format.

The whole perceptron is one JSON document, NUL-terminated, at the start of a SharedArea::

    {"version": 12, "dim": 16, "seed": 0, "learning_rate": 0.1, "updates": 60, "mistakes": 9,
     "bias": -0.1, "weights": [0.31, ...], "history": [[0, 0.46], [5, 0.5], ...]}\0

No frame, no digest, no second slot: whatever a reader copies is what it decodes. JSON never
contains a NUL byte (control characters are escaped), so the first NUL is the end.
"""

from __future__ import annotations

import json

from voweler.models.perceptron import Perceptron


def dumps(version: int, model: Perceptron) -> bytes:
    """The bytes the baseline stores for ``model`` as ``version``, terminator included.

    >>> data = dumps(3, Perceptron(dim=2, seed=0))
    >>> data.startswith(b'{"version": 3, "dim": 2,') and data.endswith(b"}\\0")
    True
    """
    state = model.to_state()
    document = {"version": version, **state, "weights": state["weights"].tolist(), "history": state["history"].tolist()}
    return json.dumps(document).encode() + b"\0"


def loads(data: bytes) -> tuple[int, Perceptron]:
    """(version, model) from the start of an area; an empty area is a fresh model at version 0.

    >>> version, model = loads(dumps(3, Perceptron(dim=2, seed=0)) + b"stale bytes of a longer state")
    >>> version, model.dim
    (3, 2)
    >>> loads(bytes(16))[0]
    0
    """
    text = data.split(b"\0", 1)[0]
    if not text:
        return 0, Perceptron()
    state = json.loads(text)
    return state.pop("version"), Perceptron.from_state(state)
