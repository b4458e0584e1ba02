"""A Thompson-sampling bandit for A/B tests: which arm to show, and how sure we are.

Pure numpy: nothing here knows about Flask, uWSGI or shared memory. Each arm's click-through
rate (CTR) has a Beta posterior, ``Beta(alpha0 + clicks, beta0 + impressions - clicks)``, whose
prior comes from a prior CTR and a weight in impressions. Thompson sampling shows an arm with
the probability that it is the best one: draw one CTR from each posterior, show the largest.

The pieces, from what changes rarely to what changes on every request:

- :class:`Experiment`: which arms are tested and their priors. It changes when arms are added,
  removed or reset, and is what the state layer stores (``to_state``/``from_state``).
- counts: impressions and clicks per arm, arrays indexed by arm uid (kept by the caller).
- :class:`Posterior`: an Experiment's arms with counts. Summaries, win probabilities
  (the propensity of each arm) and vectorised Thompson draws.
- :class:`ChoiceQueue`: Thompson choices drawn ahead in batches, for a web worker's hot path.
- :class:`Bandit`: all of it in one object with its own counts, for simulations and examples.

Arm uids are slots 0 to ``MAX_ARMS - 1``, given out in order and never reused within a test:
the counts of a removed arm stay in its slot, so events recorded before it was removed can
still be told apart from a new arm's. A reset starts a new test (``test`` + 1) with uids from 0.
"""

from __future__ import annotations

import collections
import itertools
import math
import numbers
from dataclasses import dataclass

import numpy as np

from voweler.models import beta as _beta

MAX_ARMS = 64  # arm slots per test: uids 0..63
MAX_NAME_LENGTH = 64
MAX_PRIOR_IMPRESSIONS = 1e9
DEFAULT_PRIOR_CTR = 0.5
DEFAULT_PRIOR_IMPRESSIONS = 2.0  # with DEFAULT_PRIOR_CTR: Beta(1, 1), the uniform prior
NEW_ARM_IMPRESSIONS = 10.0  # the weight of a new arm's prior when none is given
DEFAULT_ARMS = ({"name": "A"}, {"name": "B"})  # what Experiment() tests
_ARM_FIELDS = ("name", "prior_ctr", "prior_impressions")


class ExperimentError(ValueError):
    """A change the experiment cannot make as it stands."""


class UnknownArm(ExperimentError):
    """No current arm has that name."""


class ArmConflict(ExperimentError):
    """The change conflicts with the experiment: a duplicate name, no free slot, the last arm."""


def check_arm_name(name) -> None:
    """Raise ValueError unless ``name`` can name an arm.

    A name is 1 to 64 printable characters, without leading or trailing whitespace. Names
    appear in URLs (``DELETE /api/bandit/arms/<name>``), so they cannot contain "/" or be
    "." or "..".

    >>> check_arm_name("green button")
    >>> check_arm_name("a/b")
    Traceback (most recent call last):
    ...
    ValueError: arm name must not contain '/' (names appear in URLs); got 'a/b'
    """
    if not isinstance(name, str):
        raise ValueError(f"arm name must be a string; got {type(name).__name__} {name!r}")
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise ValueError(f"arm name must be 1 to {MAX_NAME_LENGTH} characters; got {len(name)}")
    if not name.isprintable():
        raise ValueError(f"arm name must be printable (no tabs, newlines or control characters); got {name!r}")
    if name != name.strip():
        raise ValueError(f"arm name must not start or end with whitespace; got {name!r}")
    if "/" in name:
        raise ValueError(f"arm name must not contain '/' (names appear in URLs); got {name!r}")
    if name in (".", ".."):
        raise ValueError(f"arm name must not be '.' or '..' (names appear in URLs); got {name!r}")


def check_prior(prior_ctr, prior_impressions) -> None:
    """Raise ValueError unless (prior_ctr, prior_impressions) is a valid prior.

    ``prior_ctr`` is the CTR expected before any data, a number in (0, 1); ``prior_impressions``
    is how many impressions that belief is worth, a number in (0, 1e9]. The prior is
    ``Beta(prior_ctr * prior_impressions, (1 - prior_ctr) * prior_impressions)``.

    >>> check_prior(0.02, 100)
    >>> check_prior(1.5, 100)
    Traceback (most recent call last):
    ...
    ValueError: prior_ctr must be between 0 and 1 (exclusive); got 1.5
    """
    if not _is_real(prior_ctr) or not 0 < prior_ctr < 1:  # NaN fails the comparison too
        raise ValueError(f"prior_ctr must be between 0 and 1 (exclusive); got {_show(prior_ctr)}")
    if not _is_real(prior_impressions) or not 0 < prior_impressions <= MAX_PRIOR_IMPRESSIONS:
        raise ValueError(
            f"prior_impressions must be a number greater than 0 and at most {MAX_PRIOR_IMPRESSIONS:g}; "
            f"got {_show(prior_impressions)}"
        )
    alpha0 = float(prior_ctr) * float(prior_impressions)
    beta0 = (1.0 - float(prior_ctr)) * float(prior_impressions)
    if min(alpha0, beta0) < _beta.MIN_PARAMETER:
        raise ValueError(
            f"prior_ctr * prior_impressions and (1 - prior_ctr) * prior_impressions must be at least "
            f"{_beta.MIN_PARAMETER:g}; got {alpha0:g} and {beta0:g}: use a prior_ctr further from 0 and 1"
        )


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _show(value) -> str:
    return repr(value.item() if isinstance(value, np.generic) else value)


