"""Latency statistics: computed once, from the raw samples, when the record is built.

Median and IQR are robust to the preemptions a shared machine inflicts; the median's
confidence interval (order statistics, no distribution assumed) says how precisely it is known.
The interval is computed from block medians, not from single samples: consecutive samples share
the machine's state (a drift window lasts longer than many samples), so ~500 samples taken in
0.4 s and treated as independent gave +-1% intervals that the next run missed by 20%. Blocks
spread over the whole budget let the interval see the drift the run went through.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.stats import (
    DEFAULT_CONFIDENCE,
    block_medians,
    grouped_block_medians,
    hierarchical_median_ci,
    median_ci,
    percentile,
    relative_half_width,
    sample_std,
)
from bench.units import significant

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
MIN_BLOCKS_FOR_DRIFT = 12
"""Fewer blocks than this leave halves too small for a median interval each (6 blocks is the
least that gives a 95% one): `drifting` is then False."""
LAUNCH_BOUND_RATIO = 1.5
"""CUDA host wall time over device time above this marks a row `launch_bound`."""
THROTTLED_CLOCK_FRACTION = 0.75
"""A CUDA sample read below this fraction of the device's default SM clock ran throttled
(nvbench discards such samples; bench keeps them and flags the row `throttled`)."""
ASYMMETRY_LIMIT = 2.0
"""One side of the median's interval longer than this many times the other: quote its ends.

