"""Paired statistics for interleaved A/B measurements (`bench ab`, interleaved experiments).

When BASE and NEW alternate block by block, machine drift moves both sides of a round alike, so
the per-round ratio NEW/BASE cancels it. The effect is the geometric mean of those ratios; its
95% interval comes from a seeded bootstrap over rounds of the mean log ratio, and the Wilcoxon
signed-rank test on the log ratios says whether they centre away from 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 4000
SEED = 20240601
MIN_ROUNDS = 6  # fewer paired rounds give no interval worth quoting


@dataclass(frozen=True)
class PairedRatio:
    """NEW/BASE as the geometric mean of per-round ratios, its interval, and the test's p."""

    rounds: int
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float | None


def paired_ratio(base: Sequence[float], new: Sequence[float], seed: int = SEED) -> PairedRatio:
    """The paired ratio of per-round block times; base[i] and new[i] ran in the same round.

    Raises ValueError for unequal lengths, fewer than MIN_ROUNDS rounds, or a time that is not a
    finite positive number (no ratio can be taken of it).
    """
    if len(base) != len(new):
        raise ValueError(f"{len(base)} BASE rounds vs {len(new)} NEW rounds")
    if len(base) < MIN_ROUNDS:
        raise ValueError(f"{len(base)} paired rounds; at least {MIN_ROUNDS} are needed")
    values = [*base, *new]
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError("impossible block times (zero, negative or not finite)")
    logs = np.log(np.asarray(new, dtype=float)) - np.log(np.asarray(base, dtype=float))
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(logs), size=(RESAMPLES, len(logs)))
    means = logs[picks].mean(axis=1)
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return PairedRatio(
        rounds=len(logs),
        ratio=float(math.exp(logs.mean())),
        ci_low=float(math.exp(low)),
        ci_high=float(math.exp(high)),
        p_value=_wilcoxon_p(logs),
    )


def _wilcoxon_p(logs: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p of the log ratios; None when every ratio is exactly 1."""
    if not np.any(logs != 0):
        return None
    from scipy.stats import wilcoxon

    return float(wilcoxon(logs, zero_method="wilcox", alternative="two-sided").pvalue)
