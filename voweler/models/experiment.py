"""Which arms an A/B test compares, and their priors: the part of the bandit that changes rarely.

An :class:`Experiment` is what the state layer stores for the bandit (``to_state`` and
``from_state``); the counts of impressions and clicks live beside it, in arrays indexed by arm
uid. Arm uids are slots 0 to ``MAX_ARMS - 1``, given out in order and never reused within a
test, so that events recorded before an arm was removed can still be told apart from a new
arm's. The checks of arm names and priors live here too, so that the web API and the
simulator refuse exactly what the model refuses, with the same messages.
"""

from __future__ import annotations

import itertools
import numbers
from dataclasses import dataclass

import numpy as np

from voweler.models import beta as _beta
from voweler.models.posterior import Posterior

MAX_ARMS = 64  # arm slots per test: uids 0..63
MAX_NAME_LENGTH = 64
MAX_PRIOR_IMPRESSIONS = 1e9
DEFAULT_PRIOR_CTR = 0.5
DEFAULT_PRIOR_IMPRESSIONS = 2.0  # with DEFAULT_PRIOR_CTR: Beta(1, 1), the uniform prior
NEW_ARM_IMPRESSIONS = 10.0  # the weight of a new arm's prior when none is given
DEFAULT_ARMS = ({"name": "A"}, {"name": "B"})  # what Experiment() tests
ARM_FIELDS = ("name", "prior_ctr", "prior_impressions")  # what describes an arm, as reset takes it


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
        unknown = sorted(set(spec) - set(ARM_FIELDS), key=str)
        if unknown:
            raise ValueError(f"{where}: unknown field {unknown[0]!r}; the fields are {', '.join(ARM_FIELDS)}")
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
