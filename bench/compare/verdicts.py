"""Per-case verdicts from raw samples: `faster`, `slower`, `same` or `inconclusive`.

The ratio is NEW's median over BASE's (above 1: slower). Its 95% interval comes from a seeded
percentile bootstrap (each side resampled on its own, the medians' ratio taken each time), and a
two-sided Mann-Whitney U test asks whether the two sets of samples differ at all. The rules, as
asv's `--factor` with a significance test:

- `slower` / `faster`: the difference is significant (U test p < alpha) **and** the whole
  interval lies beyond the threshold (above 1 + t, or below 1 / (1 + t)). A point estimate just
  past the threshold is not enough: the interval covers only the noise within each run, and two
  runs of an unchanged model differ by a few percent more than that;
- `same`: the whole interval lies inside [1 / (1 + t), 1 + t]: any change is smaller than t;
- `inconclusive`: anything else, and always when either side is flagged noisy or contended, or
  lacks samples, since then no interval can be trusted.

Two identical sets of samples (a run compared with itself) are `same` without further test: no
resampling can show a difference that the data do not hold. A regression is *confident* beyond
a percentage when the interval's lower end exceeds it, which is what `--fail-on-regression` gates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu

from bench.compare.sources import CaseKey, RunSamples, SideCase

VERDICTS = ("faster", "slower", "same", "inconclusive")
DEFAULT_THRESHOLD = 0.10
ALPHA = 0.05
CONFIDENCE = 0.95
RESAMPLES = 2000
SEED = 20240601  # fixed: the same two runs always get the same interval
_CHUNK_VALUES = 2_000_000  # bootstrap in chunks so thousands of samples stay within memory


@dataclass(frozen=True)
class SampleComparison:
    """The statistics of one case's two sample sets."""

    verdict: str
    reason: str
    base_median_ms: float | None = None
    new_median_ms: float | None = None
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None


@dataclass(frozen=True)
class CaseComparison:
    """One matched case: its timing verdict and its exact figures on both sides."""

    base: SideCase
    new: SideCase
    timing: SampleComparison

    @property
    def key(self) -> CaseKey:
        return self.base.key

    @property
    def verdict(self) -> str:
        return self.timing.verdict

    def exact_changes(self) -> list[tuple[str, int | None, int | None]]:
        """Params, MACs and peak memory are deterministic: any difference is a real change."""
        pairs = [
            ("params", self.base.params, self.new.params),
            ("MACs", self.base.macs, self.new.macs),
            ("peak memory (bytes)", self.base.peak_memory_bytes, self.new.peak_memory_bytes),
        ]
        return [(name, old, new) for name, old, new in pairs if old != new]


@dataclass(frozen=True)
class Comparison:
    base: RunSamples
    new: RunSamples
    threshold: float
    cases: tuple[CaseComparison, ...]
    added: tuple[SideCase, ...]
    removed: tuple[SideCase, ...]

    def environment_differences(self) -> list[tuple[str, str, str]]:
        names = [n for n in self.base.environment if n in self.new.environment]
        return [
            (n, self.base.environment[n], self.new.environment[n])
            for n in names
            if self.base.environment[n] != self.new.environment[n]
        ]

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.cases) for v in VERDICTS}


