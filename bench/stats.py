"""Distribution-free statistics for latency samples: the median's confidence interval and spread.

Latency samples are skewed (a floor set by the hardware, a long tail from interrupts and other
processes), so a mean +- t * sd interval would be wrong in both directions. The median's
interval used here needs no distribution at all: for n independent samples, the number that fall
below the true median is Binomial(n, 1/2), so the order statistics x_(l) and x_(n-l+1) (1-based)
bracket the true median with probability 1 - 2 * P(B <= l - 1). We take the largest l whose
coverage is at least the requested confidence (the narrowest such symmetric-rank interval).

Exact binomial sums are used up to `EXACT_LIMIT` samples; above it the normal approximation with
continuity correction picks the rank (its error there is far below one rank). With fewer than 6
samples no pair of order statistics reaches 95% coverage, and the interval is None, not a guess.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from functools import lru_cache
from statistics import NormalDist

DEFAULT_CONFIDENCE = 0.95
EXACT_LIMIT = 1000


@lru_cache(maxsize=4096)
@functools.lru_cache(maxsize=4096)
def median_ci_rank(n: int, confidence: float = DEFAULT_CONFIDENCE) -> int | None:
    """The 1-based lower rank l of the median's interval [x_(l), x_(n-l+1)], or None if none.

    Cached: the sampling loop asks after every sample, and the exact binomial sum costs ~0.3 ms
    at n = 1000, several times a small model's forward pass, taken out of the case's budget.
    """
    if n < 1 or not 0.0 < confidence < 1.0:
        raise ValueError(f"need n >= 1 and 0 < confidence < 1, got n={n}, confidence={confidence}")
    alpha = 1.0 - confidence
    if n > EXACT_LIMIT:
        z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
        rank = math.floor(n / 2.0 + 0.5 - z * math.sqrt(n) / 2.0)
        return rank if rank >= 1 else None
    # Largest l with 2 * P(B <= l - 1) <= alpha, in exact integer arithmetic scaled by 2**n.
    limit = alpha * 2.0**n / 2.0
    cumulative = 0
    rank = 0
    for k in range(n // 2 + 1):
        cumulative += math.comb(n, k)
        if cumulative > limit:
            break
        rank = k + 1  # P(B <= k) is small enough, so l = k + 1 is admissible
    return rank if rank >= 1 else None


def median_ci(
    sorted_values: Sequence[float], confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float] | None:
    """The median's distribution-free confidence interval from already sorted values."""
    if not sorted_values:
        return None
    rank = median_ci_rank(len(sorted_values), confidence)
    if rank is None:
        return None
    return sorted_values[rank - 1], sorted_values[len(sorted_values) - rank]


def relative_half_width(interval: tuple[float, float] | None, median: float) -> float:
    """Half the interval's width over the median; infinite when there is no interval yet."""
    if interval is None or median <= 0:
        return math.inf
    return (interval[1] - interval[0]) / 2.0 / median


def sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1 in the denominator); 0 for a single value."""
    if len(values) < 2:
        return 0.0
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))
