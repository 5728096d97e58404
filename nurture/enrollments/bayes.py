"""Compare the arms of a test: which one has the best success rate, and how sure is that.

Each arm's rate gets the posterior Beta(1 + successes, 1 + trials - successes) of a uniform
prior. The chance that arm i is best is the integral of f_i(x) times the product of the other
arms' CDFs F_j(x), computed on a grid rather than by sampling so the page shows the same numbers
on every load. The grid is the union of one fine grid per arm over that arm's mean +/- 12
standard deviations: with a million trials a posterior is a few millionths wide, which a
uniform grid over [0, 1] would step over. Outside those ranges every density is negligible.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

# Points per arm across its own range; 2,000 puts ~80 points in each standard deviation.
POINTS = 2000
SPREAD = 12.0  # standard deviations either side of each arm's mean that the grid covers


@dataclass(frozen=True, slots=True)
class Posterior:
    """What the data say about one arm's rate."""

    successes: int
    trials: int
    mean: float  # posterior mean of the rate
    low: float  # equal-tailed credible interval
    high: float
    p_best: float  # probability that this arm's rate is the highest

    @property
    def alpha(self) -> float:
        """Return the posterior Beta's first parameter."""
        return 1.0 + self.successes

    @property
    def beta(self) -> float:
        """Return the posterior Beta's second parameter."""
        return 1.0 + self.trials - self.successes


def compare(
    arms: Sequence[tuple[int, int]], *, credibility: float = 0.95, points: int = POINTS
) -> list[Posterior]:
    """Return each arm's posterior mean, credible interval and probability of being best.

    `arms` is a list of (successes, trials). Probabilities sum to 1; identical arms get equal
    ones. Arms with no trials are the uniform prior (a rate anywhere from 0 to 1).
    """
    if not arms:
        return []
    if not 0 < credibility < 1:
        raise ValueError("credibility must be between 0 and 1")
    for successes, trials in arms:
        if trials < 0 or not 0 <= successes <= trials:
            raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    shapes = [(1.0 + s, 1.0 + n - s) for s, n in arms]
    grid = _grid(shapes, points)
    cdfs = [_cdf(grid, a, b) for a, b in shapes]
    best = _p_best(cdfs)
    tail = (1 - credibility) / 2
    return [
        Posterior(
            successes=s,
            trials=n,
            mean=a / (a + b),
            low=_quantile(grid, cdf, tail),
            high=_quantile(grid, cdf, 1 - tail),
            p_best=p,
        )
        for (s, n), (a, b), cdf, p in zip(arms, shapes, cdfs, best, strict=True)
    ]


def _grid(shapes: list[tuple[float, float]], points: int) -> list[float]:
    xs: set[float] = {0.0, 1.0}
    for a, b in shapes:
        mean = a / (a + b)
        sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        lo, hi = max(0.0, mean - SPREAD * sd), min(1.0, mean + SPREAD * sd)
        step = (hi - lo) / points
        xs.update(lo + i * step for i in range(points + 1))
    return sorted(xs)


def _log_density(x: float, a: float, b: float) -> float:
    """Log of the unnormalised Beta(a, b) density; the grid integral normalises it."""
    if (x <= 0.0 and a > 1) or (x >= 1.0 and b > 1):
        return -math.inf
    # a == 1 (or b == 1) drops the term, which also keeps log(0) out at the ends.
    left = (a - 1) * math.log(x) if a != 1 else 0.0
    right = (b - 1) * math.log1p(-x) if b != 1 else 0.0
    return left + right


def _cdf(grid: list[float], a: float, b: float) -> list[float]:
    """Return the Beta(a, b) CDF at each grid point (trapezoids, scaled to end at 1)."""
    logs = [_log_density(x, a, b) for x in grid]
    top = max(logs)  # work relative to the peak: densities of a million trials overflow
    dens = [math.exp(v - top) if v > -math.inf else 0.0 for v in logs]
    cdf = [0.0]
    for i in range(1, len(grid)):
        cdf.append(cdf[-1] + (grid[i] - grid[i - 1]) * (dens[i] + dens[i - 1]) / 2)
    total = cdf[-1]
    return [c / total for c in cdf]


def _p_best(cdfs: list[list[float]]) -> list[float]:
    """P(i best) = integral of prod_{j != i} F_j dF_i, one grid cell at a time."""
    k = len(cdfs)
    best = [0.0] * k
    for c in range(1, len(cdfs[0])):
        mids = [(f[c] + f[c - 1]) / 2 for f in cdfs]
        for i in range(k):
            mass = cdfs[i][c] - cdfs[i][c - 1]
            if mass:
                others = math.prod(mids[j] for j in range(k) if j != i)
                best[i] += mass * others
    total = sum(best)
    return [p / total for p in best]


def _quantile(grid: list[float], cdf: list[float], q: float) -> float:
    """Return the x where the CDF reaches q, interpolating within its grid cell."""
    i = bisect.bisect_left(cdf, q)
    if i <= 0:
        return grid[0]
    if i >= len(grid):
        return grid[-1]
    c0, c1 = cdf[i - 1], cdf[i]
    share = (q - c0) / (c1 - c0) if c1 > c0 else 0.0
    return grid[i - 1] + share * (grid[i] - grid[i - 1])