A distribution-free interval is the pair of block medians at two ranks, so it is as lopsided as
the blocks are: a few slow blocks stretch the top alone. `+-X%` (half the width over the median)
then claims a lower bound the interval does not have and halves the upper one: 0.319-8.94 ms
around 0.329 ms read `+-1,310%`, as if the median might be negative. Within 2x, +-% reads the
interval closely enough and stays comparable with the precision target, which is stated in it.
"""


@dataclass(frozen=True)
class LatencyStats:
    """Robust summary of per-iteration latencies (milliseconds), computed from the raw samples.

    Each raw sample is one timed block divided by `iterations_per_sample` (blocks make the clock's
    own cost negligible for fast calls). On CUDA the samples are device time from CUDA events and
    `wall_samples_ms` the synchronized host wall time of the same blocks. Every
    `samples_per_block` consecutive samples form a block; `median_ms` is the median of the block
    medians and its interval is distribution-free over them (see bench/stats.py);
    `precision_met` says whether its relative half-width reached `precision_target`. IQR, p90,
    min, mean and std describe the single samples.
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
    samples_per_block: int = 1  # 1: every sample its own block (records made before blocks)
    block_medians_ms: tuple[float, ...] = ()
    block_cv: float | None = None  # between-block standard deviation over the mean
    block_lag1: float | None = None  # lag-1 autocorrelation of the block medians, in run order
    drifting: bool = False  # the two halves' median intervals do not overlap
    # `--processes N`: per worker process in run order, (samples it took, samples per block);
    # empty for one process. The interval then resamples processes, then blocks within them.
    process_sizes: tuple[tuple[int, int], ...] = ()
    clocks: SmClocks | None = None  # CUDA with NVML: the SM clock beside each sample

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
        samples_per_block: int = 1,
        process_sizes: Sequence[tuple[int, int]] = (),
        clocks: SmClocks | None = None,
    ) -> LatencyStats:
        if not samples_ms:
            raise ValueError("no latency samples")
        ordered = sorted(samples_ms)
        processes = tuple((int(n), int(per)) for n, per in process_sizes)
        if processes and sum(n for n, _ in processes) != len(samples_ms):
            raise ValueError("process sizes do not add up to the samples")
        groups = grouped_block_medians(samples_ms, processes) if len(processes) > 1 else []
        blocks = (
            [b for g in groups for b in g]
            if groups
            else block_medians(samples_ms, samples_per_block)
        )
        ordered_blocks = sorted(blocks)
        # Samples that include a slow start have no interval worth writing: it would bracket
        # the start-up, not the steady median (an empty cell beats a wrong number).
        if steady is False:
            interval = None
        elif groups:
            interval = hierarchical_median_ci(groups, confidence)
        else:
            interval = median_ci(ordered_blocks, confidence)
        if steady is not False:
            interval = _spanning_drift(interval, blocks, confidence)
        median_ms = percentile(ordered_blocks, 50)
        walls = sorted(wall_samples_ms)
        return cls(
            samples_ms=tuple(samples_ms),
            median_ms=median_ms,
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
            samples_per_block=max(1, int(samples_per_block)),
            block_medians_ms=tuple(blocks),
            block_cv=_cv(blocks),
            block_lag1=lag1_autocorrelation(blocks),
            drifting=steady is not False and _drifting(blocks, confidence),
            process_sizes=processes if len(processes) > 1 else (),
            clocks=clocks,
        )

    @property
    def blocks(self) -> int:
        return len(self.block_medians_ms)

    @property
    def processes(self) -> int:
        """Worker processes the samples came from (1 unless `--processes`)."""
        return max(1, len(self.process_sizes))

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
    def throttled(self) -> bool | None:
        """Some samples ran below THROTTLED_CLOCK_FRACTION of the default SM clock (None: no
        clock readings, as on the CPU or without NVML)."""
        return None if self.clocks is None else self.clocks.throttled

    @property
    def trustworthy(self) -> bool:
        """Steady, not noisy, not drifting, not contended, not throttled: a median that may be
        compared."""
        return (
            self.steady is not False
            and not self.noisy
            and not self.drifting
            and self.contended is not True
            and self.throttled is not True
        )

    def doubts(self) -> list[str]:
        """Why this median should not be compared, in the words report and terminal use."""
        reasons = []
        if self.steady is False:
            reasons.append("not steady: raise --budget")
        if self.contended:
            reasons.append("contended")
        if self.throttled:
            reasons.append("throttled")
        if self.noisy:
            reasons.append("noisy")
        if self.drifting:
            reasons.append("drifting")
        return reasons

    @property
    def interval_asymmetric(self) -> bool:
        """One side of the interval is over ASYMMETRY_LIMIT times the other (False: none)."""
        if self.ci_low_ms is None or self.ci_high_ms is None:
            return False
        below, above = self.median_ms - self.ci_low_ms, self.ci_high_ms - self.median_ms
        return max(below, above) > ASYMMETRY_LIMIT * min(below, above)

    def interval_text(self) -> str:
        """The interval as a reader should quote it: `+-1.5%` of the median when its two sides
        are within ASYMMETRY_LIMIT of each other, else its ends, `0.319-8.94 ms`; empty when
        there is none."""
        if self.ci_low_ms is None or self.ci_high_ms is None:
            return ""
        if self.interval_asymmetric:
            return f"{significant(self.ci_low_ms)}-{significant(self.ci_high_ms)} ms"
        return f"+-{significant(100 * self.relative_half_width, 2)}%"

    def precision_label(self) -> str:
        """What the +-% is, or why there is none: '95% CI +-1.5%', 'not steady: raise --budget'."""
        if self.steady is False:
            return "not steady: raise --budget"
        if self.ci_low_ms is None:
            return "too few samples for a CI"
        return f"{100 * self.confidence:g}% CI {self.interval_text()}"

    @property
    def launch_bound(self) -> bool | None:
        """CUDA only: the host needs much longer than the device, so launches are the limit."""
        if self.wall_median_ms is None or self.median_ms <= 0:
            return None
        return self.wall_median_ms > LAUNCH_BOUND_RATIO * self.median_ms


def _cv(blocks: Sequence[float]) -> float | None:
    """Between-block coefficient of variation; None with fewer than two blocks."""
    mean = math.fsum(blocks) / len(blocks) if blocks else 0.0
    if len(blocks) < 2 or mean <= 0:
        return None
    return sample_std(blocks) / mean


def lag1_autocorrelation(values: Sequence[float]) -> float | None:
    """Lag-1 autocorrelation of a series (None under three values or without variance).

    Near 0 when consecutive blocks are independent; clearly positive when they share a slow
    drift, the sign that the blocks are too short for this machine's drift windows.
    """
    if len(values) < 3:
        return None
    mean = math.fsum(values) / len(values)
    centred = [v - mean for v in values]
    variance = math.fsum(c * c for c in centred)
    if variance <= 0:
        return None
    return math.fsum(a * b for a, b in itertools.pairwise(centred)) / variance


def _drifting(blocks: Sequence[float], confidence: float) -> bool:
    """The median intervals of the run's first and second halves of blocks do not overlap: the
    speed moved during the run by more than the blocks' own scatter allows. For independent
    blocks two 95% intervals miss each other well under 1% of the time; a steady trend (a
    machine slowing by 25% over the run) separates them even where the whole run's interval,
    widened by that trend, looks merely wide."""
    return _drift_span(blocks, confidence) is not None


