"""Beta posteriors of an experiment's arms, and Thompson draws from them.

A :class:`Posterior` is an experiment's arms together with their counts: each arm's
click-through rate has the posterior ``Beta(alpha0 + clicks, beta0 + impressions - clicks)``.
It gives the summaries shown to people (means and credible intervals), each arm's win
probability (the propensity with which Thompson sampling shows it) and vectorised Thompson
draws. It takes the arms duck-typed (anything with ``uid``, ``alpha0`` and ``beta0``, normally
:class:`~voweler.models.experiment.Arm`): experiment.py imports this module (a new arm starts
level with the leader's posterior mean), never the reverse.
"""

from __future__ import annotations

import numpy as np

from voweler.models import beta as _beta


def thompson_choices(rng: np.random.Generator, alpha, beta) -> np.ndarray:
    """Thompson choices: for each row of ``alpha``/``beta`` (shape (..., arms)), the index of the
    arm whose Beta(alpha, beta) draw is the largest.

    Draws are made in logit space, ``log G_a - log G_b`` with ``G`` Gamma variates, and for a
    shape below 1 ``log G_a = log G_(a+1) + log(U) / a``: a Beta draw with a small ``a`` that
    would round to 0.0 (and so tie with others) keeps its exact order. The random stream used
    depends only on the shapes, so a (1, arms) call consumes what one :meth:`Posterior.draw`
    of one choice does.

    >>> rng = np.random.default_rng(0)
    >>> choices = thompson_choices(rng, np.array([[1.0, 50.0]] * 1000), np.array([[99.0, 50.0]] * 1000))
    >>> choices.shape, int(choices.sum())  # Beta(50, 50) beats Beta(1, 99) every time
    ((1000,), 1000)
    """
    shapes = np.stack(np.broadcast_arrays(np.asarray(alpha, dtype=np.float64), np.asarray(beta, dtype=np.float64)))
    small = shapes < 1.0
    logs = np.log(rng.standard_gamma(np.where(small, shapes + 1.0, shapes)))
    if small.any():
        uniform = 1.0 - rng.random(shapes.shape)  # in (0, 1]: its log is finite
        logs = np.where(small, logs + np.log(uniform) / shapes, logs)
    return np.argmax(logs[0] - logs[1], axis=-1)


class Posterior:
    """An experiment's arms with their counts: Beta posteriors, summaries, propensities, draws.

    Parameters
    ----------
    arms
        The arms (an Experiment's ``arms``), in display order.
    impressions, clicks
        Counts indexed by arm uid (length at least the largest uid + 1; normally MAX_ARMS).

    Attributes
    ----------
    arms : list of Arm
    uids : ndarray of int
        The arms' uids, aligned with ``arms``.
    impressions, clicks : ndarray of int64
        The arms' counts, aligned with ``arms``.
    alpha, beta : ndarray of float
        ``alpha0 + clicks`` and ``beta0 + impressions - clicks``, aligned with ``arms``.

    Examples
    --------
    >>> from voweler.models import MAX_ARMS, Experiment
    >>> arms = Experiment().arms  # A and B, uniform priors
    >>> impressions, clicks = np.zeros(MAX_ARMS, int), np.zeros(MAX_ARMS, int)
    >>> impressions[:2], clicks[:2] = [1000, 1000], [30, 20]
    >>> posterior = Posterior(arms, impressions, clicks)
    >>> posterior.alpha.tolist(), posterior.beta.tolist()
    ([31.0, 21.0], [971.0, 981.0])
    >>> means, lows, highs = posterior.summaries()
    >>> means.round(4).tolist(), lows.round(4).tolist(), highs.round(4).tolist()
    ([0.0309, 0.021], [0.0211, 0.013], [0.0425, 0.0307])
    >>> posterior.propensities().round(3).tolist()
    [0.922, 0.078]
    >>> choices = posterior.draw(np.random.default_rng(1), 100000)  # A about 92% of the time
    >>> float((choices == 0).mean())
    0.92291
    """

    def __init__(self, arms, impressions, clicks):
        self.arms = list(arms)
        if not self.arms:
            raise ValueError("a posterior needs at least one arm")
        self.uids = np.array([arm.uid for arm in self.arms], dtype=np.intp)
        impressions, clicks = np.asarray(impressions), np.asarray(clicks)
        for label, counts in (("impressions", impressions), ("clicks", clicks)):
            if counts.ndim != 1 or counts.size <= self.uids.max():
                raise ValueError(
                    f"{label} must be a 1-D array indexed by arm uid, of length at least {self.uids.max() + 1}; "
                    f"got shape {counts.shape}"
                )
        self.impressions = impressions[self.uids].astype(np.int64)
        self.clicks = clicks[self.uids].astype(np.int64)
        if (self.clicks < 0).any() or (self.clicks > self.impressions).any():
            raise ValueError("counts must have 0 <= clicks <= impressions for every arm")
        alpha0 = np.array([arm.alpha0 for arm in self.arms])
        beta0 = np.array([arm.beta0 for arm in self.arms])
        self.alpha = alpha0 + self.clicks
        self.beta = beta0 + (self.impressions - self.clicks)
        self._propensities: np.ndarray | None = None
        self._quadrature: np.ndarray | None = None

    def means(self) -> np.ndarray:
        """Posterior mean CTR of each arm, ``alpha / (alpha + beta)``."""
        return self.alpha / (self.alpha + self.beta)

    def leader_mean(self) -> float:
        """The highest posterior mean among the arms."""
        return float(self.means().max())

    def summaries(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(means, lows, highs): each arm's posterior mean and central credible interval."""
        return _beta.summaries(self.alpha, self.beta, level, nodes=self._nodes())

    def _nodes(self) -> np.ndarray:
        """The arms' quadrature nodes, shared by :meth:`summaries` and :meth:`propensities`."""
        if self._quadrature is None:
            self._quadrature = _beta.nodes(self.alpha, self.beta)
        return self._quadrature

    def propensities(self) -> np.ndarray:
        """P(arm i's draw is the largest): the probability Thompson sampling shows arm i.

        Computed once (a fraction of a millisecond for a few arms, a few for 64) and cached;
        the array is read-only.
        """
        if self._propensities is None:
            p = _beta.win_probabilities(self.alpha, self.beta, nodes=self._nodes() if len(self.arms) > 1 else None)
            p.flags.writeable = False
            self._propensities = p
        return self._propensities

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent Thompson choices, as indices into ``arms``: one Beta draw per arm
        each, the largest wins."""
        k = len(self.arms)
        return thompson_choices(rng, np.broadcast_to(self.alpha, (n, k)), np.broadcast_to(self.beta, (n, k)))
