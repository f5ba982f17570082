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
NOISY_CI_MULTIPLE = 3.0
"""A median's CI half-width above this many times the precision target also marks it `noisy`.

The spread (IQR) can be small while the interval is wide: a bimodal run, or a few samples far
from the rest, moves the order statistics that bound the median without moving the quartiles
(a 2,240 ms median with a CI of 265-2,347 ms had IQR/median 5%). Missing the target by a little
is a short budget; missing it threefold (a 3% half-width for the default 1% target, beyond the
harness's 3% agreement with torch.utils.benchmark) means the samples disagree too much to quote.
"""
CONTENDED_SHARE = 0.10
"""Other processes' CPU use (or foreign threads' of this process: `Contention`), as a share of the
cores the case needs, above which it is contended.

Background daemons take a few percent of one core; a competitor that takes a tenth of the
case's cores slows it by about as much or more (an intra-op parallel region waits for its slowest
thread, and a preempted thread loses its cache), ten times the default 1% precision target. Below
a tenth the reading is within what /proc/stat's 10 ms ticks can resolve over a short phase.
"""
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
    # False when the budget ran out before warmup reached a steady state (the samples then
    # include the slow start); None when not known (records built without the engine).
    steady: bool | None = None
    contention: Contention | None = None  # what other processes did while the samples ran

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
        steady: bool | None = None,
        contention: Contention | None = None,
    ) -> LatencyStats:
        if not samples_ms:
            raise ValueError("no latency samples")
        ordered = sorted(samples_ms)
        # Samples that include a slow start have no interval worth writing: it would bracket
        # the start-up, not the steady median (an empty cell beats a wrong number).
        interval = None if steady is False else median_ci(ordered, confidence)
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
            steady=steady,
            contention=contention,
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
        if self.steady is False:  # an interval over a slow start says nothing about steady speed
            return False
        return self.relative_half_width <= self.precision_target

    @property
    def noisy(self) -> bool:
        """IQR/median above NOISY_IQR_FRACTION, or the median's CI half-width above
        NOISY_CI_MULTIPLE times the precision target (no interval yet counts as wide)."""
        if self.median_ms <= 0:
            return False
        if self.iqr_ms / self.median_ms > NOISY_IQR_FRACTION:
            return True
        if self.precision_target is None or self.ci_low_ms is None:
            return False
        return self.relative_half_width > NOISY_CI_MULTIPLE * self.precision_target

    @property
    def contended(self) -> bool | None:
        """Other processes took more than CONTENDED_SHARE of the case's cores (None: unknown)."""
        return None if self.contention is None else self.contention.contended

    @property
    def trustworthy(self) -> bool:
        """Steady, not noisy, not contended: a median that may be compared with another."""
        return self.steady is not False and not self.noisy and self.contended is not True

    def doubts(self) -> list[str]:
        """Why this median should not be compared, in the words report and terminal use."""
        reasons = []
        if self.steady is False:
            reasons.append("not steady: raise --budget")
        if self.contended:
            reasons.append("contended")
        if self.noisy:
            reasons.append("noisy")
        return reasons

    def precision_label(self) -> str:
        """What the +-% is, or why there is none: '95% CI +-1.5%', 'not steady: raise --budget'."""
        if self.steady is False:
            return "not steady: raise --budget"
        if self.ci_low_ms is None:
            return "too few samples for a CI"
        return f"{100 * self.confidence:g}% CI +-{100 * self.relative_half_width:.1f}%"

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
        "steady": lat.steady,
        "others_cpu_share": None if lat.contention is None else lat.contention.others_cpu_share,
        "load_avg": None if lat.contention is None else lat.contention.load_avg,
        "contended": lat.contended,
    }


