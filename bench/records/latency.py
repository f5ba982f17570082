"""Latency statistics: computed once, from the raw samples, when the record is built.

Median and IQR are robust to the preemptions a shared machine inflicts; the median's
confidence interval (order statistics, no distribution assumed) says how precisely it is known.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import (
    DEFAULT_CONFIDENCE,
    median_ci,
    percentile,
    relative_half_width,
    sample_std,
)

NOISY_IQR_FRACTION = 0.10
"""IQR/median above this marks a row `noisy`: medians of such rows need care when compared."""
LAUNCH_BOUND_RATIO = 1.5
"""CUDA host wall time over device time above this marks a row `launch_bound`."""


@dataclass(frozen=True)
class LatencyStats:
    """Robust summary of per-iteration latencies (milliseconds), computed from the raw samples.

    Each raw sample is one timed block divided by `iterations_per_sample` (blocks make the clock's
    own cost negligible for fast calls). On CUDA the samples are device time from CUDA events and
    `wall_samples_ms` the synchronized host wall time of the same blocks. The median's interval is
    distribution-free (see bench/stats.py); `precision_met` says whether its relative half-width
    reached `precision_target`.
    """

    samples_ms: tuple[float, ...]
    median_ms: float
    iqr_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    warmup_iterations: int = 0
    p99_ms: float | None = None
    std_ms: float | None = None
    ci_low_ms: float | None = None
    ci_high_ms: float | None = None
    confidence: float = DEFAULT_CONFIDENCE
    iterations_per_sample: int = 1
    first_call_ms: float | None = None
    precision_target: float | None = None
    wall_samples_ms: tuple[float, ...] = ()
    wall_median_ms: float | None = None
    measure_s: float | None = None  # host time the whole measurement took, first call included

    @classmethod
    def from_samples(
        cls,
        samples_ms: Sequence[float],
        warmup_iterations: int = 0,
        *,
        iterations_per_sample: int = 1,
        first_call_ms: float | None = None,
        precision_target: float | None = None,
        wall_samples_ms: Sequence[float] = (),
        confidence: float = DEFAULT_CONFIDENCE,
        measure_s: float | None = None,
    ) -> LatencyStats:
        if not samples_ms:
            raise ValueError("no latency samples")
        ordered = sorted(samples_ms)
        interval = median_ci(ordered, confidence)
        walls = sorted(wall_samples_ms)
        return cls(
            samples_ms=tuple(samples_ms),
            median_ms=percentile(ordered, 50),
            iqr_ms=percentile(ordered, 75) - percentile(ordered, 25),
            p90_ms=percentile(ordered, 90),
            min_ms=ordered[0],
            mean_ms=math.fsum(ordered) / len(ordered),
            warmup_iterations=warmup_iterations,
            p99_ms=percentile(ordered, 99),
            std_ms=sample_std(ordered),
            ci_low_ms=None if interval is None else interval[0],
            ci_high_ms=None if interval is None else interval[1],
            confidence=confidence,
            iterations_per_sample=iterations_per_sample,
            first_call_ms=first_call_ms,
            precision_target=precision_target,
            wall_samples_ms=tuple(wall_samples_ms),
            wall_median_ms=percentile(walls, 50) if walls else None,
            measure_s=measure_s,
        )

    @property
    def relative_half_width(self) -> float:
        """Half the median's interval width over the median (inf without an interval)."""
        if self.ci_low_ms is None or self.ci_high_ms is None:
            return relative_half_width(None, self.median_ms)
        return relative_half_width((self.ci_low_ms, self.ci_high_ms), self.median_ms)

    @property
    def precision_met(self) -> bool | None:
        """Whether the median's interval is as tight as asked; None when nothing was asked."""
        if self.precision_target is None:
            return None
        return self.relative_half_width <= self.precision_target

    @property
    def noisy(self) -> bool:
        return self.median_ms > 0 and self.iqr_ms / self.median_ms > NOISY_IQR_FRACTION

    @property
    def launch_bound(self) -> bool | None:
        """CUDA only: the host needs much longer than the device, so launches are the limit."""
        if self.wall_median_ms is None or self.median_ms <= 0:
            return None
        return self.wall_median_ms > LAUNCH_BOUND_RATIO * self.median_ms


def latency_cells(lat: LatencyStats | None) -> dict[str, Any]:
    """The results.csv cells that come from a latency measurement (empty without one)."""
    if lat is None:
        return {}
    return {
        "latency_median_ms": lat.median_ms,
        "latency_iqr_ms": lat.iqr_ms,
        "latency_p90_ms": lat.p90_ms,
        "latency_min_ms": lat.min_ms,
        "latency_mean_ms": lat.mean_ms,
        "samples": len(lat.samples_ms),
        "latency_p99_ms": lat.p99_ms,
        "latency_std_ms": lat.std_ms,
        "latency_ci_low_ms": lat.ci_low_ms,
        "latency_ci_high_ms": lat.ci_high_ms,
        "precision_target": lat.precision_target,
        "precision_met": lat.precision_met,
        "first_call_ms": lat.first_call_ms,
        "warmup_iterations": lat.warmup_iterations,
        "iterations_per_sample": lat.iterations_per_sample,
        "wall_median_ms": lat.wall_median_ms,
        "launch_bound": lat.launch_bound,
        "noisy": lat.noisy,
    }
