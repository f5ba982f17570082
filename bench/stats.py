"""Distribution-free statistics for latency samples: the median's confidence interval and spread.

Latency samples are skewed (a floor set by the hardware, a long tail from interrupts and other
processes), so a mean +- t * sd interval would be wrong in both directions. The median's
interval used here needs no distribution at all: for n independent samples, the number that fall
below the true median is Binomial(n, 1/2), so the order statistics x_(l) and x_(n-l+1) (1-based)
bracket the true median with probability 1 - 2 * P(B <= l - 1). We take the largest l whose
coverage is at least the requested confidence (the narrowest such symmetric-rank interval).

The rank comes from scipy's exact binomial distribution at every n. With fewer than 6 samples no
pair of order statistics reaches 95% coverage, and the interval is None, not a guess.

Blocks: consecutive samples share the machine's state, so every interval is computed from block
medians (`block_medians`), and with several worker processes from a hierarchical bootstrap
(processes, then blocks). The one verdict rule every verdict in bench comes from
(`interval_verdict`: `bench compare`, `bench ab`, the pytest gate, the experiments) lives here,
with the paired ratio that interleaved measurements feed it: when BASE and NEW alternate block
by block, drift moves both sides of a round alike, so the per-round ratio cancels it; the effect
is the geometric mean of those ratios, its 95% interval a seeded bootstrap over rounds of the
mean log ratio, beside the Wilcoxon signed-rank test on the log ratios. When the rounds come from
several worker pairs (`bench ab --processes N`), the bootstrap resamples the pairs, then the
rounds within each (`paired_ratio_grouped`), for the same reason as the processes above.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

DEFAULT_CONFIDENCE = 0.95


@lru_cache(maxsize=4096)
def median_ci_rank(n: int, confidence: float = DEFAULT_CONFIDENCE) -> int | None:
    """The 1-based lower rank l of the median's interval [x_(l), x_(n-l+1)], or None if none.

    Cached: the sampling loop asks after every sample, and the binomial quantile costs ~70 us,
    more than a small model's forward pass, taken out of the case's budget.
    """
    if n < 1 or not 0.0 < confidence < 1.0:
        raise ValueError(f"need n >= 1 and 0 < confidence < 1, got n={n}, confidence={confidence}")
    # imported here: scipy.stats takes ~1 s to import, which a counts-only run never needs
    from scipy.stats import binom

    tail = (1.0 - confidence) / 2.0
    # Largest k with P(B <= k) <= tail: ppf gives the smallest k with P(B <= k) >= tail.
    k = int(binom.ppf(tail, n, 0.5))
    if binom.cdf(k, n, 0.5) > tail:
        k -= 1
    rank = k + 1  # P(B <= l - 1) is small enough, so l = k + 1 is admissible
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


def percentile(values: Sequence[float], q: float) -> float:
    """numpy's linear interpolation between closest ranks, q in [0, 100]."""
    if len(values) == 0:
        raise ValueError("percentile of no values")
    return float(np.percentile(values, q))


def median(values: Sequence[float]) -> float:
    """The median, for the sampling loop's hot path (numpy's percentile costs ~25 us a call)."""
    return float(statistics.median(values))


def sample_std(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1 in the denominator); 0 for a single value."""
    return statistics.stdev(values) if len(values) >= 2 else 0.0


def block_medians(samples: Sequence[float], samples_per_block: int) -> list[float]:
    """The median of each run of `samples_per_block` consecutive samples (a short last run
    included): the block summaries every interval is computed from. Consecutive samples share
    the machine's state, so a block, not a sample, is the unit that is close to independent."""
    size = max(1, int(samples_per_block))
    if size == 1:
        return list(samples)
    return [median(samples[i : i + size]) for i in range(0, len(samples), size)]


def grouped_block_medians(
    samples: Sequence[float], processes: Sequence[tuple[int, int]]
) -> list[list[float]]:
    """Each worker process's block medians: `processes` holds, per process in run order, how
    many of the samples it took and how many samples make one of its blocks."""
    groups, start = [], 0
    for count, per_block in processes:
        groups.append(block_medians(samples[start : start + count], per_block))
        start += count
    return groups


