"""The Markov name model: exact completion against brute force, exact sampling by chi-square."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from voweler.models.markov import MarkovChain, UnknownLetters
from voweler.models.names import CORPORA, shipped_names

SMALL = ["abba", "abab", "baba", "bab", "cab", "abc", "acca", "bca", "cabba", "ba"]


def brute_force(chain: MarkovChain, pattern: str) -> dict[str, float]:
    """Every name of the pattern's length that matches it, with its probability under the chain."""
    names = ("".join(letters) for letters in itertools.product(chain.alphabet, repeat=len(pattern)))
    matching = (name for name in names if all(p in ("*", c) for p, c in zip(pattern, name)))
    return {name: chain.probability(name) for name in matching}


@pytest.mark.parametrize("order", [1, 2, 3])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("pattern", ["****", "*b*a", "a***", "**ba*", "c***a", "ba", "ab*"])
def test_completion_is_exact_against_brute_force(order, alpha, pattern):
    chain = MarkovChain(SMALL, order=order, alpha=alpha)
    truth = brute_force(chain, pattern)
    total = sum(truth.values())
    result = chain.complete(pattern, n=len(truth) + 5)
    assert result.total == pytest.approx(total, rel=1e-12, abs=1e-15)
    positive = {name: p / total for name, p in truth.items() if p > 0}
    assert len(result.completions) == len(positive)
    assert sum(p for _, p in result.completions) == pytest.approx(1.0)
    for name, p in result.completions:
        assert p == pytest.approx(positive[name], rel=1e-9)
    # the top n are brute force's top n, in order (compared by probability: ties may swap names)
    top = chain.complete(pattern, n=5).completions
    expected = sorted(positive.values(), reverse=True)[:5]
    assert [p for _, p in top] == pytest.approx(expected, rel=1e-9)
    assert all(positive[name] == pytest.approx(p, rel=1e-9) for name, p in top)
    # each * : its letters' marginal probabilities
    for index, letters in result.positions:
        for letter, p in letters:
            marginal = sum(q for name, q in positive.items() if name[index] == letter)
            assert p == pytest.approx(marginal, rel=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_probabilities_of_every_name_of_a_length_sum_to_p_length(order):
    chain = MarkovChain(SMALL, order=order, alpha=0.3)
    for length in (2, 3, 4):
        assert sum(brute_force(chain, "*" * length).values()) == pytest.approx(chain.length_probability(length))
    assert chain.length_probability(4) == pytest.approx(sum(len(n) == 4 for n in SMALL) / len(SMALL))


def test_score_agrees_with_complete():
    chain = MarkovChain(shipped_names("elements"), order=2)
    for name in ("carbon", "neon", "zinc", "xqzzy"[:4].replace("q", "e")):
        result = chain.complete(name)  # no * : the one name, with its probability as total
        assert result.total == pytest.approx(chain.probability(name), rel=1e-12)
        assert result.completions == [(name, pytest.approx(1.0))]
    result = chain.complete("***on", n=3)
    for name, conditional in result.completions:
        assert conditional * result.total == pytest.approx(chain.probability(name), rel=1e-9)


@pytest.mark.parametrize("order", [1, 3])
def test_sampling_matches_the_exact_conditional_distribution(order):
    chain = MarkovChain(SMALL, order=order, alpha=0.5)
    pattern = "*b**"
    exact = {name: p for name, p in chain.complete(pattern, n=1000).completions}
    draws = chain.sample_names(pattern, 20000, seed=7)
    names = sorted(exact)
    observed = np.array([draws.count(name) for name in names], dtype=float)
    expected = np.array([exact[name] for name in names]) * len(draws)
    # pool the rare names so every cell expects at least 5 draws
    rare = expected < 5
    if rare.any():
        observed = np.append(observed[~rare], observed[rare].sum())
        expected = np.append(expected[~rare], expected[rare].sum())
    result = stats.chisquare(observed, expected)
    assert result.pvalue > 0.001, result
    # and reproducibly for a seed
    assert chain.sample_names(pattern, 50, seed=3) == chain.sample_names(pattern, 50, seed=3)
    assert chain.complete(pattern, 5, mode="sample", seed=1) == chain.complete(pattern, 5, mode="sample", seed=1)


def test_a_wrong_sampler_is_caught():
    """Sampling forward without the backward messages (generate and keep the matches' letters) fails the test."""
    chain = MarkovChain(SMALL, order=1, alpha=0.5)
    exact = dict(chain.complete("**a", n=100).completions)
    rng = np.random.default_rng(0)
    naive = []
    every = np.arange(chain.size)
    a = chain.alphabet.index("a")
    for _ in range(5000):  # forward, forcing 'a' at the end without conditioning the earlier letters on it
        context, name = np.zeros(1, dtype=np.int64), ""
        for i in range(3):
            p = chain.transitions(context, every)[0]
            letter = a if i == 2 else rng.choice(chain.size, p=p / p.sum())
            name += chain.alphabet[letter]
            context = (context * (chain.size + 1) + letter + 1) % (chain.size + 1)
        naive.append(name)
    names = sorted(exact)
    observed = np.array([naive.count(n) for n in names], dtype=float)
    expected = np.array([exact[n] for n in names]) * len(naive)
    assert stats.chisquare(observed, expected).pvalue < 1e-6


def test_no_match_is_empty_not_an_error():
    chain = MarkovChain(["ab", "ba"], order=1, alpha=0.0)
    result = chain.complete("aa")
    assert (result.completions, result.total) == ([], 0.0)
    assert chain.complete("***").total == 0.0  # no name of length 3


def test_generate_is_seeded_novel_and_within_lengths():
    chain = MarkovChain(shipped_names("elements"), order=3)
    assert chain.generate(10, seed=5) == chain.generate(10, seed=5)
    assert chain.generate(10, seed=5) != chain.generate(10, seed=6)
    names = chain.generate(20, seed=1, novel=True, min_length=5, max_length=7)
    assert len(names) == len(set(names)) == 20
    assert all(name not in chain and 5 <= len(name) <= 7 for name in names)
    assert chain.generate(5, seed=1, min_length=30, max_length=32) == []  # no element name is that long


def test_bad_input_is_a_value_error():
    chain = MarkovChain(["ab", "ba"], order=2)
    with pytest.raises(UnknownLetters, match="never seen 'z'"):
        chain.complete("*z")
    for pattern in ("", "*" * 33):
        with pytest.raises(ValueError, match="1 to 32"):
            chain.complete(pattern)
    with pytest.raises(ValueError):
        MarkovChain(["Ab"])
    with pytest.raises(ValueError):
        MarkovChain(["ab"], order=4)
    with pytest.raises(ValueError):
        MarkovChain(["ab"], alpha=-1)
    with pytest.raises(ValueError):
        chain.generate(3, min_length=5, max_length=2)


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_shipped_corpora_build_and_complete(corpus):
    names = shipped_names(corpus)
    assert len(names) == len(set(names)) >= 100
    chain = MarkovChain(names, order=3)
    result = chain.complete("*" * 4, n=10)
    assert 0 < result.total <= 1
    assert [p for _, p in result.completions] == sorted((p for _, p in result.completions), reverse=True)


@pytest.mark.parametrize("order", [1, 2])
def test_generation_draws_names_with_their_model_probabilities(order):
    """Raw draws of length 3 (before repeats are dropped) against p(name | λ = 3), by chi-square."""
    chain = MarkovChain(SMALL, order=order, alpha=0.5)
    draws = chain._draw(np.random.default_rng(11), np.full(20000, 3))
    exact = {name: p / chain.length_probability(3) for name, p in brute_force(chain, "***").items()}
    names = sorted(exact)
    observed = np.array([draws.count(name) for name in names], dtype=float)
    expected = np.array([exact[name] for name in names]) * len(draws)
    assert stats.chisquare(observed, expected).pvalue > 0.001


def test_a_pattern_too_open_for_the_chain_is_refused_before_its_memory_is_taken():
    from voweler.models.markov import MAX_LATTICE_CELLS, MarkovChain
    from voweler.models.names import shipped_names

    chain = MarkovChain(list(shipped_names("pypi")), order=3)
    with pytest.raises(ValueError, match="too many names open for an order-3 chain"):
        chain.complete("*" * 8)
    assert chain.complete("*" * 32).total == 0.0  # no name that long: answered without a lattice
    assert chain.complete("***base").completions  # the talk's pattern fits well within the budget
    assert MAX_LATTICE_CELLS * 16 <= 100 * 2**20  # about 64 MB at most per request


def test_generation_keeps_one_row_per_context_it_meets_not_per_code():
    from voweler.models.markov import MarkovChain
    from voweler.models.names import shipped_names

    chain = MarkovChain(list(shipped_names("pypi")), order=3)
    for seed in range(200):
        chain.generate(100, seed=seed)
    assert len(chain._rows) <= len(chain._contexts) + 1  # unseen contexts share the uniform row