@dataclass(frozen=True)
class Contention:
    """What else competed for the CPU while a case's samples were taken.

    `others_cpu_s`: CPU seconds used by every other process (system-wide busy time, hypervisor
    steal included, minus this process's own) over `wall_s`. Only what does not fit on the cores
    the case leaves free competes with it, so `others_cpu_share` is that excess over the case's
    core-seconds (`cores_needed x wall_s`).

    `foreign_threads_cpu_s`: CPU seconds used by threads of this very process that were not
    doing the measured work (bench/measure/contention.py says which those are), named in
    `foreign_threads` ("name (tid N)", the busiest first). They share the interpreter lock with
    the measuring thread, so cores left free do not help: all of it counts, as
    `foreign_threads_share` of the case's core-seconds.

    `contended` when either share passes CONTENDED_SHARE by at least MIN_JUDGED_EXCESS_S. Every
    phase is judged, however short: CPU time is counted in 10 ms ticks, so a short phase's share
    is coarse, and the tick floor keeps a short quiet phase False rather than flagging noise.
    """

    wall_s: float
    others_cpu_s: float
    cores: int
    cores_needed: int
    load_avg: float | None  # the 1-minute load average at the end of the phase
    foreign_threads_cpu_s: float = 0.0
    foreign_threads: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # run.json stores the names as a JSON list; the record holds a tuple either way
        object.__setattr__(self, "foreign_threads", tuple(self.foreign_threads))

    @property
    def others_cpu_share(self) -> float | None:
        needed_s = self.cores_needed * self.wall_s
        if needed_s <= 0:
            return None
        return self._others_excess_s / needed_s

    @property
    def foreign_threads_share(self) -> float | None:
        needed_s = self.cores_needed * self.wall_s
        if needed_s <= 0:
            return None
        return self.foreign_threads_cpu_s / needed_s

    @property
    def _others_excess_s(self) -> float:
        spare_s = max(self.cores - self.cores_needed, 0) * self.wall_s
        return max(self.others_cpu_s - spare_s, 0.0)

    @property
    def others_contended(self) -> bool:
        return _competes(self.others_cpu_share, self._others_excess_s)

    @property
    def threads_contended(self) -> bool:
        return _competes(self.foreign_threads_share, self.foreign_threads_cpu_s)

    @property
    def contended(self) -> bool:
        """Other processes or foreign threads of this one took more than CONTENDED_SHARE of the
        case's cores, and at least MIN_JUDGED_EXCESS_S of CPU time (False for a phase of no
        length: nothing can have competed with it)."""
        return self.others_contended or self.threads_contended

    @property
    def reason(self) -> str | None:
        """Who competed, in words (None when not contended)."""
        parts = []
        if self.others_contended:
            parts.append(f"other processes took {100 * (self.others_cpu_share or 0):.0f}%")
        if self.threads_contended:
            names = ", ".join(self.foreign_threads) or "unnamed"
            share = 100 * (self.foreign_threads_share or 0)
            parts.append(f"threads of this process took {share:.0f}% ({names})")
        if not parts:
            return None
        return " and ".join(parts) + " of the cores the case needs"


def _competes(share: float | None, cpu_s: float) -> bool:
    # half a tick of slack: the readings are whole ticks, their float differences are not exact
    floor_met = cpu_s > MIN_JUDGED_EXCESS_S - TICK_S / 2
    return share is not None and floor_met and share > CONTENDED_SHARE


TICK_S = 0.01
"""The resolution of the kernel's CPU-time accounting (/proc/stat and per-thread times count
USER_HZ = 100 ticks a second)."""
MIN_JUDGED_EXCESS_S = 2 * TICK_S
"""The least competing CPU time that can make a phase contended: two ticks, so that a reading's
own rounding (up to a tick at either end) never does on its own. A phase shorter than
MIN_JUDGED_EXCESS_S / CONTENDED_SHARE core-seconds (0.2) is judged on this floor, not the share."""


def latency_ratio(
    slow: LatencyStats, fast: LatencyStats
) -> tuple[float, float | None, float | None]:
    """slow.median / fast.median and its interval from the two medians' CIs (None without CIs).

    The bounds pair the extremes (slow's low over fast's high, slow's high over fast's low), so
    the ratio's interval covers at least as often as the two medians' intervals together.
    """
    ratio = slow.median_ms / fast.median_ms
    if None in (slow.ci_low_ms, slow.ci_high_ms, fast.ci_low_ms, fast.ci_high_ms):
        return ratio, None, None
    assert slow.ci_low_ms is not None and slow.ci_high_ms is not None
    assert fast.ci_low_ms is not None and fast.ci_high_ms is not None
    low = slow.ci_low_ms / fast.ci_high_ms if fast.ci_high_ms > 0 else None
    high = slow.ci_high_ms / fast.ci_low_ms if fast.ci_low_ms > 0 else None
    return ratio, low, high


def intervals_overlap(a: LatencyStats, b: LatencyStats) -> bool:
    """True when the two medians' CIs overlap, or either has none: no clear difference."""
    if None in (a.ci_low_ms, a.ci_high_ms, b.ci_low_ms, b.ci_high_ms):
        return True
    assert a.ci_low_ms is not None and a.ci_high_ms is not None
    assert b.ci_low_ms is not None and b.ci_high_ms is not None
    return a.ci_low_ms <= b.ci_high_ms and b.ci_low_ms <= a.ci_high_ms


def latency_from_entry(entry: dict[str, Any]) -> LatencyStats | None:
    """The latency statistics of a run.json entry, recomputed from its raw samples."""
    samples = entry.get("latency_samples_ms") or []
    if not samples:
        return None
    extra: dict[str, Any] = {}
    if entry.get("latency_ci_confidence") is not None:
        extra["confidence"] = entry["latency_ci_confidence"]
    contention = entry.get("contention")
    if isinstance(contention, dict):
        extra["contention"] = Contention(**contention)
    return LatencyStats.from_samples(
        samples,
        entry.get("warmup_iterations") or 0,
        iterations_per_sample=entry.get("iterations_per_sample") or 1,
        first_call_ms=entry.get("first_call_ms"),
        precision_target=entry.get("precision_target"),
        wall_samples_ms=entry.get("latency_wall_samples_ms") or (),
        measure_s=entry.get("latency_measure_s"),
        steady=entry.get("steady"),
        **extra,
    )