@dataclass(frozen=True)
class Arm:
    """One arm of a test: its slot, its name and its prior.

    >>> arm = Arm(uid=0, name="red", prior_ctr=0.02, prior_impressions=100.0)
    >>> arm.alpha0, arm.beta0
    (2.0, 98.0)
    """

    uid: int
    name: str
    prior_ctr: float
    prior_impressions: float

    @property
    def alpha0(self) -> float:
        """The prior's alpha: prior clicks."""
        return self.prior_ctr * self.prior_impressions

    @property
    def beta0(self) -> float:
        """The prior's beta: prior impressions without a click."""
        return (1.0 - self.prior_ctr) * self.prior_impressions


class Experiment:
    """Which arms are tested, and their priors.

    This is the part of the bandit that changes rarely (the counts live beside it, indexed by
    arm uid), and what the state layer stores.

    Parameters
    ----------
    arms
        The arms of the first test, as for :meth:`reset`: dicts with a ``"name"`` and optional
        ``"prior_ctr"`` and ``"prior_impressions"``. By default arms "A" and "B" with the
        uniform prior Beta(1, 1).

    Attributes
    ----------
    test : int
        Starts at 1; +1 on every reset.
    arms : list of Arm
        The current arms, in display order.
    next_uid : int
        The slot the next added arm gets; slots are not reused until the next reset.
    retired : list of Arm
        Arms removed during this test, so that old events can still be named.

    Examples
    --------
    >>> experiment = Experiment()
    >>> experiment.test, [arm.name for arm in experiment.arms]
    (1, ['A', 'B'])
    >>> experiment.add_arm("C", prior_ctr=0.05)
    Arm(uid=2, name='C', prior_ctr=0.05, prior_impressions=10.0)
    >>> experiment.remove_arm("A").uid, experiment.by_uid(0).name, experiment.arm("A")
    (0, 'A', None)
    >>> experiment.reset([{"name": "red", "prior_ctr": 0.02, "prior_impressions": 100}, {"name": "blue"}])
    >>> experiment.test, experiment.arms[0], experiment.retired
    (2, Arm(uid=0, name='red', prior_ctr=0.02, prior_impressions=100.0), [])
    """

    def __init__(self, arms: list[dict] | None = None):
        self.test = 0
        self.arms: list[Arm] = []
        self.next_uid = 0
        self.retired: list[Arm] = []
        self.reset(list(DEFAULT_ARMS) if arms is None else arms)

    # -- changes ----------------------------------------------------------------------------

    def add_arm(self, name: str, prior_ctr=None, prior_impressions=None, impressions=None, clicks=None) -> Arm:
        """Add an arm in the next free slot and return it.

        A new arm without a ``prior_ctr`` **starts level with the current leader**: its prior
        CTR is the highest posterior mean among the current arms (given their counts, arrays
        indexed by uid), or ``DEFAULT_PRIOR_CTR`` without counts. Without
        ``prior_impressions`` its prior **weighs NEW_ARM_IMPRESSIONS** (10): far less certain
        than a leader with thousands of impressions, so Thompson sampling shows it often until
        its own clicks decide. (Starting it at the uniform prior instead would make a CTR of
        50% its expected value, and the bandit would spend hundreds of impressions learning
        that it is not.)

        Raises ArmConflict if an arm has that name or all ``MAX_ARMS`` slots of this test have
        been used; ValueError for an invalid name or prior.

        >>> experiment = Experiment()
        >>> impressions, clicks = np.zeros(MAX_ARMS, int), np.zeros(MAX_ARMS, int)
        >>> impressions[:2], clicks[:2] = 5000, [148, 98]  # A leads with a mean of 0.03
        >>> arm = experiment.add_arm("C", impressions=impressions, clicks=clicks)
        >>> arm.uid, round(arm.prior_ctr, 6), arm.prior_impressions
        (2, 0.029788, 10.0)
        """
        check_arm_name(name)
        if self.arm(name) is not None:
            raise ArmConflict(f"an arm named {name!r} already exists")
        if self.next_uid >= MAX_ARMS:
            raise ArmConflict(
                f"all {MAX_ARMS} arm slots of test {self.test} have been used (removed arms keep theirs); "
                "reset the experiment to start a new test"
            )
        if (impressions is None) != (clicks is None):
            raise ValueError("give both impressions and clicks (the current counts), or neither")
        if prior_ctr is None:
            if impressions is None or not self.arms:
                prior_ctr = DEFAULT_PRIOR_CTR
            else:
                # Kept off 0 and 1 so that the prior stays valid whatever the counts.
                prior_ctr = min(max(Posterior(self.arms, impressions, clicks).leader_mean(), 1e-12), 1 - 1e-12)
        if prior_impressions is None:
            prior_impressions = NEW_ARM_IMPRESSIONS
        check_prior(prior_ctr, prior_impressions)
        arm = Arm(self.next_uid, name, float(prior_ctr), float(prior_impressions))
        self.arms.append(arm)
        self.next_uid += 1
        return arm

    def remove_arm(self, name: str) -> Arm:
        """Remove the arm named ``name`` and return it; its slot stays retired until a reset.

        Raises UnknownArm if no current arm has that name, ArmConflict if it is the last one.
        """
        arm = self.arm(name)
        if arm is None:
            raise UnknownArm(f"no arm named {name!r}; the arms are {', '.join(repr(a.name) for a in self.arms)}")
        if len(self.arms) == 1:
            raise ArmConflict(f"cannot remove {name!r}: it is the last arm (an experiment needs at least one)")
        self.arms.remove(arm)
        self.retired.append(arm)
        return arm

    def reset(self, arms: list[dict]) -> None:
        """Start a new test with these arms: ``test`` + 1, uids from 0, no retired arms.

        ``arms`` is a list of 1 to ``MAX_ARMS`` dicts, each with a ``"name"`` and optional
        ``"prior_ctr"`` and ``"prior_impressions"`` (left out or None: ``DEFAULT_PRIOR_CTR``
        and ``DEFAULT_PRIOR_IMPRESSIONS``, the uniform prior). Everything is checked first:
        on any error (ValueError, naming the arm at fault) nothing changes.

        >>> experiment = Experiment()
        >>> experiment.reset([{"name": "red"}, {"name": "red"}])
        Traceback (most recent call last):
        ...
        ValueError: arms[1]: the name 'red' is already used by arms[0]; names must be unique
        >>> experiment.test, [arm.name for arm in experiment.arms]
        (1, ['A', 'B'])
        """
        new = _check_arms(arms)
        self.test += 1
        self.arms = new
        self.next_uid = len(new)
        self.retired = []

    # -- reading ----------------------------------------------------------------------------

    def arm(self, name: str) -> Arm | None:
        """The current arm named ``name``, or None."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        return None

    def by_uid(self, uid: int) -> Arm | None:
        """The arm in slot ``uid`` during this test, current or retired, or None."""
        for arm in self.arms + self.retired:
            if arm.uid == uid:
                return arm
        return None

    def __eq__(self, other) -> bool:
        if not isinstance(other, Experiment):
            return NotImplemented
        mine = (self.test, self.next_uid, self.arms, self.retired)
        return mine == (other.test, other.next_uid, other.arms, other.retired)

    def __repr__(self) -> str:
        names = ", ".join(arm.name for arm in self.arms)
        return f"<Experiment test {self.test}: {names} (next uid {self.next_uid}, {len(self.retired)} retired)>"

    # -- state ------------------------------------------------------------------------------

    def to_state(self) -> dict:
        """The experiment as plain values and arrays (new objects, sharing nothing with it).

        The keys are flat and prefixed (``arm_*``, ``retired_*``) so that a caller can store
        them in one state beside its own (counts, say): :meth:`from_state` ignores other keys.
        Floats travel as float64 arrays, so the round trip is exact. Names travel as one
        array of their UTF-8 bytes and one of their sizes: as JSON strings, characters outside
        ASCII would take up to 12 bytes each, and 64 names of 64 such characters would not fit
        a 32 KiB SharedArea.
        """
        state = {"test": self.test, "next_uid": self.next_uid}
        for prefix, arms in (("arm", self.arms), ("retired", self.retired)):
            encoded = [arm.name.encode("utf-8") for arm in arms]
            state[f"{prefix}_name_bytes"] = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
            state[f"{prefix}_name_sizes"] = np.array([len(name) for name in encoded], dtype=np.int32)
            state[f"{prefix}_uids"] = np.array([arm.uid for arm in arms], dtype=np.int64)
            state[f"{prefix}_prior_ctr"] = np.array([arm.prior_ctr for arm in arms], dtype=np.float64)
            state[f"{prefix}_prior_impressions"] = np.array([arm.prior_impressions for arm in arms], dtype=np.float64)
        return state

    @classmethod
    def from_state(cls, state: dict) -> "Experiment":
        """Rebuild an experiment from :meth:`to_state`'s output.

        >>> experiment = Experiment([{"name": "red", "prior_ctr": 0.02, "prior_impressions": 100}, {"name": "blue"}])
        >>> _ = experiment.remove_arm("red")
        >>> Experiment.from_state(experiment.to_state()) == experiment
        True
        """
        experiment = cls.__new__(cls)  # no default arms to throw away: every field is set below
        experiment.test = int(state["test"])
        experiment.next_uid = int(state["next_uid"])
        experiment.arms = _arms_from_state(state, "arm")
        experiment.retired = _arms_from_state(state, "retired")
        uids = [arm.uid for arm in experiment.arms + experiment.retired]
        consistent = experiment.arms and len(set(uids)) == len(uids)
        if not consistent or not 0 <= min(uids) <= max(uids) < experiment.next_uid <= MAX_ARMS:
            raise ValueError(f"inconsistent experiment state: uids {uids}, next_uid {experiment.next_uid}")
        return experiment


def _arms_from_state(state: dict, prefix: str) -> list[Arm]:
    data = np.asarray(state[f"{prefix}_name_bytes"], dtype=np.uint8).tobytes()
    sizes = np.asarray(state[f"{prefix}_name_sizes"]).tolist()
    if sum(sizes) != len(data) or min(sizes, default=1) < 1:
        raise ValueError(f"inconsistent experiment state: {prefix} name sizes do not add up to their bytes")
    ends = itertools.accumulate(sizes)
    names = [data[end - size : end].decode("utf-8") for size, end in zip(sizes, ends)]
    columns = [
        np.asarray(state[f"{prefix}_uids"]).tolist(),
        np.asarray(state[f"{prefix}_prior_ctr"], dtype=np.float64).tolist(),
        np.asarray(state[f"{prefix}_prior_impressions"], dtype=np.float64).tolist(),
    ]
    if any(len(column) != len(names) for column in columns):
        raise ValueError(f"inconsistent experiment state: {prefix} columns have different lengths")
    return [Arm(int(uid), name, ctr, weight) for name, uid, ctr, weight in zip(names, *columns)]


def _check_arms(arms) -> list[Arm]:
    """Validate a reset's arm list completely; return the new arms (uids from 0)."""
    if not isinstance(arms, (list, tuple)):
        raise ValueError(
            'arms must be a list of arms like {"name": "red", "prior_ctr": 0.02, "prior_impressions": 100}'
        )
    if not 1 <= len(arms) <= MAX_ARMS:
        raise ValueError(f"arms must list 1 to {MAX_ARMS} arms; got {len(arms)}")
    result, seen = [], {}
    for i, spec in enumerate(arms):
        where = f"arms[{i}]"
        if not isinstance(spec, dict):
            raise ValueError(f'{where}: each arm must be an object like {{"name": "red"}}; got {spec!r}')
        unknown = sorted(set(spec) - set(_ARM_FIELDS), key=str)
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]!r}; the fields are {', '.join(_ARM_FIELDS)}")
        if "name" not in spec:
            raise ValueError(f"{where}: every arm needs a name")
        name = spec["name"]
        try:
            check_arm_name(name)
            ctr = spec.get("prior_ctr")
            weight = spec.get("prior_impressions")
            ctr = DEFAULT_PRIOR_CTR if ctr is None else ctr
            weight = DEFAULT_PRIOR_IMPRESSIONS if weight is None else weight
            check_prior(ctr, weight)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if name in seen:
            raise ValueError(f"{where}: the name {name!r} is already used by arms[{seen[name]}]; names must be unique")
        seen[name] = i
        result.append(Arm(i, name, float(ctr), float(weight)))
    return result


# -- posteriors and draws -----------------------------------------------------------------------


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


# -- a whole bandit, for simulations and examples -----------------------------------------------


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
        if not 1 <= len(item) <= len(_ARM_FIELDS):
            raise ValueError(f"an arm tuple is (name, prior_ctr, prior_impressions); got {item!r}")
        return dict(zip(_ARM_FIELDS, item))
    return item