def _medians(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows_per_chunk = max(1, _CHUNK_VALUES // len(samples))
    medians = []
    for start in range(0, RESAMPLES, rows_per_chunk):
        rows = min(rows_per_chunk, RESAMPLES - start)
        picks = rng.integers(0, len(samples), size=(rows, len(samples)))
        medians.append(np.median(samples[picks], axis=1))
    return np.concatenate(medians)


def bootstrap_ratio_ci(
    base: Sequence[float], new: Sequence[float], seed: int = SEED
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(new) / median(base)."""
    rng = np.random.default_rng(seed)
    base_medians = _medians(np.asarray(base, dtype=float), rng)
    new_medians = _medians(np.asarray(new, dtype=float), rng)
    ratios = new_medians / base_medians
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


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


def _flag_reason(base: SideCase, new: SideCase) -> str:
    for side, case in (("BASE", base), ("NEW", new)):
        if case.contended:
            return f"{side} ran contended"
        if case.steady is False:
            return f"{side} did not reach a steady state before sampling"
        if case.noisy:
            return f"{side} is noisy (IQR > 10% of median)"
    return ""


def compare_samples(
    base: SideCase, new: SideCase, threshold: float = DEFAULT_THRESHOLD
) -> SampleComparison:
    """The verdict on one case's latency, with the figures behind it."""
    for side, case in (("BASE", base), ("NEW", new)):
        if case.status != "ok" or len(case.samples_ms) < 2:
            why = f"{side} is {case.status}" if case.status != "ok" else f"{side} has no samples"
            return SampleComparison("inconclusive", why)
        if not all(math.isfinite(v) and v > 0 for v in case.samples_ms):
            # a latency of 0 or less (a broken clock, an edited file) has no ratio to take
            why = f"{side} has impossible samples (zero, negative or not finite)"
            return SampleComparison("inconclusive", why)
    if base.shape and new.shape and base.shape != new.shape:
        return SampleComparison("inconclusive", f"input shape {base.shape} vs {new.shape}")
    base_median = float(np.median(base.samples_ms))
    new_median = float(np.median(new.samples_ms))
    ratio = new_median / base_median
    if sorted(base.samples_ms) == sorted(new.samples_ms):
        return SampleComparison(
            "same", "identical samples", base_median, new_median, ratio, ratio, ratio, 1.0
        )
    low, high = bootstrap_ratio_ci(base.samples_ms, new.samples_ms)
    p_value = float(mannwhitneyu(base.samples_ms, new.samples_ms, alternative="two-sided").pvalue)
    figures = (base_median, new_median, ratio, low, high, p_value)
    upper, lower = 1 + threshold, 1 / (1 + threshold)
    flagged = _flag_reason(base, new)
    if flagged:
        return SampleComparison("inconclusive", flagged, *figures)
    significant = p_value < ALPHA and (low > 1 or high < 1)
    if significant and low > upper:
        return SampleComparison("slower", "significant, beyond threshold", *figures)
    if significant and high < lower:
        return SampleComparison("faster", "significant, beyond threshold", *figures)
    if lower <= low and high <= upper:
        return SampleComparison("same", "interval inside threshold", *figures)
    if significant:
        why = "significant but within threshold; interval reaches past it"
    else:
        why = "not significant; interval reaches past threshold"
    return SampleComparison("inconclusive", why, *figures)


def compare_runs(
    base: RunSamples, new: RunSamples, threshold: float = DEFAULT_THRESHOLD
) -> Comparison:
    """Match cases by key (in BASE's run order) and judge each; list added and removed ones."""
    new_by_key = {c.key: c for c in new.cases}
    base_keys = {c.key for c in base.cases}
    matched = tuple(
        CaseComparison(b, new_by_key[b.key], compare_samples(b, new_by_key[b.key], threshold))
        for b in base.cases
        if b.key in new_by_key
    )
    return Comparison(
        base=base,
        new=new,
        threshold=threshold,
        cases=matched,
        added=tuple(c for c in new.cases if c.key not in base_keys),
        removed=tuple(c for c in base.cases if c.key not in new_by_key),
    )


def device_mismatch(base: RunSamples, new: RunSamples) -> str:
    """'' when every device family both runs used is the same hardware, else what differs."""
    used_base = {c.key.device.split(":")[0] for c in base.cases}
    used_new = {c.key.device.split(":")[0] for c in new.cases}
    differences = [
        f"{family}: {base.hardware[family]} vs {new.hardware[family]}"
        for family in sorted(used_base & used_new)
        if family in base.hardware
        and family in new.hardware
        and base.hardware[family] != new.hardware[family]
    ]
    return "; ".join(differences)


def regressions_beyond(comparison: Comparison, fraction: float) -> list[CaseComparison]:
    """Cases confidently slower by more than `fraction`, whatever --threshold made of them: the
    ratio's interval starts past 1 + fraction, the difference is significant and neither side is
    flagged (noisy, contended, not steady). So `--fail-on-regression 5` fails an 8% slowdown
    with a tight interval even where the 10% threshold called it `same`."""
    return [
        c
        for c in comparison.cases
        if c.timing.ci_low is not None
        and c.timing.ci_low > 1 + fraction
        and c.timing.p_value is not None
        and c.timing.p_value < ALPHA
        and not _flag_reason(c.base, c.new)
    ]
