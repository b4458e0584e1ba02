"""The name corpora: the shipped lists (immutable, in every process) and the shared :class:`NameBook`.

A corpus is a list of names. The shipped ones live in ``corpora/*.txt`` beside this file (where
each comes from, and its license, is in ``corpora/README.md``); every process reads them and
builds its own Markov chains from them. What is learned is shared: the :class:`NameBook` holds only
the names taught to each corpus and the corpora users created, as plain lists of strings. So the
shared state stays small (a name is its characters, about 10 bytes, where the chains' counts of
three orders over one corpus are hundreds of kilobytes), every process rebuilds exactly the same
chains from it, and a chain is rebuilt only when its own corpus has learned something new.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from voweler.models.markov import MAX_LENGTH, check_name

# The shipped corpora: name -> what it is (its source and license are in corpora/README.md).
CORPORA = {
    "pypi": "the 3,000 most downloaded Python packages on PyPI with plain names",
    "stdlib": "the modules of Python's standard library",
    "elements": "the 118 chemical elements (IUPAC names)",
    "cities": "one-word city names of the IANA time zone database",
}
MAX_CORPORA = 64  # created ones, besides the shipped
MAX_CREATE = 5000  # names in a created corpus
MAX_LEARN = 100  # names taught in one request (one transaction)
CORPUS_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


class UnknownCorpus(ValueError):
    """No corpus has that name."""


class CorpusExists(ValueError):
    """A corpus of that name exists already."""


@lru_cache(maxsize=None)
def shipped_names(corpus: str) -> tuple[str, ...]:
    """The names of a shipped corpus, as in its file.

    >>> shipped_names("elements")[:3]
    ('hydrogen', 'helium', 'lithium')
    """
    if corpus not in CORPORA:
        raise UnknownCorpus(f"no shipped corpus {corpus!r}")
    text = resources.files("voweler.models").joinpath("corpora", f"{corpus}.txt").read_text(encoding="utf-8")
    return tuple(check_name(line) for line in text.split())


def check_names(names, most: int, what: str) -> list[str]:
    """``names`` as a list of valid names (:func:`~voweler.models.markov.check_name`), 1 to ``most`` of them."""
    if not isinstance(names, list) or not 1 <= len(names) <= most:
        count = len(names) if isinstance(names, list) else type(names).__name__
        raise ValueError(f"{what} must be a list of 1 to {most:,} names; got {count}")
    for name in names:
        check_name(name)
    return list(names)


class NameBook:
    """What is shared about names: the corpora users created, and the names taught to every corpus.

    >>> book = NameBook()
    >>> book.learn("elements", ["zyxium", "borium"])
    >>> book.create("planets", ["mercury", "venus", "earth"])
    >>> book.counts("elements"), book.counts("planets")
    ((118, 2), (3, 0))
    >>> book.names("elements")[-1]
    'borium'
    >>> NameBook.from_state(book.to_state()).to_state() == book.to_state()
    True
    """

    def __init__(self, created: dict[str, list[str]] | None = None, learned: dict[str, list[str]] | None = None):
        self.created = created or {}
        self.learned = learned or {}

    def to_state(self) -> dict:
        return {
            "created": {k: list(v) for k, v in self.created.items()},
            "learned": {k: list(v) for k, v in self.learned.items()},
        }

    @classmethod
    def from_state(cls, state: dict) -> "NameBook":
        return cls({k: list(v) for k, v in state["created"].items()}, {k: list(v) for k, v in state["learned"].items()})

    def corpora(self) -> list[str]:
        """Every corpus: the shipped ones, then the created ones in the order they were made."""
        return [*CORPORA, *self.created]

    def check_corpus(self, corpus: str) -> None:
        if corpus not in CORPORA and corpus not in self.created:
            raise UnknownCorpus(f"no corpus {corpus!r}; the corpora are {', '.join(self.corpora())}")

    def base(self, corpus: str) -> tuple[str, ...] | list[str]:
        """The corpus's own names, before anything was learned."""
        self.check_corpus(corpus)
        return shipped_names(corpus) if corpus in CORPORA else self.created[corpus]

    def names(self, corpus: str) -> list[str]:
        """Everything the corpus's chains learn from: its own names, then those taught, in order."""
        return [*self.base(corpus), *self.learned.get(corpus, [])]

    def counts(self, corpus: str) -> tuple[int, int]:
        """(the corpus's own names, the names taught to it)."""
        return len(self.base(corpus)), len(self.learned.get(corpus, []))

    def create(self, corpus: str, names: list[str]) -> None:
        """A new corpus of ``names`` (repeats dropped); CorpusExists if the name is taken."""
        if not isinstance(corpus, str) or not CORPUS_NAME.fullmatch(corpus):
            raise ValueError(f"a corpus name is 1 to 32 characters a-z, 0-9, '_' or '-', starting with a letter; got {corpus!r}")
        if corpus in CORPORA or corpus in self.created:
            raise CorpusExists(f"a corpus named {corpus!r} exists already")
        if len(self.created) >= MAX_CORPORA:
            raise ValueError(f"there are {MAX_CORPORA} created corpora already, the most there can be")
        self.created[corpus] = list(dict.fromkeys(check_names(names, MAX_CREATE, "names")))

    def learn(self, corpus: str, names: list[str]) -> None:
        """Teach ``names`` to ``corpus``: each counts once more, as a name of the corpus would."""
        self.check_corpus(corpus)
        self.learned.setdefault(corpus, []).extend(check_names(names, MAX_LEARN, "names"))


__all__ = [
    "CORPORA", "MAX_CORPORA", "MAX_CREATE", "MAX_LEARN", "MAX_LENGTH", "CorpusExists", "NameBook", "UnknownCorpus",
    "check_names", "shipped_names",
]  # fmt: skip