def _drift_span(blocks: Sequence[float], confidence: float) -> tuple[float, float] | None:
    """When the halves' median intervals are disjoint (see `_drifting`), the span from the
    lower end of both to the upper end of both; else None."""
    if len(blocks) < MIN_BLOCKS_FOR_DRIFT:
        return None
    half = len(blocks) // 2
    first = median_ci(sorted(blocks[:half]), confidence)
    second = median_ci(sorted(blocks[-half:]), confidence)
    if first is None or second is None:
        return None
    if first[1] < second[0] or second[1] < first[0]:
        return min(first[0], second[0]), max(first[1], second[1])
    return None


def _spanning_drift(
    interval: tuple[float, float] | None, blocks: Sequence[float], confidence: float
) -> tuple[float, float] | None:
    """The median's interval, widened over both halves of a drifting run.

    A run whose speed moved (an H200's in-place op read +-0.7% while its halves disagreed) has
    no single median to be that sure of: its interval covers where each half was, so a tight
    interval is never quoted for a moving target, and `precision_met` and compare see it wide.
    """
    span = _drift_span(blocks, confidence)
    if interval is None or span is None:
        return interval
    return min(interval[0], span[0]), max(interval[1], span[1])


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
        "samples_per_block": lat.samples_per_block,
        "blocks": lat.blocks,
        "block_cv": lat.block_cv,
        "block_lag1": lat.block_lag1,
        "drifting": lat.drifting,
        "processes": lat.processes,
        "wall_median_ms": lat.wall_median_ms,
        "launch_bound": lat.launch_bound,
        "noisy": lat.noisy,
        "steady": lat.steady,
        "others_cpu_share": None if lat.contention is None else lat.contention.others_cpu_share,
        "load_avg": None if lat.contention is None else lat.contention.load_avg,
        "contended": lat.contended,
        "sm_clock_min_mhz": lat.clocks.min_mhz if lat.clocks else None,
        "throttled": lat.throttled,
    }


@dataclass(frozen=True)
class SmClocks:
    """The SM clock NVML read after each timed sample (MHz, in order), the device's default
    clock, and the throttle reasons NVML gave during the samples, in words."""

    samples_mhz: tuple[int, ...]
    default_mhz: int | None
    reasons: tuple[str, ...] = ()

    @property
    def min_mhz(self) -> int | None:
        return min(self.samples_mhz) if self.samples_mhz else None

    @property
    def below(self) -> int:
        """Samples read below THROTTLED_CLOCK_FRACTION of the default clock."""
        if not self.default_mhz:
            return 0
        floor = THROTTLED_CLOCK_FRACTION * self.default_mhz
        return sum(1 for mhz in self.samples_mhz if mhz < floor)

    @property
    def throttled(self) -> bool | None:
        """None when the default clock or the readings are unknown: no claim either way."""
        if not self.default_mhz or not self.samples_mhz:
            return None
        return self.below > 0

    def reason(self) -> str:
        """The row's note when throttled: how many samples, how slow, and NVML's reasons."""
        why = f"; NVML's reasons: {', '.join(self.reasons)}" if self.reasons else ""
        return (
            f"throttled: {self.below} of {len(self.samples_mhz)} samples ran below "
            f"{THROTTLED_CLOCK_FRACTION:.0%} of the default SM clock ({self.default_mhz} MHz; "
            f"lowest {self.min_mhz} MHz){why}; lock the clocks (bench doctor says how)"
        )


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
    clocks = entry.get("sm_clocks")
    if isinstance(clocks, dict):
        extra["clocks"] = SmClocks(
            samples_mhz=tuple(int(v) for v in clocks.get("samples_mhz") or ()),
            default_mhz=clocks.get("default_mhz"),
            reasons=tuple(clocks.get("reasons") or ()),
        )
    return LatencyStats.from_samples(
        samples,
        entry.get("warmup_iterations") or 0,
        iterations_per_sample=entry.get("iterations_per_sample") or 1,
        samples_per_block=entry.get("samples_per_block") or 1,
        process_sizes=[tuple(pair) for pair in entry.get("latency_process_sizes") or ()],
        first_call_ms=entry.get("first_call_ms"),
        precision_target=entry.get("precision_target"),
        wall_samples_ms=entry.get("latency_wall_samples_ms") or (),
        measure_s=entry.get("latency_measure_s"),
        steady=entry.get("steady"),
        **extra,
    )
