"""The Bayesian comparison of a test's arms: probability best and credible intervals."""

from __future__ import annotations

import math
import random

import pytest

from nurture.enrollments.bayes import compare


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _exact_b_beats_a(a: tuple[int, int], b: tuple[int, int]) -> float:
    """P(rate B > rate A) in closed form for integer Beta parameters (Evan Miller's sum)."""
    alpha_a, beta_a = 1 + a[0], 1 + a[1] - a[0]
    alpha_b, beta_b = 1 + b[0], 1 + b[1] - b[0]
    return sum(
        math.exp(
            _log_beta(alpha_a + i, beta_a + beta_b)
            - math.log(beta_b + i)
            - _log_beta(1 + i, beta_b)
            - _log_beta(alpha_a, beta_a)
        )
        for i in range(alpha_b)
    )


def _monte_carlo(arms: list[tuple[int, int]], draws: int = 40_000) -> list[float]:
    rng = random.Random(20260302)
    wins = [0] * len(arms)
    for _ in range(draws):
        rates = [rng.betavariate(1 + s, 1 + n - s) for s, n in arms]
        wins[rates.index(max(rates))] += 1
    return [w / draws for w in wins]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_symmetric_arms_are_equally_likely_best(k: int) -> None:
    result = compare([(12, 100)] * k)
    assert sum(p.p_best for p in result) == pytest.approx(1.0, abs=1e-12)
    for p in result:
        assert p.p_best == pytest.approx(1 / k, abs=1e-9)


def test_a_clearly_better_arm_is_almost_surely_best() -> None:
    a, b = compare([(10, 200), (40, 200)])
    assert b.p_best > 0.99
    assert a.p_best < 0.01
    assert a.p_best + b.p_best == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("a", "b"), [((3, 10), (5, 10)), ((20, 100), (28, 100)), ((0, 5), (1, 5)), ((7, 40), (6, 41))]
)
def test_two_arms_agree_with_the_closed_form(a: tuple[int, int], b: tuple[int, int]) -> None:
    _, second = compare([a, b])
    assert second.p_best == pytest.approx(_exact_b_beats_a(a, b), abs=1e-4)


@pytest.mark.parametrize(
    "arms",
    [
        [(3, 30), (6, 30), (4, 30)],
        [(50, 400), (61, 410), (45, 390), (58, 400)],
        [(0, 0), (2, 10)],
        [(1, 3), (0, 3), (2, 3), (1, 2)],
    ],
)
def test_agrees_with_monte_carlo(arms: list[tuple[int, int]]) -> None:
    exact = [p.p_best for p in compare(arms)]
    for got, sampled in zip(exact, _monte_carlo(arms), strict=True):
        assert got == pytest.approx(sampled, abs=0.01)


def test_no_trials_is_the_uniform_prior() -> None:
    a, b = compare([(0, 0), (0, 0)])
    assert a.p_best == pytest.approx(0.5)
    assert a.mean == pytest.approx(0.5)
    assert (a.low, a.high) == (pytest.approx(0.025, abs=1e-6), pytest.approx(0.975, abs=1e-6))
    only = compare([(0, 0)])
    assert only[0].p_best == pytest.approx(1.0)


def test_credible_interval_matches_the_beta_quantiles() -> None:
    # Beta(1, n+1) has CDF 1 - (1-x)^(n+1): its quantiles are known in closed form.
    (p,) = compare([(0, 9)])
    quantile = lambda q: 1 - (1 - q) ** (1 / 10)  # noqa: E731
    assert p.low == pytest.approx(quantile(0.025), rel=1e-3)
    assert p.high == pytest.approx(quantile(0.975), rel=1e-3)
    assert p.low < p.mean < p.high


def test_huge_counts_neither_overflow_nor_lose_the_peak() -> None:
    a, b = compare([(500_000, 1_000_000), (501_500, 1_000_000)])
    # The difference is ~2.1 standard errors of the difference: P ~ 0.983.
    assert b.p_best == pytest.approx(0.983, abs=0.005)
    assert a.low < 0.5 < a.high
    assert a.high - a.low == pytest.approx(2 * 1.96 * 0.0005, rel=0.01)
    none, some = compare([(0, 1_000_000), (3, 1_000_000)])
    assert some.p_best > 0.9
    assert 0 < none.high < 1e-5


@pytest.mark.parametrize("bad", [[(5, 4)], [(-1, 3)], [(0, -1)]])
def test_impossible_counts_are_refused(bad: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError, match="successes"):
        compare(bad)


def test_nothing_to_compare() -> None:
    assert compare([]) == []
