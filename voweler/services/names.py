"""Names as a service: Markov chains per corpus and order, learning from every worker.

The shared state is a :class:`~voweler.models.names.NameBook`: the corpora users created and the
names taught to each corpus, nothing else. Each process builds its chains from it (shipped names
plus what was taught) the first time a (corpus, order) is asked for, and again only when that
corpus has learned something since: a taught name is appended, so the corpus's counts say
whether a chain is current. A request that teaches names is one transaction.
"""

from __future__ import annotations

import contextlib
import math
import secrets

from voweler.models.markov import ORDERS, Completion, MarkovChain
from voweler.models.names import CorpusExists, NameBook, UnknownCorpus, check_names, MAX_CREATE, MAX_LEARN
from voweler.services.base import Cache, Rejected, encode, refusing_bad_input
from voweler.state import Backend, Store, area_of

MODELS = {f"markov{order}": order for order in ORDERS}
MAX_N = 100  # names generated or completions listed in one request
COMPLETIONS_KEPT = 256  # per process
REASONS = {UnknownCorpus: "unknown_corpus", CorpusExists: "conflict"}


class NamesService:
    """Generate, complete and score names; teach names to a corpus; create a corpus. Answers are JSON bytes.

    >>> from voweler.state import open_backend
    >>> import json
    >>> service = NamesService.open(open_backend("memory://"), {})
    >>> json.loads(service.complete("markov2", "elements", "*eon", 1))["completions"][0]["name"]
    'neon'
    >>> json.loads(service.learn("elements", ["voweline"]))["corpus"]["learned"]
    1
    """

    def __init__(self, store: Store[NameBook]):
        self.store = store
        self._chains: dict[tuple[str, int], tuple[tuple[int, int], MarkovChain]] = {}
        self._completions: dict[tuple, Completion] = {}  # least recently used first
        self._cache = Cache()

    @classmethod
    def open(cls, backend: Backend, config: dict) -> "NamesService":
        return cls(backend.store(area_of("names"), NameBook))

    # -- reading ------------------------------------------------------------------------------

    def catalogue(self) -> bytes:
        """The models, and the corpora with their counts."""
        snapshot = self.store.read()
        book = snapshot.model
        return self._cache.get("catalogue", snapshot.key, lambda: encode({
            "version": snapshot.version,
            "models": list(MODELS),
            "corpora": [summary(book, corpus) for corpus in book.corpora()],
        }))  # fmt: skip

    def learned(self, corpus: str) -> bytes:
        """The corpus's counts and every name taught to it, in the order they were learned."""
        snapshot = self.store.read()
        with refusing_bad_input(REASONS):
            body = summary(snapshot.model, corpus)
        return encode({"version": snapshot.version, "corpus": body, "learned": snapshot.model.learned.get(corpus, [])})

    def generate(self, model: str, corpus: str, n: int, seed: int | None, novel: bool, min_length: int, max_length: int) -> bytes:
        version, chain = self.chain(model, corpus)
        seed = secrets.randbits(32) if seed is None else seed  # answered, so that a result can be drawn again
        with refusing_bad_input():
            names = chain.generate(n, seed, novel=novel, min_length=min_length, max_length=max_length)
        return encode({"version": version, "model": model, "corpus": corpus, "seed": seed, "names": names})

    def complete(self, model: str, corpus: str, pattern: str, n: int, mode: str = "top", seed: int | None = None) -> bytes:
        version, counts, chain = self._current(model, corpus)
        # A completion is a function of the chain (its corpus's counts) and the request: the last
        # few hundred are kept, so a popular pattern costs a lookup until the corpus learns. An
        # unseeded sample is new every time, and not kept.
        keep = mode == "top" or seed is not None
        if mode == "sample" and seed is None:
            seed = secrets.randbits(32)
        key = (model, corpus, counts, pattern, n, mode, seed)
        result = self._completions.pop(key, None) if keep else None
        if result is None:
            with refusing_bad_input():
                result = chain.complete(pattern, n, mode=mode, seed=seed)
            if keep and len(self._completions) >= COMPLETIONS_KEPT:
                with contextlib.suppress(KeyError, StopIteration, RuntimeError):  # another thread got there first
                    self._completions.pop(next(iter(self._completions)))
        if keep:
            self._completions[key] = result  # the newest last
        body = {
            "version": version,
            "model": model,
            "corpus": corpus,
            "pattern": result.pattern,
            "mode": mode,
            "completions": [{"name": name, "probability": p} for name, p in result.completions],
            "total": result.total,
            "positions": [
                {"index": index, "letters": [{"letter": c, "probability": p} for c, p in letters]}
                for index, letters in result.positions
            ],
        }
        if mode == "sample":
            body["seed"] = seed
        return encode(body)

    def score(self, model: str, corpus: str, name: str) -> bytes:
        version, chain = self.chain(model, corpus)
        with refusing_bad_input():
            log_p = chain.log_probability(name)
        return encode({
            "version": version, "model": model, "corpus": corpus, "name": name,
            "probability": math.exp(log_p), "log_probability": log_p if log_p > -math.inf else None,
        })  # fmt: skip

    def transitions(self, model: str, corpus: str) -> bytes:
        """The order-1 chain's transition probabilities, for the page's heat map."""
        if model not in MODELS:
            raise Rejected("unknown_model", f"no model {model!r}; the models are {', '.join(MODELS)}")
        if model != "markov1":
            raise Rejected("bad_request", f"the transition matrix is drawn for markov1 only; got {model!r}")
        version, chain = self.chain(model, corpus)
        rows, matrix = chain.transition_matrix()
        return encode({"version": version, "corpus": corpus, "rows": rows, "columns": list(chain.alphabet), "probabilities": matrix})

    def chain(self, model: str, corpus: str) -> tuple[int, MarkovChain]:
        """The state's version, and the current chain of ``model`` over ``corpus`` in this process."""
        version, _counts, chain = self._current(model, corpus)
        return version, chain

    def _current(self, model: str, corpus: str) -> tuple[int, tuple[int, int], MarkovChain]:
        """(version, the corpus's counts, its chain), the chain built again only when the corpus learned something."""
        if model not in MODELS:
            raise Rejected("unknown_model", f"no model {model!r}; the models are {', '.join(MODELS)}")
        snapshot = self.store.read()
        book = snapshot.model
        with refusing_bad_input(REASONS):
            counts = book.counts(corpus)
        cached = self._chains.get((corpus, MODELS[model]))
        if cached is None or cached[0] != counts:
            cached = (counts, MarkovChain(book.names(corpus), order=MODELS[model]))
            self._chains[(corpus, MODELS[model])] = cached
        return snapshot.version, counts, cached[1]

    # -- changing -----------------------------------------------------------------------------

    def learn(self, corpus: str, names: list[str]) -> bytes:
        """Teach ``names`` to ``corpus`` as one transaction; the new version and the corpus's counts."""
        with refusing_bad_input(REASONS):  # before the state is touched
            check_names(names, MAX_LEARN, "names")
            snapshot, _ = self.store.transact(lambda book: book.learn(corpus, names))
        return encode({"version": snapshot.version, "corpus": summary(snapshot.model, corpus)})

    def create(self, corpus: str, names: list[str]) -> bytes:
        """A new corpus, as one transaction."""
        with refusing_bad_input(REASONS):
            check_names(names, MAX_CREATE, "names")
            snapshot, _ = self.store.transact(lambda book: book.create(corpus, names))
        return encode({"version": snapshot.version, "corpus": summary(snapshot.model, corpus)})


def summary(book: NameBook, corpus: str) -> dict:
    names, learned = book.counts(corpus)
    return {"name": corpus, "names": names, "learned": learned, "shipped": corpus not in book.created,
            "recent": book.learned.get(corpus, [])[-5:]}  # fmt: skip