def hierarchical_medians(
    groups: Sequence[Sequence[float]], resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Bootstrap medians that resample where the variance lives: the processes with
    replacement, then the blocks within each chosen process (Kalibera & Jones); each replicate's
    statistic is the median of the pooled blocks. Processes of unequal block counts are padded
    with NaN, which the median skips."""
    width = max(len(g) for g in groups)
    table = np.full((len(groups), width), np.nan)
    for index, group in enumerate(groups):
        table[index, : len(group)] = group
    sizes = np.array([len(g) for g in groups])
    chosen = rng.integers(0, len(groups), size=(resamples, len(groups)))  # processes
    # within each chosen process, `width` draws among its own blocks (NaN beyond its count)
    draws = np.floor(rng.random((resamples, len(groups), width)) * sizes[chosen][..., None])
    picked = table[chosen[..., None], draws.astype(int)]
    mask = np.arange(width)[None, None, :] < sizes[chosen][..., None]
    picked = np.where(mask, picked, np.nan)
    return np.nanmedian(picked.reshape(resamples, -1), axis=1)


HIERARCHICAL_RESAMPLES = 2000
HIERARCHICAL_SEED = 20240601


def hierarchical_median_ci(
    groups: Sequence[Sequence[float]], confidence: float = DEFAULT_CONFIDENCE
) -> tuple[float, float] | None:
    """The pooled median's percentile interval from hierarchical resampling (seeded, so one
    record always gives one interval); None with fewer than two processes' blocks."""
    if len(groups) < 2 or any(len(g) == 0 for g in groups):
        return None
    rng = np.random.default_rng(HIERARCHICAL_SEED)
    medians = hierarchical_medians(groups, HIERARCHICAL_RESAMPLES, rng)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


PAIRED_CONFIDENCE = 0.95
PAIRED_RESAMPLES = 4000
PAIRED_SEED = 20240601
MIN_ROUNDS = 6  # fewer paired rounds give no interval worth quoting
VERDICTS = ("faster", "slower", "same", "inconclusive")


def interval_verdict(
    low: float, high: float, threshold: float, noise_floor: float = 0.0
) -> tuple[str, str]:
    """The verdict a ratio interval [low, high] (NEW / BASE) supports, and why.

    `slower` when low > 1 + d, `faster` when high < 1 / (1 + d), with d the larger of the
    threshold and the noise floor (a change below the floor is never called); `same` when the
    whole interval lies inside [1 / (1 + t), 1 + t]; `inconclusive` otherwise.
    """
    called = max(threshold, noise_floor)
    if low > 1 + called:
        return "slower", "interval beyond threshold"
    if high < 1 / (1 + called):
        return "faster", "interval beyond threshold"
    if 1 / (1 + threshold) <= low and high <= 1 + threshold:
        return "same", "interval inside threshold"
    if noise_floor > threshold and (low > 1 + threshold or high < 1 / (1 + threshold)):
        return "inconclusive", "beyond threshold but within this machine's noise floor"
    return "inconclusive", "interval reaches past threshold"


@dataclass(frozen=True)
class PairedRatio:
    """NEW/BASE as the geometric mean of per-round ratios, its interval, and the test's p."""

    rounds: int
    ratio: float
    ci_low: float
    ci_high: float
    p_value: float | None


def paired_ratio(
    base: Sequence[float], new: Sequence[float], seed: int = PAIRED_SEED
) -> PairedRatio:
    """The paired ratio of per-round block times; base[i] and new[i] ran in the same round.

    Raises ValueError for unequal lengths, fewer than MIN_ROUNDS rounds, or a time that is not a
    finite positive number (no ratio can be taken of it).
    """
    return paired_ratio_grouped([base], [new], seed)


