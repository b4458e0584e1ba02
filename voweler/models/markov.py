"""A character-level Markov chain over names, with a length drawn first, and exact completion.

A name ``T = t_1 … t_λ`` of length λ gets the probability

    p(T) = p(λ) · ∏_{i=1..λ} p(t_i | h_i),   p(c | h) = (C(h, c) + α) / (C(h) + α·V)

where ``h_i`` is the ``order`` characters before ``t_i``, padded at the start with a BEGIN mark
(so the first character has the context "^^^" in order 3), ``C(h, c)`` counts how often ``c``
followed ``h`` in the corpus, ``C(h) = Σ_c C(h, c)``, ``V`` is the size of the corpus's alphabet
and α is additive (Lidstone) smoothing. ``p(λ) = N_λ / N`` is the share of the corpus's names
that have length λ: a length no name has gets 0. There is no end mark: the length is drawn
first, so ``p(T | λ)`` sums to 1 over the ``V^λ`` names of length λ, and ``p(T)`` to 1 over all.
A context the corpus never saw (``C(h) = 0``) continues uniformly, ``1/V``: the limit of the
formula as α → 0, so α = 0 (no smoothing) is allowed and well defined.

Counts are a ``scipy.sparse`` CSR matrix: a row per context seen in the corpus (a sorted array of
context codes maps a context to its row, the "dict for word-to-index lookup"), a column per
character. Order 3 over the 37 characters of the ``pypi`` corpus has 54,872 possible contexts, of
which its 3,000 names use 4,734, each followed by 2 or 3 characters on average.

**Completion.** A pattern such as ``***base`` fixes the length and some characters; ``*`` is one
unknown character. The chain's state is its last ``order`` characters, so the names matching a
pattern are paths through a lattice of (position, state). One forward pass over it (summing)
and one backward pass (summing, and maximising) give, exactly and without enumerating names:
the total probability of the matching names, each ``*``'s marginal letter probabilities, the
top ``n`` names (a best-first search whose heuristic is the exact backward maximum, so the
first ``n`` complete names it pops are the ``n`` most likely), and exact samples from the
conditional distribution (drawing each character forward in proportion to its transition
probability times the backward message: the mirror image of forward filtering, backward
sampling, which is equally exact).

>>> chain = MarkovChain(["abba", "abab", "baba", "bab"], order=1, alpha=0.0)
>>> chain.probability("abab")  # p(λ=4) = 3/4, then a|^ = 2/4, b|a = 5/5, a|b = 5/6, b|a = 5/5
0.3125
>>> result = chain.complete("*b*b", n=5)
>>> [(name, round(p, 4)) for name, p in result.completions]
[('abab', 0.8295), ('bbab', 0.1382), ('abbb', 0.0276), ('bbbb', 0.0046)]
>>> round(result.total, 4)
0.3767
"""

from __future__ import annotations

import bisect
import heapq
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

# The characters a name may use: lowercase ASCII letters, digits, "_" and "-".
CHARSET = "abcdefghijklmnopqrstuvwxyz0123456789_-"
MAX_LENGTH = 32  # of a name and of a pattern
MAX_LATTICE_CELLS = 4_000_000  # (context, letter) pairs one completion may visit: about 64 MB, a few tenths of a second
ORDERS = (1, 2, 3)
DEFAULT_ALPHA = 0.1
WILDCARD = "*"


class UnknownLetters(ValueError):
    """A pattern or name uses characters the corpus has never seen."""


def check_name(name) -> str:
    """Return ``name`` if it can be a name of a corpus, else raise ValueError.

    >>> check_name("numpy")
    'numpy'
    >>> check_name("Num Py")
    Traceback (most recent call last):
    ...
    ValueError: a name may use only a-z, 0-9, '_' and '-'; 'Num Py' has 'N', ' ', 'P'
    """
    if not isinstance(name, str):
        raise ValueError(f"a name must be a string; got {type(name).__name__}")
    if not 1 <= len(name) <= MAX_LENGTH:
        raise ValueError(f"a name must be 1 to {MAX_LENGTH} characters; got {len(name)}")
    bad = [c for c in dict.fromkeys(name) if c not in CHARSET]
    if bad:
        raise ValueError(f"a name may use only a-z, 0-9, '_' and '-'; {name!r} has {', '.join(map(repr, bad))}")
    return name


