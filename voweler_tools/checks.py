"""Consistency checks for voweler's shared models: what a run's answers must satisfy.

The one home of these checks: ``bench/consistency.py`` runs them on its mixed load with faults,
and ``tests/consistency.py`` on the tests' training runs. The outcomes of requests they reason
about (answered, refused, cut, timed out) are :mod:`voweler_tools.client`'s. Each check returns problems as
sentences rather than asserting, so that a run can show they pass against voweler and fail
against a deliberately unsafe variant.

What a client can know, and so what is checked:

* An **acknowledged** write (HTTP 200) was committed exactly once, with the ``version`` it was
  answered.
* An **unacknowledged** write (connection cut by a killed worker, a timeout, a 503, a 5xx) may
  or may not have been committed. A connection refused before the request was sent was not.
  If it was committed, its version lies in its *window*: above every version answered to any
  client before it was sent (``lowest``), and at most the version any request sent after it
  failed saw (``highest``).
* So the versions from the initial to the final state are the acknowledged ones, each once,
  plus *gaps*; every gap must be explained by a distinct unacknowledged write whose window holds
  it. For the perceptron the explanation must also replay: the letters of the unacknowledged
  request chosen for each gap, learned in version order with every acknowledged request, give
  bit-identical weights at every acknowledged version, at every read, and at the end.
* Every read answers a committed state whose version is at least any version answered before
  the read was sent (reads are linearizable), and that state is the one the replay gives.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from voweler.models import Perceptron
from voweler_tools.client import Client

# What a document must hold (more fields are allowed: the API may grow).
PERCEPTRON_KEYS = {
    "version": int, "dim": int, "seed": int, "learning_rate": (int, float), "updates": int, "mistakes": int,
    "accuracy": (int, float), "lda_accuracy": (int, float), "bias": (int, float), "weights": list, "letters": list,
    "projections": dict, "history": list, "optimum": (dict, type(None)), "pid": int,
}  # fmt: skip
BANDIT_KEYS = {
    "version": int, "test": int, "impressions": int, "clicks": int, "recent_serves": int, "ticket_ttl": int,
    "arms": list, "pid": int,
}  # fmt: skip
ARM_KEYS = {
    "name": str, "slot": int, "prior": dict, "impressions": int, "clicks": int, "alpha": (int, float),
    "beta": (int, float), "mean": (int, float), "interval": list, "propensity": (int, float), "share": (int, float),
}  # fmt: skip
SERVE_KEYS = {"arm": str, "ticket": str, "propensity": (int, float), "version": int, "pid": int}
REWARD_KEYS = {"arm": (str, type(None)), "clicked": bool, "version": int, "pid": int}
ERROR_KEYS = {"error": str, "status": int, "message": str, "pid": int}

REPLAY_BUDGET = 200_000  # learn_many calls spent searching which unacknowledged request fills a gap


# -- records of a run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelState:
    """What identifies a perceptron state: its weights (as bytes), bias and counters."""

    weights: bytes
    bias: float
    updates: int
    mistakes: int

    @classmethod
    def of_document(cls, doc: dict) -> "ModelState":
        return cls(
            np.asarray(doc["weights"], dtype=np.float64).tobytes(), float(doc["bias"]), int(doc["updates"]), int(doc["mistakes"])
        )

    @classmethod
    def of_model(cls, model: Perceptron) -> "ModelState":
        return cls(model.weights.tobytes(), float(model.bias), int(model.updates), int(model.mistakes))


@dataclass(frozen=True)
class Train:
    """An acknowledged training request: what was sent, and the state that answered it."""

    letters: str
    version: int
    updates: int
    pid: int = 0
    state: ModelState | None = None  # None when the caller kept only the counters

    def matches(self, state: ModelState) -> bool:
        return state.updates == self.updates and (self.state is None or self.state == state)


@dataclass(frozen=True)
class Unacked:
    """A training request that was sent but not acknowledged: it may have been committed, once.

    If it was, its version is from ``lowest`` to ``highest`` (inclusive; ``math.inf``: no bound).
    """

    letters: str
    lowest: int = 0
    highest: float = math.inf


@dataclass(frozen=True)
class PerceptronRead:
    """A GET /api/perceptron answer: the version and state it showed, and the highest version
    answered to anyone before it was sent (``floor``)."""

    version: int
    floor: int
    state: ModelState


@dataclass(frozen=True)
class Serve:
    """An acknowledged serve."""

    arm: str
    version: int


@dataclass(frozen=True)
class Redeemed:
    """A ticket redeemed, once: by an acknowledged reward (``version``), or by an unacknowledged
    one that a later try of the same ticket found already redeemed (``version`` None; it then
    committed somewhere from ``lowest`` to ``highest``)."""

    arm: str  # the arm the ticket was served
    clicked: bool
    version: int | None = None
    lowest: int = 0
    highest: float = math.inf
    answered_arm: str | None = None  # the arm the reward's answer named, if it was answered


@dataclass(frozen=True)
class Window:
    """An unacknowledged bandit write that may have been committed, from ``lowest`` to ``highest``."""

    lowest: int
    highest: float = math.inf


@dataclass(frozen=True)
class BanditRead:
    """A GET /api/bandit answer: version, floor, and each arm's (impressions, clicks)."""

    version: int
    floor: int
    arms: dict


