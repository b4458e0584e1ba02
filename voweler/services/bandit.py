"""The bandit as the web app runs it: an Experiment in a Store, counters in a Tally, signed tickets.

Where each part lives, and why:

* the **experiment** (arms and priors) changes rarely: it is a model in a
  :class:`~voweler.state.Store`, changed by transactions like the perceptron;
* **impressions, clicks and redeemed tickets** change on every page view: they are counters in a
  :class:`~voweler.state.Tally`, changed in place in small atomic groups;
* **choices** are drawn ahead by each worker in a :class:`~voweler.models.choices.ChoiceQueue`
  from a posterior at most ``max_age`` seconds old, so a serve never runs the Beta maths and
  holds the shared lock only to count. (The original design had one shared queue refilled by a
  separate updater; one queue per worker needs no shared queue at all, and every choice is still
  an exact Thompson draw, with its exact propensity.)

Nothing here knows about HTTP: failures are :class:`~voweler.services.base.Rejected` with a
reason the API maps to a status.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
import unicodedata
from dataclasses import dataclass

import numpy as np

from voweler.models import ArmConflict, ChoiceQueue, Experiment, Posterior, UnknownArm
from voweler.services.base import Cache, Rejected, encode, refusing_bad_input, retrying
from voweler.services.tickets import TicketError, TicketSigner
from voweler.state import Backend, EventKind, Kind, Redemption, Roster, Snapshot, StaleRoster, Store, Tally, area_of

RECENT_SERVES = 1000  # "share of recent serves" is over the last this many serves of the test
_ATTEMPTS = 3  # a serve that meets a newer experiment reloads it and tries again, this often
# The experiment's refusals, as the API's reasons: a bad value 400, an unknown arm 404, a conflict 409.
_EXPERIMENT_REASONS = {UnknownArm: "unknown_arm", ArmConflict: "conflict"}


@dataclass(frozen=True)
class _View:
    """What one experiment version means to a worker, derived once per version."""

    experiment: Experiment
    roster: Roster
    names: dict  # uid -> name, retired arms included


class BanditService:
    """Serve, reward and edit one bandit shared by every worker.

    Parameters
    ----------
    store
        The Store holding the :class:`~voweler.models.experiment.Experiment`.
    tally
        The bandit's shared counters.
    secret
        ``VOWELER_SECRET``, or ``None``. Tickets are signed with a key derived from the tally's
        own random secret (generated once, shared by every worker, and gone with the tally's
        state) and this one: a ticket is good only for the tally that counted its serve, so
        one redeemed before a restart on a fresh state can't be redeemed again after it; and
        with a secret set, reading the shared memory (or Redis) is not enough to forge one.
    ttl
        How long a ticket can be redeemed, in seconds.
    seed
        Seeds each worker's draws (with its pid), for reproducible tests; ``None``: fresh entropy.
    """

    def __init__(self, store: Store, tally: Tally, secret: bytes | None = None, ttl: int = 3600, seed: int | None = None):
        self.store, self.tally, self.ttl, self.seed = store, tally, ttl, seed
        self._secret = secret or b""
        self._signer: TicketSigner | None = None
        self._local = threading.local()  # each thread's choice queue (flask run serves with threads)
        self._cache = Cache()

    @classmethod
    def open(cls, backend: Backend, config: dict) -> "BanditService":
        store = backend.store(area_of("bandit"), Experiment)
        tally = backend.tally(area_of("bandit", Kind.TALLY))
        return cls(store, tally, secret=config.get("SECRET"), ttl=config.get("TICKET_TTL", 3600))

    # -- serving ----------------------------------------------------------------------------

    def serve(self) -> dict:
        """Choose an arm for one visitor, count the impression, and sign a ticket for it."""

        def attempt():
            # the view the choice was drawn under: a refill may have read a newer experiment
            queue, view = self._queue_for(self.store.read())
            uid, propensity = queue.pop()
            now_ns = time.time_ns()
            version, serial = self.tally.serve(view.roster, uid, propensity, now_ns)  # StaleRoster: read again
            ticket = self._tickets().issue(view.experiment.test, uid, serial, now_ns / 1e9)
            return {"arm": view.names[uid], "ticket": ticket, "propensity": propensity, "version": version}

        return retrying(attempt, retry_on=StaleRoster, attempts=_ATTEMPTS, busy="the experiment kept changing while serving; try again")

    def reward(self, token: str, clicked: bool) -> dict:
        """Count the reward of a served ticket, once."""
        now = time.time()
        try:
            ticket = self._tickets().verify(token, now)
        except TicketError as error:
            raise Rejected(f"ticket_{error.reason}", str(error)) from None

        def attempt():
            view = self._view(self.store.read())
            outcome, version = self.tally.redeem(view.roster, ticket.test, ticket.uid, ticket.serial, clicked, time.time_ns())
            return view, outcome, version

        view, outcome, version = retrying(
            attempt, retry_on=StaleRoster, attempts=_ATTEMPTS, busy="the experiment kept changing while rewarding; try again"
        )
        if outcome is not Redemption.ACCEPTED:
            raise Rejected(_REDEMPTION_REASONS[outcome], _REDEMPTION_MESSAGES[outcome])
        return {"arm": view.names.get(ticket.uid), "clicked": clicked, "version": version}

    # -- editing the experiment -------------------------------------------------------------

    # Arm names are compared after Unicode NFC normalization, so "grün" typed two ways is one arm.

    def add_arm(self, name: str, prior_ctr: float | None, prior_impressions: float | None) -> bytes:
        """Add an arm while the test runs; without a prior it starts level with the leader."""
        counts = self.tally.counts(self._view(self.store.read()).roster)  # for the new arm's default prior
        name = _nfc(name)

        def add(experiment: Experiment):
            # Counts of another test (a reset came in between) say nothing about this one.
            same_test = counts.test == experiment.test
            experiment.add_arm(
                name, prior_ctr, prior_impressions, counts.impressions if same_test else None, counts.clicks if same_test else None
            )

        return self._edit(add)

    def remove_arm(self, name: str) -> bytes:
        name = _nfc(name)
        return self._edit(lambda experiment: experiment.remove_arm(name))

    def reset(self, arms: list[dict]) -> bytes:
        """Start a new test with these arms (dicts of name, prior_ctr, prior_impressions)."""
        arms = [{**arm, "name": _nfc(arm["name"])} if isinstance(arm.get("name"), str) else arm for arm in arms]
        return self._edit(lambda experiment: experiment.reset(arms))

    def _edit(self, change) -> bytes:
        def checked(experiment: Experiment) -> None:
            with refusing_bad_input(_EXPERIMENT_REASONS):  # the experiment checks the arms before it changes
                change(experiment)

        snapshot, _ = self.store.transact(checked)
        # Tell the tally at once (serves would tell it anyway): a new test zeroes the counters now.
        self.tally.sync(self._view(snapshot).roster)
        return self.document()

    # -- reading ----------------------------------------------------------------------------

    def document(self) -> bytes:
        """Everything about the bandit as JSON, rendered once per change per worker."""
        snapshot, view, counts = self._current()
        return self._cache.get("document", (snapshot.key, counts.version), lambda: encode(self._render(view, counts)))

    def events(self, since: int, limit: int) -> dict:
        """A page of the event log, in the documented JSON form."""
        view = self._view(self.store.read())
        logged = self.tally.counts(view.roster).events
        if since > logged:
            raise Rejected(
                "beyond_log",
                f"since={since} is beyond the newest event (the next is {logged}); "
                "the log starts again from 0 when the server's state is new",
            )
        events = self.tally.events(since, limit)
        kinds = {EventKind.SERVE: "serve", EventKind.CLICK: "click", EventKind.NO_CLICK: "no_click"}
        current = view.experiment.test
        rows = [
            {
                "seq": int(e["seq"]),
                "time": int(e["time_ns"]) / 1e9,
                "event": kinds[EventKind(int(e["kind"]))],
                "test": int(e["test"]),
                "arm": view.names.get(int(e["uid"])) if int(e["test"]) == current else None,
                "arm_slot": int(e["uid"]),
                "serial": int(e["serial"]),
                "version": int(e["version"]),
                "propensity": None if np.isnan(e["propensity"]) else float(e["propensity"]),
            }
            for e in events
        ]
        oldest = rows[0]["seq"] if rows else since
        return {"events": rows, "next": rows[-1]["seq"] + 1 if rows else since, "skipped": max(0, oldest - since)}

    # -- helpers ----------------------------------------------------------------------------

    def _view(self, snapshot: Snapshot) -> _View:
        def build():
            experiment = snapshot.model
            names = {arm.uid: arm.name for arm in (*experiment.retired, *experiment.arms)}
            return _View(experiment, Roster.of(snapshot.version, experiment.test, [arm.uid for arm in experiment.arms]), names)

        return self._cache.get("view", snapshot.key, build)

    def _current(self):
        """The experiment and its counts, of one and the same experiment version."""

        def attempt():
            snapshot = self.store.read()
            view = self._view(snapshot)
            counts = self.tally.counts(view.roster)
            if counts.roster_version != snapshot.version:
                raise StaleRoster("the tally already follows a newer experiment: read that one")
            return snapshot, view, counts

        return retrying(attempt, retry_on=StaleRoster, attempts=_ATTEMPTS, busy="the experiment kept changing while reading it; try again")

    def _queue_for(self, snapshot: Snapshot) -> tuple[ChoiceQueue, _View]:
        """This thread's choice queue, fresh for ``snapshot`` or newer, and the view its choices
        were drawn under (the roster a serve must count them with)."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            # Workers are forked from the master: each needs its own generator, or they would
            # all draw the same "random" choices.
            local.pid = os.getpid()
            entropy = None if self.seed is None else [self.seed, local.pid, threading.get_ident()]
            local.queue, local.version = ChoiceQueue(np.random.default_rng(entropy)), None
        now = time.monotonic()
        if local.version != snapshot.version or local.queue.stale(now):
            snapshot, view, counts = self._current()
            local.queue.refill(Posterior(view.experiment.arms, counts.impressions, counts.clicks), now)
            local.version = snapshot.version
        return local.queue, self._view(snapshot)

    def ticket_secret(self) -> bytes:
        """What tickets are signed with: the tally's secret and VOWELER_SECRET, combined."""
        return hmac.digest(self.tally.secret(), b"voweler tickets\x00" + self._secret, hashlib.sha256)

    def _tickets(self) -> TicketSigner:
        if self._signer is None:
            self._signer = TicketSigner(self.ticket_secret(), self.ttl)
        return self._signer

    def _render(self, view: _View, counts) -> dict:
        experiment = view.experiment
        posterior = Posterior(experiment.arms, counts.impressions, counts.clicks)
        means, lows, highs = posterior.summaries()
        propensities = posterior.propensities()
        shares, recent = self._recent_shares(view, counts)
        arms = []
        for i, arm in enumerate(experiment.arms):
            arms.append(
                {
                    "name": arm.name,
                    "slot": arm.uid,
                    "prior": {"ctr": arm.prior_ctr, "impressions": arm.prior_impressions},
                    "impressions": int(counts.impressions[arm.uid]),
                    "clicks": int(counts.clicks[arm.uid]),
                    "alpha": float(posterior.alpha[i]),
                    "beta": float(posterior.beta[i]),
                    "mean": float(means[i]),
                    "interval": [float(lows[i]), float(highs[i])],
                    "propensity": float(propensities[i]),
                    "share": shares.get(arm.uid, 0.0),
                }
            )
        live = [arm.uid for arm in experiment.arms]
        return {
            "version": counts.version,
            "test": experiment.test,
            "impressions": int(counts.impressions[live].sum()),
            "clicks": int(counts.clicks[live].sum()),
            "recent_serves": recent,
            "ticket_ttl": self.ttl,
            "arms": arms,
        }

    def _recent_shares(self, view: _View, counts) -> tuple[dict, int]:
        """Each arm's share of the last RECENT_SERVES serves of this test, from the event log."""
        events = self.tally.events(max(0, counts.events - 2 * RECENT_SERVES), 2 * RECENT_SERVES)
        mine = events[(events["kind"] == EventKind.SERVE) & (events["test"] == view.experiment.test)][-RECENT_SERVES:]
        if not len(mine):
            return {}, 0
        uids, served = np.unique(mine["uid"], return_counts=True)
        return {int(u): int(n) / len(mine) for u, n in zip(uids, served)}, len(mine)


_REDEMPTION_REASONS = {
    Redemption.REDEEMED: "ticket_redeemed",
    Redemption.TOO_OLD: "ticket_expired",
    Redemption.UNKNOWN: "ticket_unknown",
    Redemption.TEST_ENDED: "test_ended",
    Redemption.ARM_REMOVED: "arm_removed",
}
_REDEMPTION_MESSAGES = {
    Redemption.REDEEMED: "this ticket was already redeemed: a reward counts once",
    Redemption.TOO_OLD: f"the ticket is too old: only tickets among the last {Tally.window:,} serves can be redeemed",
    Redemption.UNKNOWN: "no such serve: the ticket was signed with this server's secret but never served by its current state",
    Redemption.TEST_ENDED: "the test this ticket was served in has ended (the bandit was reset)",
    Redemption.ARM_REMOVED: "the arm this ticket was served has been removed",
}


def _nfc(name):
    return unicodedata.normalize("NFC", name) if isinstance(name, str) else name