def paired_ratio_grouped(
    base_groups: Sequence[Sequence[float]],
    new_groups: Sequence[Sequence[float]],
    seed: int = PAIRED_SEED,
) -> PairedRatio:
    """The paired ratio of rounds that came from several worker pairs: base_groups[p][i] and
    new_groups[p][i] ran in round i of pair p (a fresh BASE process and a fresh NEW process).

    The ratio is the geometric mean over all rounds and p the Wilcoxon test over all rounds, as
    for one pair. The interval resamples where the variance lives: what is fixed for a
    process's life (memory layout, thread placement) is shared by all of a pair's rounds, so
    the pairs are drawn with replacement, then the rounds within each drawn pair, and each
    replicate's statistic is the mean log ratio of the rounds drawn (Kalibera & Jones). Pairs
    that disagree widen the interval instead of passing for a change. One pair (or every
    round in one group) is paired_ratio's plain bootstrap over rounds, draw for draw. A pair
    with no rounds is left out.

    Raises ValueError as paired_ratio does, counting the rounds of all pairs together.
    """
    if len(base_groups) != len(new_groups):
        raise ValueError(f"{len(base_groups)} BASE pairs vs {len(new_groups)} NEW pairs")
    for base, new in zip(base_groups, new_groups, strict=True):
        if len(base) != len(new):
            raise ValueError(f"{len(base)} BASE rounds vs {len(new)} NEW rounds")
    groups = [(base, new) for base, new in zip(base_groups, new_groups, strict=True) if len(base)]
    rounds = sum(len(base) for base, _ in groups)
    if rounds < MIN_ROUNDS:
        raise ValueError(f"{rounds} paired rounds; at least {MIN_ROUNDS} are needed")
    values = [v for base, new in groups for v in (*base, *new)]
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise ValueError("impossible block times (zero, negative or not finite)")
    log_groups = [
        np.log(np.asarray(new, dtype=float)) - np.log(np.asarray(base, dtype=float))
        for base, new in groups
    ]
    logs = np.concatenate(log_groups)
    rng = np.random.default_rng(seed)
    if len(log_groups) == 1:
        picks = rng.integers(0, len(logs), size=(PAIRED_RESAMPLES, len(logs)))
        means = logs[picks].mean(axis=1)
    else:
        means = _hierarchical_means(log_groups, rng)
    tail = 100 * (1 - PAIRED_CONFIDENCE) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return PairedRatio(
        rounds=len(logs),
        ratio=float(math.exp(logs.mean())),
        ci_low=float(math.exp(low)),
        ci_high=float(math.exp(high)),
        p_value=_wilcoxon_p(logs),
    )


_CHUNK_VALUES = 4_000_000  # values drawn at once: bounds the memory of a long run's bootstrap


def _hierarchical_means(groups: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """PAIRED_RESAMPLES bootstrap means: the groups drawn with replacement, then within each
    drawn group as many of its own values as it holds, the mean taken over all values drawn."""
    sizes = np.array([len(g) for g in groups])
    width = int(sizes.max())
    table = np.zeros((len(groups), width))
    for index, group in enumerate(groups):
        table[index, : len(group)] = group
    rows_per_chunk = max(1, _CHUNK_VALUES // (len(groups) * width))
    means = []
    for start in range(0, PAIRED_RESAMPLES, rows_per_chunk):
        rows = min(rows_per_chunk, PAIRED_RESAMPLES - start)
        chosen = rng.integers(0, len(groups), size=(rows, len(groups)))  # the pairs
        chosen_sizes = sizes[chosen]
        # within each chosen pair, `width` draws among its own rounds; those past its count
        # are masked out
        draws = np.floor(rng.random((rows, len(groups), width)) * chosen_sizes[..., None])
        picked = table[chosen[..., None], draws.astype(int)]
        mask = np.arange(width)[None, None, :] < chosen_sizes[..., None]
        means.append(np.where(mask, picked, 0.0).sum(axis=(1, 2)) / chosen_sizes.sum(axis=1))
    return np.concatenate(means)


def _wilcoxon_p(logs: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p of the log ratios; None when every ratio is exactly 1."""
    if not np.any(logs != 0):
        return None
    from scipy.stats import wilcoxon

    return float(wilcoxon(logs, zero_method="wilcox", alternative="two-sided").pvalue)


def suspects_reason(suspects: Sequence[tuple[str, float, str]]) -> str:
    """The gate's words for inconclusive cases whose median ratio is past its limit."""
    if not suspects:
        return ""
    label, ratio, why = suspects[0]
    more = f" and {len(suspects) - 1} more" if len(suspects) > 1 else ""
    return (
        f"{len(suspects)} inconclusive case(s) slower than the gate by their medians: "
        f"`{label}` {ratio:.3g}x ({why}){more}"
    )
