"""Thompson choices drawn ahead in batches, for a web worker's hot path.

Drawing one Thompson choice at a time costs numpy's per-call overhead on every request; a
:class:`ChoiceQueue` draws a batch from one :class:`~voweler.models.posterior.Posterior` and
hands its choices out as plain Python values until the batch is too old or used up.
"""

from __future__ import annotations

import collections
import math

import numpy as np

from voweler.models.posterior import Posterior


class ChoiceQueue:
    """Thompson choices drawn ahead in batches from one posterior, sized from observed traffic.

    A web worker's hot path: :meth:`pop` is a list pop of plain Python values, no numpy. The
    caller keeps the queue fresh::

        if queue.stale(now):
            queue.refill(Posterior(experiment.arms, impressions, clicks), now)
        uid, propensity = queue.pop()

    Used that way, **every choice is an exact Thompson draw** (one Beta draw per arm, the
    largest wins) **from a posterior at most max_age seconds old**, and the propensity given
    with it is exactly that posterior's win probability for the arm: the true probability with
    which the choice was made, as inverse-propensity weighting needs. (Win probabilities are
    computed to within 1e-6. An arm whose chance is below about 1e-8 is given 0; should a draw
    pick it all the same, less than once in 10^8 choices, its propensity is 0.0, so code that
    divides by propensities must allow for that.)

    A refill throws away what is left of the old batch (it came from an older posterior). It
    sizes the new batch as ``2 ×`` the most choices consumed between two refills, over the last
    ``history`` refills, ``+ reserve``: enough to last ``max_age`` at twice the recent traffic,
    so the queue rarely runs dry between refills, and few draws are wasted when traffic is low.

    Not thread-safe: give each thread its own queue (or hold a lock around it).

    Parameters
    ----------
    rng
        The generator the draws come from (each worker should seed its own differently).
    reserve
        Choices added to every batch beyond the traffic estimate.
    max_age
        Seconds after a refill that the queue turns stale.
    history
        How many refills' consumptions the batch size looks back on.

    Examples
    --------
    >>> from voweler.models import MAX_ARMS, Experiment
    >>> impressions, clicks = np.zeros(MAX_ARMS, int), np.zeros(MAX_ARMS, int)
    >>> posterior = Posterior(Experiment().arms, impressions, clicks)
    >>> queue = ChoiceQueue(np.random.default_rng(0), reserve=4)
    >>> queue.stale(now=0.0)
    True
    >>> queue.refill(posterior, now=0.0)
    >>> len(queue), queue.stale(now=0.1), queue.stale(now=0.3)
    (4, False, True)
    >>> uid, propensity = queue.pop()
    >>> uid in (0, 1), propensity
    (True, 0.5)
    >>> _ = queue.pop(), queue.pop()
    >>> queue.refill(posterior, now=0.3)  # 3 were consumed: 2 x 3 + 4
    >>> len(queue)
    10
    """

    def __init__(self, rng: np.random.Generator, reserve: int = 16, max_age: float = 0.2, history: int = 8):
        if reserve < 1 or max_age <= 0 or history < 1:
            raise ValueError(f"need reserve >= 1, max_age > 0 and history >= 1; got {reserve}, {max_age}, {history}")
        self.rng = rng
        self.reserve, self.max_age = int(reserve), float(max_age)
        self.consumed: collections.deque[int] = collections.deque(maxlen=int(history))
        self.drawn_at = -math.inf  # when the current batch was drawn
        self.batch_size = 0  # how many choices it had
        self._choices: list[tuple[int, float]] = []  # in reverse, so that pop() takes the next

    def __len__(self) -> int:
        return len(self._choices)

    def stale(self, now: float) -> bool:
        """True if the queue is empty or its choices were drawn more than max_age ago."""
        return not self._choices or now - self.drawn_at > self.max_age

    def refill(self, posterior: Posterior, now: float) -> None:
        """Replace the queue with a fresh batch of Thompson choices from ``posterior``."""
        if self.batch_size:
            self.consumed.append(self.batch_size - len(self._choices))
        size = 2 * max(self.consumed, default=0) + self.reserve
        picks = posterior.draw(self.rng, size)
        uids = posterior.uids[picks].tolist()
        propensities = posterior.propensities()[picks].tolist()
        self._choices = list(zip(uids, propensities))[::-1]
        self.batch_size = size
        self.drawn_at = now

    def pop(self) -> tuple[int, float]:
        """The next choice: (arm uid, its propensity). IndexError when empty: refill first."""
        try:
            return self._choices.pop()
        except IndexError:
            raise IndexError("the choice queue is empty: refill it") from None