# -- findings -----------------------------------------------------------------------------------


@dataclass
class Findings:
    """Problems found, by check name, and the figures each check measured."""

    problems: dict = field(default_factory=lambda: defaultdict(list))
    numbers: dict = field(default_factory=lambda: defaultdict(dict))

    def fail(self, check: str, sentence: str) -> None:
        self.problems[check].append(sentence)

    def note(self, check: str, **figures) -> None:
        self.numbers[check].update(figures)

    def sentences(self, checks: Iterable[str] | None = None) -> list[str]:
        names = self.problems if checks is None else checks
        return [sentence for name in names for sentence in self.problems.get(name, [])]


# -- answers ------------------------------------------------------------------------------------


def shape_problems(body, keys: dict, what: str) -> list[str]:
    """What is wrong with the shape of a JSON answer: a missing key or a value of the wrong type."""
    if not isinstance(body, dict):
        return [f"{what} is not a JSON object: {str(body)[:120]!r}"]
    found = []
    for key, kind in keys.items():
        if key not in body:
            found.append(f"{what} has no {key!r}")
        elif isinstance(body[key], bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            found.append(f"{what}: {key} is a boolean")
        elif not isinstance(body[key], kind):
            found.append(f"{what}: {key} is {type(body[key]).__name__}")
    return found


def perceptron_document_problems(body) -> list[str]:
    found = shape_problems(body, PERCEPTRON_KEYS, "perceptron document")
    if found:
        return found
    if len(body["weights"]) != body["dim"] or not all(
        isinstance(w, (int, float)) and not isinstance(w, bool) for w in body["weights"]
    ):
        found.append(f"perceptron document: {len(body['weights'])} weights for dim {body['dim']}")
    if len(body["letters"]) != 26:
        found.append(f"perceptron document: {len(body['letters'])} letters")
    return found


def bandit_document_problems(body) -> list[str]:
    found = shape_problems(body, BANDIT_KEYS, "bandit document")
    if found:
        return found
    for arm in body["arms"]:
        found += shape_problems(arm, ARM_KEYS, "bandit arm")
    if not found:
        if body["impressions"] != sum(arm["impressions"] for arm in body["arms"]):
            found.append(f"bandit document: impressions {body['impressions']} is not the sum over the arms")
        if body["clicks"] != sum(arm["clicks"] for arm in body["arms"]):
            found.append(f"bandit document: clicks {body['clicks']} is not the sum over the arms")
    return found


def error_problems(body, status: int) -> list[str]:
    """What is wrong with an error answer: the one error shape, with its own status."""
    found = shape_problems(body, ERROR_KEYS, f"HTTP {status} error body")
    if not found and body["status"] != status:
        found.append(f"HTTP {status} error body says status {body['status']}")
    return found


# -- the perceptron -----------------------------------------------------------------------------


def _version_gaps(
    f: Findings, model: str, acknowledged: Sequence[int], v0: int, vf: int, why: str = ""
) -> tuple[list[int], bool]:
    """Fail versions answered twice or outside the run (v0, vf]. Returns the versions nobody was
    answered, and whether the acknowledged versions can be one history."""
    seen = Counter(acknowledged)
    duplicates = sum(n - 1 for n in seen.values())
    if duplicates:
        f.fail("versions", f"{model}: {duplicates:,} versions were answered twice{why}")
    stray = sorted(v for v in seen if not v0 < v <= vf)
    if stray:
        f.fail(
            "versions",
            f"{model}: {len(stray)} acknowledged versions are not in the final history (first {stray[0]}; history {v0 + 1}..{vf})",
        )
    return [v for v in range(v0 + 1, vf + 1) if v not in seen], not duplicates and not stray


def check_perceptron(
    initial: dict,
    acks: Sequence[Train],
    final: dict,
    unacknowledged: int | Sequence[Unacked] = 0,
    reads: Sequence[PerceptronRead] = (),
    findings: Findings | None = None,
) -> Findings:
    """Check a perceptron run that started at ``initial`` and ended at ``final`` (documents).

    Checks ``versions`` (each acknowledged once, every gap explained), ``lost-updates`` (every
    acknowledged letter counted), ``replay`` (bit-identical weights) and ``reads``.
    ``unacknowledged``: the requests that failed, or only how many (then a run with gaps can be
    replayed only up to its first gap, and the final count only bounded below).
    """
    f = findings if findings is not None else Findings()
    known = not isinstance(unacknowledged, int)
    maybe = list(unacknowledged) if known else []
    failed = len(maybe) if known else unacknowledged
    v0, vf = initial["version"], final["version"]

    by_version: dict[int, Train] = {}
    for ack in acks:
        by_version.setdefault(ack.version, ack)
    gaps, one_history = _version_gaps(f, "perceptron", [ack.version for ack in acks], v0, vf, ": updates overwrote each other")
    if len(gaps) > failed:
        f.fail("versions", f"perceptron: {len(gaps)} versions were never answered, but only {failed} requests failed")
    if known:
        unexplained = [g for g in gaps if not any(u.lowest <= g <= u.highest for u in maybe)]
        if unexplained:
            f.fail(
                "versions",
                f"perceptron: {len(unexplained)} versions were never answered and no unacknowledged request was in flight "
                f"when they were committed (first {unexplained[0]})",
            )
    f.note(
        "versions",
        perceptron_acknowledged=len(acks),
        perceptron_versions=vf - v0,
        perceptron_gaps=len(gaps),
        perceptron_unacknowledged=failed,
    )

    sent = sum(len(ack.letters) for ack in acks)
    counted = final["updates"] - initial["updates"]
    f.note("lost-updates", perceptron_letters_acknowledged=sent, perceptron_letters_counted=counted)
    if counted < sent:
        f.fail("lost-updates", f"perceptron: lost updates: {sent:,} letters acknowledged, but the model counts {counted:,}")
    if not gaps and counted > sent:
        f.fail("lost-updates", f"perceptron: {counted - sent} letters counted that nobody sent")
    elif known and counted > sent + sum(len(u.letters) for u in maybe):
        f.fail(
            "lost-updates",
            f"perceptron: {counted - sent} letters counted beyond the acknowledged ones, more than every failed request carried",
        )

    if not one_history:
        f.fail("replay", "perceptron: cannot replay: the acknowledged versions are not one history (see versions)")
        _check_perceptron_reads(f, reads, vf, {})
        return f
    states = _replay(f, initial, by_version, final, gaps, maybe if known else None, {r.version for r in reads})
    _check_perceptron_reads(f, reads, vf, states)
    return f


def _replay(f: Findings, initial: dict, by_version: dict, final: dict, gaps: list[int], maybe, wanted: set[int]) -> dict:
    """Learn every acknowledged request in version order, filling each gap with an unacknowledged
    one, and compare with every answer; return the state at each ``wanted`` version reached."""
    v0, vf = initial["version"], final["version"]
    model = Perceptron.from_state(initial)
    states = {v0: ModelState.of_model(model)} if v0 in wanted else {}
    used: set[int] = set()
    budget = [REPLAY_BUDGET]
    mismatches, filled, filled_letters = [], 0, 0
    replayed_to = v0
    v = v0 + 1
    while v <= vf:
        ack = by_version.get(v)
        if ack is not None:
            model.learn_many(ack.letters)
            got = ModelState.of_model(model)
            if not ack.matches(got):
                mismatches.append(v)
                if ack.state is None:
                    break  # nothing to start again from
                model = _model_at(model, ack.state)
                got = ack.state
            if v in wanted:
                states[v] = got
            replayed_to = v
            v += 1
            continue
        end = v
        while end + 1 <= vf and end + 1 not in by_version:
            end += 1
        if maybe is None:
            f.note("replay", perceptron_replayed_to=replayed_to, perceptron_first_gap=v)
            break  # which request filled the gap is unknown: the replay stops here
        target = by_version.get(end + 1)
        chosen = _fill(model, list(range(v, end + 1)), target, final, maybe, used, budget)
        if chosen is None:
            f.fail(
                "replay",
                f"perceptron: versions {v}..{end} were never answered, and no choice of unacknowledged requests "
                + ("replays to the state answered next" if budget[0] > 0 else "was found within the search budget"),
            )
            if target is None or target.state is None:
                break
            model = _model_at(model, target.state)  # go on from the state answered next
            if end + 1 in wanted:
                states[end + 1] = target.state
            v = end + 2
            continue
        for version, index in zip(range(v, end + 1), chosen, strict=True):
            model.learn_many(maybe[index].letters)
            filled_letters += len(maybe[index].letters)
            used.add(index)
            if version in wanted:
                states[version] = ModelState.of_model(model)
        filled += len(chosen)
        replayed_to = end
        v = end + 1
    else:
        if ModelState.of_model(model) != ModelState.of_document(final):
            f.fail(
                "replay",
                "perceptron: replaying the acknowledged requests in version order gives other weights than the final state",
            )
    if mismatches:
        f.fail(
            "replay",
            f"perceptron: at {len(mismatches)} acknowledged versions (first {mismatches[0]}) the replay gives other weights "
            "than the answer to the request that produced them",
        )
    f.note(
        "replay",
        perceptron_replayed_versions=replayed_to - v0,
        perceptron_gaps_filled=filled,
        perceptron_letters_filled=filled_letters,
    )
    return states


def _fill(model: Perceptron, versions: list[int], target: Train | None, final: dict, maybe, used: set[int], budget: list[int]):
    """Indices into ``maybe``, one per gap version, whose letters replay to what is answered next
    (the acknowledged ``target``, or the final state). Depth-first; within a gap, the candidate
    whose window closes first is tried first (earliest deadline keeps later gaps fillable)."""
    if target is not None:
        need = target.updates - len(target.letters) - model.updates  # letters the gaps learned
    else:
        need = final["updates"] - model.updates
    goal = ModelState.of_document(final) if target is None else None
    candidates = [
        sorted(
            (i for i, u in enumerate(maybe) if i not in used and u.lowest <= version <= u.highest),
            key=lambda i: (maybe[i].highest, i),
        )
        for version in versions
    ]

    def search(depth: int, current: Perceptron, taken: list[int], letters: int):
        if depth == len(versions):
            if letters != need:
                return None
            if target is None:
                return list(taken) if ModelState.of_model(current) == goal else None
            budget[0] -= 1
            probe = Perceptron.from_state(current.to_state())
            probe.learn_many(target.letters)
            return list(taken) if target.matches(ModelState.of_model(probe)) else None
        for index in candidates[depth]:
            if index in taken or budget[0] <= 0:
                continue
            size = len(maybe[index].letters)
            if letters + size + (len(versions) - depth - 1) > need:
                continue
            budget[0] -= 1
            step = Perceptron.from_state(current.to_state())
            step.learn_many(maybe[index].letters)
            found = search(depth + 1, step, taken + [index], letters + size)
            if found is not None:
                return found
        return None

    return search(0, model, [], 0)


def _model_at(model: Perceptron, state: ModelState) -> Perceptron:
    """The model with an answered state, to go on replaying after a problem was recorded."""
    return Perceptron.from_state(
        {
            **model.to_state(),
            "weights": np.frombuffer(state.weights, dtype=np.float64).copy(),
            "bias": state.bias,
            "updates": state.updates,
            "mistakes": state.mistakes,
        }
    )


def _check_perceptron_reads(f: Findings, reads: Sequence[PerceptronRead], final_version: int, states: dict) -> None:
    stale, beyond, wrong, compared = [], [], [], 0
    for read in reads:
        if read.version < read.floor:
            stale.append(read)
        if read.version > final_version:
            beyond.append(read)
        if read.version in states:
            compared += 1
            if states[read.version] != read.state:
                wrong.append(read)
    f.note("reads", perceptron_reads=len(reads), perceptron_reads_replayed=compared)
    if stale:
        f.fail(
            "reads",
            f"perceptron: {len(stale)} reads answered a version older than one already answered before they were sent "
            f"(first: {stale[0].version} < {stale[0].floor})",
        )
    if beyond:
        f.fail("reads", f"perceptron: {len(beyond)} reads answered a version beyond the final one")
    if wrong:
        f.fail(
            "reads",
            f"perceptron: {len(wrong)} reads showed a state that is not the replayed state of their version (first: version {wrong[0].version})",
        )


# -- the bandit ---------------------------------------------------------------------------------


def check_bandit(
    initial: dict,
    serves: Sequence[Serve],
    redeemed: Sequence[Redeemed],
    final: dict,
    unacknowledged_serves: Sequence[Window] = (),
    reads: Sequence[BanditRead] = (),
    findings: Findings | None = None,
) -> Findings:
    """Check a bandit run from ``initial`` to ``final`` (GET /api/bandit documents, same test).

    ``redeemed``: every ticket redeemed exactly once (rewards whose outcome was unknown must
    first be settled by sending the same ticket again: 200 says it was not redeemed before, 409
    that it was). Checks ``versions``, ``lost-updates``, ``bandit-counts`` and ``reads``:

    * versions: the acknowledged serves and rewards each have their own version, inside the
      run; every other version is a ticket redeemed by an unacknowledged reward, or a serve that
      was not acknowledged, each within its window;
    * counts: impressions = acknowledged serves + the unacknowledged serves that were committed
      (the gaps not taken by rewards), per arm at least the acknowledged ones; clicks = tickets
      redeemed with a click, exactly, per arm.
    """
    f = findings if findings is not None else Findings()
    v0, vf = initial["version"], final["version"]
    versions = [s.version for s in serves] + [r.version for r in redeemed if r.version is not None]
    gaps, _one_history = _version_gaps(f, "bandit", versions, v0, vf)
    late = [r for r in redeemed if r.version is None]
    applied_serves = len(gaps) - len(late)
    f.note(
        "versions",
        bandit_acknowledged=len(versions),
        bandit_versions=vf - v0,
        bandit_gaps=len(gaps),
        bandit_unacknowledged_serves=len(unacknowledged_serves),
        bandit_rewards_settled_redeemed=len(late),
    )
    if applied_serves < 0:
        f.fail(
            "versions",
            f"bandit: {len(late)} tickets were redeemed by unacknowledged rewards, but only {len(gaps)} versions were never answered",
        )
    elif applied_serves > len(unacknowledged_serves):
        f.fail(
            "versions",
            f"bandit: {len(gaps)} versions were never answered; {len(late)} late rewards and {len(unacknowledged_serves)} "
            f"failed serves explain at most {len(late) + len(unacknowledged_serves)}",
        )
    else:
        windows = [Window(r.lowest, r.highest) for r in late] + list(unacknowledged_serves)
        lone_gaps, lone_rewards = match_gaps(gaps, windows, required=len(late))
        if lone_gaps:
            f.fail(
                "versions",
                f"bandit: {lone_gaps} versions were never answered and no unacknowledged serve or reward in flight then explains them",
            )
        if lone_rewards:
            f.fail("versions", f"bandit: {lone_rewards} tickets redeemed by unacknowledged rewards have no version of their own")

    before = {arm["name"]: arm for arm in initial["arms"]}
    after = {arm["name"]: arm for arm in final["arms"]}
    served = Counter(s.arm for s in serves)
    clicked = Counter(r.arm for r in redeemed if r.clicked)
    unknown = sorted((set(served) | set(clicked)) - set(after))
    if unknown:
        f.fail("bandit-counts", f"bandit: arms served or clicked that the final document does not list: {unknown}")
    impressions = {name: arm["impressions"] - before.get(name, {}).get("impressions", 0) for name, arm in after.items()}
    clicks = {name: arm["clicks"] - before.get(name, {}).get("clicks", 0) for name, arm in after.items()}
    total = sum(impressions.values())
    f.note(
        "bandit-counts",
        serves_acknowledged=len(serves),
        serves_committed_unacknowledged=max(applied_serves, 0),
        impressions=total,
        clicks_redeemed=sum(clicked.values()),
        clicks=sum(clicks.values()),
        rewards_redeemed=len(redeemed),
    )
    f.note(
        "lost-updates",
        bandit_serves_acknowledged=len(serves),
        bandit_impressions=total,
        bandit_clicks_redeemed=sum(clicked.values()),
        bandit_clicks=sum(clicks.values()),
    )
    for name in sorted(set(after) | set(served) | set(clicked)):
        shown, hit = impressions.get(name, 0), clicks.get(name, 0)
        if shown < served[name]:
            f.fail("lost-updates", f"bandit: arm {name}: {served[name]} serves acknowledged, but {shown} impressions counted")
        elif shown > served[name] + max(applied_serves, 0):
            f.fail(
                "bandit-counts",
                f"bandit: arm {name}: {shown} impressions, {served[name]} serves acknowledged and at most {max(applied_serves, 0)} more committed",
            )
        if hit < clicked[name]:
            f.fail("lost-updates", f"bandit: arm {name}: {clicked[name]} clicks redeemed, but {hit} counted")
        elif hit > clicked[name]:
            f.fail("bandit-counts", f"bandit: arm {name}: {hit} clicks counted, but {clicked[name]} redeemed")
    if applied_serves >= 0 and total != len(serves) + applied_serves:
        f.fail(
            "bandit-counts",
            f"bandit: {total} impressions, but {len(serves)} serves acknowledged and {applied_serves} unanswered versions left for serves",
        )
    misnamed = [r for r in redeemed if r.answered_arm is not None and r.answered_arm != r.arm]
    if misnamed:
        f.fail(
            "bandit-counts",
            f"bandit: {len(misnamed)} rewards answered another arm than their ticket was served "
            f"(first: {misnamed[0].answered_arm!r} for {misnamed[0].arm!r})",
        )

    _check_bandit_reads(f, reads, initial, serves, redeemed, gaps, vf)
    return f


def match_gaps(gaps: Sequence[int], windows: Sequence[Window], required: int = 0) -> tuple[int, int]:
    """Match each gap version to a distinct window holding it; the first ``required`` windows must
    be matched too. Returns (gaps left unmatched, required windows left unmatched).

    A maximum bipartite matching (augmenting paths), started from one that matches the required
    windows: augmenting never unmatches a window, so both sides end matched whenever possible.
    """
    by_gap = [[w for w, window in enumerate(windows) if window.lowest <= g <= window.highest] for g in gaps]
    by_window = defaultdict(list)
    for g, ws in enumerate(by_gap):
        for w in ws:
            by_window[w].append(g)
    gap_of: dict[int, int] = {}  # window -> gap
    window_of: dict[int, int] = {}  # gap -> window

    def augment_from_gap(g: int, seen: set) -> bool:
        for w in by_gap[g]:
            if w in seen:
                continue
            seen.add(w)
            if w not in gap_of or augment_from_gap(gap_of[w], seen):
                gap_of[w], window_of[g] = g, w
                return True
        return False

    def augment_from_window(w: int, seen: set) -> bool:
        for g in by_window[w]:
            if g in seen:
                continue
            seen.add(g)
            if g not in window_of or augment_from_window(window_of[g], seen):
                window_of[g], gap_of[w] = w, g
                return True
        return False

    for w in range(required):
        augment_from_window(w, set())
    for g in range(len(gaps)):
        if g not in window_of:
            augment_from_gap(g, set())
    return len(gaps) - len(window_of), sum(1 for w in range(required) if w not in gap_of)


def _check_bandit_reads(f: Findings, reads, initial, serves, redeemed, gaps, final_version) -> None:
    base = {arm["name"]: (arm["impressions"], arm["clicks"]) for arm in initial["arms"]}
    serve_versions = defaultdict(list)
    for s in serves:
        serve_versions[s.arm].append(s.version)
    click_versions = defaultdict(list)
    for r in redeemed:
        if r.clicked and r.version is not None:
            click_versions[r.arm].append(r.version)
    for lists in (serve_versions, click_versions):
        for versions in lists.values():
            versions.sort()
    stale, beyond, wrong = [], [], []
    for read in reads:
        if read.version < read.floor:
            stale.append(read)
        if read.version > final_version:
            beyond.append(read)
        slack = bisect.bisect_right(gaps, read.version)  # unanswered versions up to this one
        for name, (shown, hit) in read.arms.items():
            shown0, hit0 = base.get(name, (0, 0))
            low_shown = bisect.bisect_right(serve_versions.get(name, []), read.version)
            low_hit = bisect.bisect_right(click_versions.get(name, []), read.version)
            if not low_shown <= shown - shown0 <= low_shown + slack or not low_hit <= hit - hit0 <= low_hit + slack:
                wrong.append((read, name))
                break
    f.note("reads", bandit_reads=len(reads))
    if stale:
        f.fail(
            "reads",
            f"bandit: {len(stale)} reads answered a version older than one already answered before they were sent "
            f"(first: {stale[0].version} < {stale[0].floor})",
        )
    if beyond:
        f.fail("reads", f"bandit: {len(beyond)} reads answered a version beyond the final one")
    if wrong:
        read, name = wrong[0]
        f.fail(
            "reads",
            f"bandit: {len(wrong)} reads showed counts that no history of the acknowledged requests has at their version "
            f"(first: arm {name} at version {read.version})",
        )


# -- every worker -------------------------------------------------------------------------------


def every_worker(
    url: str, processes: int, attempts: int = 2000, path: str = "/api/perceptron", timeout: float = 30
) -> dict[int, dict]:
    """The document at ``path`` as each worker reports it: ask until every worker has answered."""
    seen: dict[int, dict] = {}
    client = Client(url, timeout)
    for _ in range(attempts):
        body = client.get(path)  # raises HttpError unless a 2xx answer of JSON
        seen[body["pid"]] = body
        if len(seen) == processes:
            break
    return seen


def without_pid(document: dict) -> dict:
    return {key: value for key, value in document.items() if key != "pid"}


def disagreements(documents: dict[int, dict], processes: int, what: str = "workers") -> list[str]:
    """Whether every worker reports the same document (all of it but its pid)."""
    found = []
    if len(documents) != processes:
        found.append(f"only {len(documents)} of {processes} {what} answered")
    distinct = {json.dumps(without_pid(doc), sort_keys=True) for doc in documents.values()}
    if len(distinct) > 1:
        found.append(f"{what} disagree: versions {sorted(doc['version'] for doc in documents.values())}")
    return found
