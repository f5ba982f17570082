"""Frozen records passed between the pipeline's stages: Suite -> Case -> Result.

Statistics are computed once, from the raw samples, when a `LatencyStats` is built, so no later
stage can recompute them differently.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.count_records import CountDetails
from bench.stats import DEFAULT_CONFIDENCE, median_ci, relative_half_width, sample_std

# The results.csv contract (DESIGN.md section 2): exact names, fixed order, never inferred.
COLUMNS: tuple[str, ...] = (
    "suite",
    "model",
    "device",
    "dtype",
    "batch_size",
    "input_shape",
    "status",
    "error",
    "params",
    "trainable_params",
    "flops",
    "macs",
    "latency_median_ms",
    "latency_iqr_ms",
    "latency_p90_ms",
    "latency_min_ms",
    "latency_mean_ms",
    "samples",
    "throughput_per_s",
    "peak_memory_bytes",
    # Extensions beyond the DESIGN.md contract are appended, so the contract's order never moves.
    "mode",
    # issue 4: memory breakdown; peak_memory_bytes above stays the peak of allocated memory
    "peak_reserved_bytes",
    "resident_bytes",
    "activation_peak_bytes",
    "param_bytes",
    "buffer_bytes",
    "rss_peak_bytes",
    # issue 6: counting you can trust (cross-check, where FLOPs were counted, sizes, efficiency)
    "fvcore_macs",
    "flops_counted_on",
    "buffers",
    "model_size_bytes",
    "achieved_gflops_per_s",
    "peak_fraction",
    # issue 3: the timing engine's statistics, cost, precision and context
    "latency_p99_ms",
    "latency_std_ms",
    "latency_ci_low_ms",
    "latency_ci_high_ms",
    "precision_target",
    "precision_met",
    "first_call_ms",
    "warmup_iterations",
    "iterations_per_sample",
    "wall_median_ms",
    "launch_bound",
    "threads",
    "interop_threads",
    "noisy",
    # issue 5: tensor experiments and model-level in-place comparisons
    "experiment",
    "variant",
    "numel",
    "allocated_bytes",
    "shares_storage",
    "matches_reference",
    "input_policy",
    "backward_ok",
    "backward_error",
    # issue 7: the original batch size on an --oom-backoff row (empty on ordinary rows), so a row
    # at a smaller batch than the suite asked for is never mistaken for the requested case.
    "backoff_from",
)

STATUSES = ("ok", "error", "oom", "skipped")
NOISY_IQR_FRACTION = 0.10
"""IQR/median above this marks a row `noisy`: medians of such rows need care when compared."""
LAUNCH_BOUND_RATIO = 1.5
"""CUDA host wall time over device time above this marks a row `launch_bound`."""
# A model with `compare_inplace = true` is built twice: every `inplace` flag on, then off.
INPLACE_VARIANTS = ("in_place", "out_of_place")
METRICS = ("params", "flops", "latency", "memory")


@dataclass(frozen=True)
class ModelSpec:
    """One `[[models]]` entry of a suite, validated."""

    name: str
    factory: str
    input_shape: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    modes: tuple[str, ...] = ("eval",)
    compare_inplace: bool = False
    # issue 7: a state_dict file (resolved path) loaded into the factory's model, and whether a
    # pickled object may be unpickled (that runs code from the file, so it is opt-in).
    checkpoint: Path | None = None
    trust_checkpoint: bool = False


@dataclass(frozen=True)
class TimingSettings:
    """Per-suite timing knobs (None: the run's default). The command line overrides them."""

    budget_s: float | None = None
    precision: float | None = None
    threads: int | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    models: tuple[ModelSpec, ...]
    timing: TimingSettings = TimingSettings()
    experiments: tuple[Any, ...] = ()  # bench.experiments.records.ExperimentSpec

    @property
    def base_dir(self) -> Path:
        """Relative factory paths resolve against the suite file's folder."""
        return self.path.parent


@dataclass(frozen=True)
class Case:
    """What to measure: one model at one device, dtype and batch size."""

    suite: str
    model: ModelSpec
    device: str
    dtype: str
    batch_size: int
    base_dir: Path
    mode: str = "eval"
    timing: TimingSettings = TimingSettings()
    inplace_variant: str = ""  # "" builds the model as declared; else one of INPLACE_VARIANTS
    # issue 7: set on an --oom-backoff case: the batch size that ran out of memory.
    backoff_from: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str, str, int, str]:
        """What identifies a requested case across runs (used by --resume)."""
        return (
            self.suite,
            self.model.name,
            self.mode,
            self.device,
            self.dtype,
            self.batch_size,
            self.inplace_variant,
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The full input shape, batch dimension first."""
        return (self.batch_size, *self.model.input_shape)

    @property
    def label(self) -> str:
        label = f"{self.model.name} {self.device} {self.dtype} b{self.batch_size}"
        if self.inplace_variant:
            label = f"{label} {self.inplace_variant}"
        if self.mode != "eval":
            label = f"{label} {self.mode}"
        if self.backoff_from is not None:
            label = f"{label} (oom backoff from b{self.backoff_from})"
        return label


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), q in [0, 100]."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    position = (len(sorted_values) - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    fraction = position - lower
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * fraction


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


@dataclass(frozen=True)
class MemoryStats:
    """One memory pass: a warm step, then the measured step's peak and what it consists of.

    `resident_bytes` is what was live before the measured step (weights, buffers, input and, in
    train mode, optimizer state and any gradients), so `peak_allocated_bytes - resident_bytes`
    is what the step itself needs on top: activations, workspaces and, in training, gradients.
    """

    peak_allocated_bytes: int
    resident_bytes: int
    source: str  # "profiler" (CPU allocation events) or "cuda-allocator"
    peak_reserved_bytes: int | None = None  # CUDA caching allocator's pool; None on CPU
    param_bytes_by_dtype: Mapping[str, int] = field(default_factory=dict)
    buffer_bytes_by_dtype: Mapping[str, int] = field(default_factory=dict)
    resident_by_kind: Mapping[str, int] = field(default_factory=dict)
    rss_peak_bytes: int | None = None  # process RSS high-water over an unprofiled step
    pass_s: float | None = None  # wall time of the whole memory pass

    @property
    def activation_peak_bytes(self) -> int:
        return self.peak_allocated_bytes - self.resident_bytes

    @property
    def param_bytes(self) -> int:
        return sum(self.param_bytes_by_dtype.values())

    @property
    def buffer_bytes(self) -> int:
        return sum(self.buffer_bytes_by_dtype.values())

    def detail(self) -> dict[str, Any]:
        """The run.json record: every figure, by dtype and by kind of resident state."""
        return {
            "source": self.source,
            "peak_allocated_bytes": self.peak_allocated_bytes,
            "peak_reserved_bytes": self.peak_reserved_bytes,
            "resident_bytes": self.resident_bytes,
            "activation_peak_bytes": self.activation_peak_bytes,
            "param_bytes_by_dtype": dict(self.param_bytes_by_dtype),
            "buffer_bytes_by_dtype": dict(self.buffer_bytes_by_dtype),
            "resident_by_kind": dict(self.resident_by_kind),
            "rss_peak_bytes": self.rss_peak_bytes,
            "pass_s": self.pass_s,
        }


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


@dataclass(frozen=True)
class Result:
    """Everything measured for one case. Missing values are None, never 0."""

    case: Case
    status: str
    error: str = ""
    params: int | None = None
    trainable_params: int | None = None
    macs: int | None = None
    latency: LatencyStats | None = None
    peak_memory_bytes: int | None = None
    notes: tuple[str, ...] = ()
    memory: MemoryStats | None = None  # issue 4: the breakdown behind peak_memory_bytes
    counting: CountDetails | None = None
    matmul_peak_gflops: float | None = None  # the machine's ceiling (bench doctor), if known
    threads: int | None = None
    interop_threads: int | None = None
    numerics_flags: Mapping[str, Any] = field(default_factory=dict)
    # issue 7: the full traceback of an error row, for the run's log file (never a CSV cell).
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status {self.status!r} is not one of {STATUSES}")

    @property
    def flops(self) -> int | None:
        """One multiply-accumulate is two floating-point operations."""
        return None if self.macs is None else 2 * self.macs

    @property
    def throughput_per_s(self) -> float | None:
        if self.latency is None or self.latency.median_ms <= 0:
            return None
        return self.case.batch_size * 1000.0 / self.latency.median_ms

    @property
    def achieved_gflops_per_s(self) -> float | None:
        """FLOPs of the timed work (forward, or training step) over its median latency."""
        if self.flops is None or self.latency is None or self.latency.median_ms <= 0:
            return None
        return self.flops / (self.latency.median_ms * 1e6)

    @property
    def peak_fraction(self) -> float | None:
        """Achieved GFLOP/s as a fraction of the machine's measured matmul GFLOP/s."""
        achieved = self.achieved_gflops_per_s
        if achieved is None or not self.matmul_peak_gflops or self.matmul_peak_gflops <= 0:
            return None
        return achieved / self.matmul_peak_gflops

    def row(self) -> dict[str, Any]:
        """The results.csv row, keyed by COLUMNS; None marks an empty cell."""
        lat = self.latency
        mem = self.memory
        counting = self.counting
        values = {
            "suite": self.case.suite,
            "model": self.case.model.name,
            "device": self.case.device,
            "dtype": self.case.dtype,
            "batch_size": self.case.batch_size,
            "input_shape": "x".join(str(d) for d in self.case.input_shape),
            "status": self.status,
            "error": self.error,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "flops": self.flops,
            "macs": self.macs,
            "throughput_per_s": self.throughput_per_s,
            **latency_cells(lat),
            "peak_memory_bytes": self.peak_memory_bytes,
            "mode": self.case.mode,
            "peak_reserved_bytes": mem.peak_reserved_bytes if mem else None,
            "resident_bytes": mem.resident_bytes if mem else None,
            "activation_peak_bytes": mem.activation_peak_bytes if mem else None,
            "param_bytes": mem.param_bytes if mem else None,
            "buffer_bytes": mem.buffer_bytes if mem else None,
            "rss_peak_bytes": mem.rss_peak_bytes if mem else None,
            "fvcore_macs": counting.fvcore_macs if counting else None,
            "flops_counted_on": counting.counted_on if counting else None,
            "buffers": counting.buffers if counting else None,
            "model_size_bytes": counting.model_size_bytes if counting else None,
            "achieved_gflops_per_s": self.achieved_gflops_per_s,
            "peak_fraction": self.peak_fraction,
            "threads": self.threads,
            "interop_threads": self.interop_threads,
            "experiment": "model_inplace" if self.case.inplace_variant else None,
            "variant": self.case.inplace_variant or None,
            "backoff_from": self.case.backoff_from,
        }
        return {column: values.get(column) for column in COLUMNS}