@dataclass(frozen=True)
class Completion:
    """What :meth:`MarkovChain.complete` finds for a pattern.

    ``completions``: (name, probability conditional on the pattern), highest first;
    ``total``: p(name matches the pattern) under the model; ``positions``: for each ``*``, its
    index and its letters with their marginal probabilities, highest first.
    """

    pattern: str
    completions: list[tuple[str, float]]
    total: float
    positions: list[tuple[int, list[tuple[str, float]]]] = field(default_factory=list)


class MarkovChain:
    """A character Markov chain of order 1, 2 or 3 over a list of names, with a length distribution.

    Parameters
    ----------
    names
        The corpus: names that pass :func:`check_name` (duplicates count twice).
    order
        How many previous characters a character depends on (1, 2 or 3).
    alpha
        Additive smoothing, ≥ 0 (default 0.1): every character gets α extra counts after every
        context.

    >>> chain = MarkovChain(["ab", "ba"], order=2)
    >>> chain.alphabet, chain.order, len(chain)
    ('ab', 2, 2)
    """

    def __init__(self, names: Iterable[str], order: int = 2, alpha: float = DEFAULT_ALPHA):
        names = [check_name(name) for name in names]
        if not names:
            raise ValueError("a corpus needs at least one name")
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}; got {order!r}")
        if not (isinstance(alpha, (int, float)) and 0 <= alpha <= 1e6):
            raise ValueError(f"alpha must be a number from 0 to 1e6; got {alpha!r}")
        self.order, self.alpha = order, float(alpha)
        self.alphabet = "".join(sorted(set("".join(names))))
        self.size = len(self.alphabet)  # V
        self._index = {c: i for i, c in enumerate(self.alphabet)}
        self._base = self.size + 1  # a context is a number in base V+1; digit 0 is BEGIN
        self._modulus = self._base**order
        self._names = frozenset(names)
        self._count = len(names)
        lengths = np.fromiter((len(n) for n in names), dtype=np.int64, count=len(names))
        self.length_counts = np.bincount(lengths, minlength=MAX_LENGTH + 1)
        self._build(names, lengths)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, name: str) -> bool:
        return name in self._names

    # -- building -----------------------------------------------------------------------------

    def _build(self, names: Sequence[str], lengths: np.ndarray) -> None:
        k, longest = self.order, int(lengths.max())
        # Each name as a row of digits 1..V, after k BEGIN digits (0); -1 beyond its end.
        grid = np.full((len(names), k + longest), -1, dtype=np.int64)
        grid[:, :k] = 0
        flat = np.array([self._index[c] + 1 for c in "".join(names)], dtype=np.int64)
        rows = np.repeat(np.arange(len(names)), lengths)
        cols = k + np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        grid[rows, cols] = flat
        contexts, nexts = [], []
        for j in range(longest):
            window, following = grid[:, j : j + k], grid[:, j + k]
            present = following > 0
            code = np.zeros(int(present.sum()), dtype=np.int64)
            for m in range(k):
                code = code * self._base + window[present, m]
            contexts.append(code)
            nexts.append(following[present] - 1)
        context, following = np.concatenate(contexts), np.concatenate(nexts)
        self._contexts, row = np.unique(context, return_inverse=True)
        # context code -> its row of the table below (at most 39**3 entries); a context never seen
        # maps to the table's last row, the uniform distribution
        self._row_of = np.full(self._modulus, len(self._contexts), dtype=np.int32)
        self._row_of[self._contexts] = np.arange(len(self._contexts), dtype=np.int32)
        self.counts = sp.csr_matrix(
            (np.ones(len(context)), (row.ravel(), following)), shape=(len(self._contexts), self.size)
        )
        self.counts.sum_duplicates()
        self._totals = np.asarray(self.counts.sum(axis=1)).ravel()
        # p(c | h) of each seen context h, and a last row for every unseen one (uniform), for lookups
        # by fancy indexing; cumulated, for drawing characters.
        seen = (self.counts.toarray() + self.alpha) / (self._totals + self.alpha * self.size)[:, None]
        self._dense = np.vstack([seen, np.full((1, self.size), 1.0 / self.size)])
        self._cumulative = np.cumsum(self._dense, axis=1)
        self._row_list = self._row_of.tolist()  # plain ints: a numpy lookup per letter costs more than the letter
        self._rows: dict[int, list[float]] = {}  # a row of _cumulative as a list, as generation needs them

    # -- probabilities ------------------------------------------------------------------------

    def transitions(self, contexts: np.ndarray, letters: np.ndarray) -> np.ndarray:
        """p(letter | context) for every context code (rows) and letter index (columns)."""
        rows = self._row_of[contexts]
        if len(letters) == self.size:  # every letter, in order
            return self._dense[rows]
        return self._dense[rows[:, None], letters[None, :]]

    def _advance(self, contexts: np.ndarray, letters: np.ndarray) -> np.ndarray:
        """The context after each letter: drop the oldest digit, append the letter's."""
        return (contexts[:, None] * self._base + (letters + 1)[None, :]) % self._modulus

    def _distinct(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The distinct context codes, sorted, and each code's index among them (np.unique without sorting)."""
        present = np.zeros(self._modulus, dtype=bool)
        present[codes] = True
        index = np.cumsum(present) - 1
        return np.flatnonzero(present), index[codes]

    def length_probability(self, length: int) -> float:
        """p(λ): the share of the corpus's names of that length."""
        return float(self.length_counts[length] / self._count) if 0 <= length <= MAX_LENGTH else 0.0

    def log_probability(self, name: str) -> float:
        """log p(name), -inf when it is impossible (a length or, with α = 0, a transition never seen).

        >>> chain = MarkovChain(["ab", "ba"], order=1, alpha=1.0)
        >>> round(float(np.exp(chain.log_probability("aa"))), 4)  # p(2)=1, a|^: 2/4, a|a: 1/3
        0.1667
        """
        letters = self.letters_of(check_name(name))
        with np.errstate(divide="ignore"):
            total = np.log(self.length_probability(len(name)))
            context = np.zeros(1, dtype=np.int64)
            for letter in letters:
                step = np.array([letter])
                total += np.log(self.transitions(context, step)[0, 0])
                context = self._advance(context, step)[:, 0]
        return float(total)

    def probability(self, name: str) -> float:
        """p(name), the length term included."""
        return float(np.exp(self.log_probability(name)))

    def letters_of(self, text: str, wildcard: bool = False) -> list[int]:
        """Letter indices of ``text`` (-1 for ``*`` if ``wildcard``); UnknownLetters for unseen ones."""
        unknown = [c for c in dict.fromkeys(text) if c not in self._index and not (wildcard and c == WILDCARD)]
        if unknown:
            raise UnknownLetters(
                f"the corpus has never seen {', '.join(map(repr, unknown))}; its letters are {self.alphabet!r}"
            )
        return [self._index.get(c, -1) for c in text]

    def transition_matrix(self) -> tuple[list[str], np.ndarray]:
        """Order 1's p(next | previous): rows BEGIN ("^") then each letter, a column per letter."""
        if self.order != 1:
            raise ValueError("the transition matrix is drawn for order 1")
        every = np.arange(self.size)
        return ["^", *self.alphabet], self.transitions(np.arange(self._base), every)

    # -- generation ---------------------------------------------------------------------------

    def generate(
        self, n: int, seed: int | None = None, *, novel: bool = False,
        min_length: int = 1, max_length: int = MAX_LENGTH, attempts: int = 20,
    ) -> list[str]:  # fmt: skip
        """Up to ``n`` distinct names, drawn from the model with ``seed`` (reproducible).

        ``novel`` keeps only names not in the corpus; lengths outside [min_length, max_length] are
        never drawn. Fewer than ``n`` come back when ``attempts`` batches of draws did not find
        enough (a narrow length range over a small corpus, say).

        >>> chain = MarkovChain(["anna", "otto", "hannah", "bob"], order=2)
        >>> chain.generate(3, seed=1) == chain.generate(3, seed=1)
        True
        >>> all(name not in chain for name in chain.generate(5, seed=2, novel=True))
        True
        """
        if not 1 <= min_length <= max_length <= MAX_LENGTH:
            raise ValueError(f"lengths must satisfy 1 <= min_length <= max_length <= {MAX_LENGTH}")
        cumulative = np.cumsum(self.length_counts[min_length : max_length + 1])
        if cumulative[-1] == 0:
            return []
        rng = np.random.default_rng(seed)
        found: dict[str, None] = {}
        for _ in range(attempts):
            # lengths drawn from p(λ) restricted to the range: inverse CDF of the counts
            u = rng.random(2 * n if novel else n + 2) * cumulative[-1]
            lengths = min_length + np.searchsorted(cumulative, u, side="right")
            for name in self._draw(rng, lengths):
                if not (novel and name in self._names):
                    found.setdefault(name)
                    if len(found) == n:
                        return list(found)
        return list(found)

    def _draw(self, rng: np.random.Generator, lengths: np.ndarray) -> list[str]:
        # A few names of a dozen letters: a loop over letters with bisect on the cumulated rows
        # beats numpy's per-call overhead here, about 4 to 1. The uniforms come from ``rng``.
        uniforms = rng.random((len(lengths), int(lengths.max()))).tolist()
        rows, row_of, alphabet, last = self._rows, self._row_list, self.alphabet, self.size - 1
        base, modulus = self._base, self._modulus
        names = []
        for draws, length in zip(uniforms, lengths.tolist()):
            context, letters = 0, []
            for u in draws[:length]:
                row = row_of[context]
                cumulative = rows.get(row)
                if cumulative is None:  # at most one per seen context, and one for every unseen one
                    cumulative = rows[row] = self._cumulative[row].tolist()
                letter = min(bisect.bisect_right(cumulative, u * cumulative[-1]), last)
                letters.append(alphabet[letter])
                context = (context * base + letter + 1) % modulus
            names.append("".join(letters))
        return names

    # -- completion ---------------------------------------------------------------------------

    def _lattice(self, pattern: str):
        """Forward and backward messages over (position, context) for the pattern's names."""
        fixed = self.letters_of(pattern, wildcard=True)
        every = np.arange(self.size)
        allowed = [every if letter < 0 else np.array([letter]) for letter in fixed]
        # The lattice: the reachable contexts before each position, and each step's
        # probabilities and successors (as indices into the next position's contexts).
        states, steps, cells = [np.zeros(1, dtype=np.int64)], [], 0
        for choices in allowed:
            cells += len(states[-1]) * len(choices)
            if cells > MAX_LATTICE_CELLS:  # 16 bytes a cell: refuse before the memory is taken
                raise ValueError(
                    f"the pattern leaves too many names open for an order-{self.order} chain (its lattice would pass "
                    f"{MAX_LATTICE_CELLS:,} cells): fix more of its letters, or use a lower order"
                )
            probs = self.transitions(states[-1], choices)
            following, successor = self._distinct(self._advance(states[-1], choices))
            states.append(following)
            steps.append((probs, successor.reshape(probs.shape)))
        forward = [np.ones(1)]
        for probs, successor in steps:
            forward.append(np.bincount(successor.ravel(), (forward[-1][:, None] * probs).ravel(), len(states[len(forward)])))
        backward, best = [np.ones(len(states[-1]))], [np.ones(len(states[-1]))]
        for probs, successor in reversed(steps):
            backward.insert(0, (probs * backward[0][successor]).sum(axis=1))
            best.insert(0, (probs * best[0][successor]).max(axis=1))
        return fixed, allowed, steps, forward, backward, best

    def complete(self, pattern: str, n: int = 10, *, mode: str = "top", seed: int | None = None, letters: int = 10) -> Completion:
        """The names of the pattern's length that match it: exactly, without generating and filtering.

        ``mode="top"``: the ``n`` most likely, each with its probability given the pattern.
        ``mode="sample"``: ``n`` draws from that conditional distribution with ``seed``, repeats
        dropped, highest first. ``letters``: how many letters to list for each ``*``.

        >>> chain = MarkovChain(["hydrogen", "oxygen", "nitrogen"], order=2, alpha=0.0)
        >>> [name for name, _ in chain.complete("**trogen").completions]
        ['nitrogen']
        >>> chain.complete("zzzzzz")  # letters the corpus never saw
        Traceback (most recent call last):
        ...
        voweler.models.markov.UnknownLetters: the corpus has never seen 'z'; its letters are 'deghinortxy'
        >>> chain.complete("*****").completions, chain.complete("*****").total  # no name of length 5
        ([], 0.0)
        """
        if not isinstance(pattern, str) or not 1 <= len(pattern) <= MAX_LENGTH:
            raise ValueError(f"a pattern must be 1 to {MAX_LENGTH} characters; got {len(pattern) if isinstance(pattern, str) else pattern!r}")
        if mode not in ("top", "sample"):
            raise ValueError(f"mode must be 'top' or 'sample'; got {mode!r}")
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer; got {n!r}")
        if self.length_probability(len(pattern)) <= 0:  # no name has this length: nothing to search
            self.letters_of(pattern, wildcard=True)  # but a letter the corpus never saw is still refused
            return Completion(pattern, [], 0.0, [(i, []) for i, c in enumerate(pattern) if c == WILDCARD])
        fixed, allowed, steps, forward, backward, best = self._lattice(pattern)
        mass = float(forward[-1].sum())  # p(pattern | length)
        total = self.length_probability(len(pattern)) * mass
        if total <= 0:
            return Completion(pattern, [], 0.0, [(i, []) for i, c in enumerate(pattern) if c == WILDCARD])
        positions = []
        for i, choices in enumerate(allowed):
            if fixed[i] >= 0:
                continue
            probs, successor = steps[i]
            marginal = (forward[i][:, None] * probs * backward[i + 1][successor]).sum(axis=0) / mass
            order = np.argsort(-marginal, kind="stable")[:letters]
            positions.append((i, [(self.alphabet[c], float(marginal[c])) for c in order if marginal[c] > 0]))
        if mode == "top":
            found = self._best(allowed, steps, best, n)
        else:
            found = self._sample(allowed, steps, backward, n, seed)
        completions = [(name, float(weight / mass)) for name, weight in found]
        completions.sort(key=lambda item: -item[1])
        return Completion(pattern, completions, total, positions)

    def _best(self, allowed, steps, best, n: int) -> list[tuple[str, float]]:
        """The n most likely paths, best first: A* with the exact backward maximum as heuristic."""
        length, found, tie = len(steps), [], 0
        heap = [(-best[0][0], tie, 0, 0, "", 1.0)]  # (-(g·h), tie, position, state, prefix, g)
        while heap and len(found) < n:
            _, _, i, state, prefix, g = heapq.heappop(heap)
            if i == length:
                found.append((prefix, float(g)))
                continue
            probs, successor = steps[i]
            f = g * probs[state] * best[i + 1][successor[state]]
            # Only this node's n - len(found) best children can still be among the top n: each
            # better sibling has a completion at least as likely as a worse one's best.
            for j in np.argsort(-f, kind="stable")[: n - len(found)]:
                if f[j] > 0:
                    tie += 1
                    letter = self.alphabet[allowed[i][j]]
                    heapq.heappush(heap, (-f[j], tie, i + 1, successor[state, j], prefix + letter, g * probs[state, j]))
        return found

    def _sample(self, allowed, steps, backward, n: int, seed: int | None, distinct: bool = True) -> list[tuple[str, float]]:
        """n exact draws given the pattern (repeats dropped): each letter ∝ p(letter | state) · backward."""
        rng = np.random.default_rng(seed)
        state, weight = np.zeros(n, dtype=np.int64), np.ones(n)
        letters = np.zeros((n, len(steps)), dtype=np.int64)
        for i, (probs, successor) in enumerate(steps):
            joint = probs[state] * backward[i + 1][successor[state]]
            cumulative = np.cumsum(joint, axis=1)
            u = rng.random(n)[:, None] * cumulative[:, -1:]
            pick = np.minimum((u >= cumulative).sum(axis=1), joint.shape[1] - 1)
            letters[:, i] = allowed[i][pick]
            weight *= probs[state, pick]
            state = successor[state, pick]
        drawn = [("".join(self.alphabet[c] for c in row), float(w)) for row, w in zip(letters, weight)]
        return list(dict(drawn).items()) if distinct else drawn

    def sample_names(self, pattern: str, n: int, seed: int | None = None) -> list[str]:
        """``n`` raw draws given the pattern, repeats kept (what the sampler draws, for checking it).

        >>> MarkovChain(["ab", "ba"], order=1, alpha=0.0).sample_names("a*", 3, seed=0)
        ['ab', 'ab', 'ab']
        """
        _, allowed, steps, forward, backward, _ = self._lattice(pattern)
        if forward[-1].sum() <= 0:
            return []
        return [name for name, _ in self._sample(allowed, steps, backward, n, seed, distinct=False)]
