"""A self-contained Thompson-sampling bandit, for tests: an Experiment with its own counts.

The app never uses it (its counts live in a shared Tally, its choices come from a ChoiceQueue);
tests use it as a one-process reference: tests/test_bandit_model.py, and tests/test_simulate.py,
which checks that the simulator's choices are the same and serves the bandit API from it.
Imported as ``from bandit_model import Bandit`` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import numpy as np

from voweler.models import MAX_ARMS, Arm, Experiment, Posterior, UnknownArm
from voweler.models.experiment import ARM_FIELDS



class Bandit:
    """A self-contained Thompson-sampling bandit: an Experiment with its own counts and generator.

    Parameters
    ----------
    arms
        An :class:`Experiment` (used as is), or a sequence whose items are each a name, a
        ``(name, prior_ctr, prior_impressions)`` tuple or a dict as for
        :meth:`Experiment.reset`. By default arms "A" and "B" with the uniform prior.
    seed
        Seed of the private generator: the same seed and the same records give the same
        choices.

    Examples
    --------
    Two arms whose true CTRs are 5% and 2%. After 2,000 impressions the bandit has shown the
    better one most of the time, and now shows it 99% of the time:

    >>> bandit = Bandit([("red", 0.03, 10), "blue"], seed=0)
    >>> truth = {"red": 0.05, "blue": 0.02}
    >>> clicks = np.random.default_rng(2).random(2000)
    >>> for u in clicks:
    ...     name, propensity = bandit.choose()
    ...     bandit.record(name, clicked=bool(u < truth[name]))
    >>> posterior = bandit.posterior()
    >>> posterior.impressions.tolist(), posterior.propensities().round(3).tolist()
    ([1750, 250], [0.989, 0.011])
    """

    def __init__(self, arms=None, seed: int = 0):
        if isinstance(arms, Experiment):
            self.experiment = arms
        else:
            self.experiment = Experiment(None if arms is None else [_arm_spec(item) for item in arms])
        self.impressions = np.zeros(MAX_ARMS, dtype=np.int64)
        self.clicks = np.zeros(MAX_ARMS, dtype=np.int64)
        self._rng = np.random.default_rng(seed)
        self._posterior: Posterior | None = None

    def posterior(self) -> Posterior:
        """The current posterior (cached until the next record or change of arms)."""
        if self._posterior is None:
            self._posterior = Posterior(self.experiment.arms, self.impressions, self.clicks)
        return self._posterior

    def choose(self) -> tuple[str, float]:
        """One Thompson choice from the current posterior: (arm name, its propensity)."""
        posterior = self.posterior()
        i = int(posterior.draw(self._rng, 1)[0])
        return posterior.arms[i].name, float(posterior.propensities()[i])

    def record(self, name: str, clicked: bool) -> None:
        """Count one impression of arm ``name``, and a click if ``clicked``."""
        arm = self.experiment.arm(name)
        if arm is None:
            raise UnknownArm(f"no arm named {name!r}")
        if not isinstance(clicked, (bool, np.bool_)):
            raise ValueError(f"clicked must be True or False; got {clicked!r}")
        self.impressions[arm.uid] += 1
        self.clicks[arm.uid] += bool(clicked)
        self._posterior = None

    def add_arm(self, name: str, prior_ctr=None, prior_impressions=None) -> Arm:
        """Add an arm; without a prior it starts level with the leader (see Experiment.add_arm)."""
        arm = self.experiment.add_arm(name, prior_ctr, prior_impressions, self.impressions, self.clicks)
        self._posterior = None
        return arm

    def remove_arm(self, name: str) -> Arm:
        """Remove an arm; its counts stay in its slot."""
        arm = self.experiment.remove_arm(name)
        self._posterior = None
        return arm


def _arm_spec(item) -> dict:
    if isinstance(item, str):
        return {"name": item}
    if isinstance(item, tuple):
        if not 1 <= len(item) <= len(ARM_FIELDS):
            raise ValueError(f"an arm tuple is (name, prior_ctr, prior_impressions); got {item!r}")
        return dict(zip(ARM_FIELDS, item))
    return item
