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
    # issue 7: the original batch size on an --oom-backoff row (empty on ordinary rows), so a row
    # at a smaller batch than the suite asked for is never mistaken for the requested case.
    "backoff_from",
)

STATUSES = ("ok", "error", "oom", "skipped")
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
    # issue 7: a state_dict file (resolved path) loaded into the factory's model, and whether a
    # pickled object may be unpickled (that runs code from the file, so it is opt-in).
    checkpoint: Path | None = None
    trust_checkpoint: bool = False


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    devices: tuple[str, ...]
    dtypes: tuple[str, ...]
    models: tuple[ModelSpec, ...]

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
    # issue 7: set on an --oom-backoff case: the batch size that ran out of memory.
    backoff_from: int | None = None

    @property
    def key(self) -> tuple[str, str, str, str, str, int]:
        """What identifies a requested case across runs (used by --resume)."""
        return (self.suite, self.model.name, self.mode, self.device, self.dtype, self.batch_size)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The full input shape, batch dimension first."""
        return (self.batch_size, *self.model.input_shape)

    @property
    def label(self) -> str:
        label = f"{self.model.name} {self.device} {self.dtype} b{self.batch_size}"
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
    """Robust summary of per-iteration latencies (milliseconds), computed from the raw samples."""

    samples_ms: tuple[float, ...]
    median_ms: float
    iqr_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float
    warmup_iterations: int = 0

    @classmethod
    def from_samples(cls, samples_ms: Sequence[float], warmup_iterations: int = 0) -> LatencyStats:
        if not samples_ms:
            raise ValueError("no latency samples")
        ordered = sorted(samples_ms)
        return cls(
            samples_ms=tuple(samples_ms),
            median_ms=percentile(ordered, 50),
            iqr_ms=percentile(ordered, 75) - percentile(ordered, 25),
            p90_ms=percentile(ordered, 90),
            min_ms=ordered[0],
            mean_ms=math.fsum(ordered) / len(ordered),
            warmup_iterations=warmup_iterations,
        )


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

    def row(self) -> dict[str, Any]:
        """The results.csv row, keyed by COLUMNS; None marks an empty cell."""
        lat = self.latency
        return {
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
            "latency_median_ms": lat.median_ms if lat else None,
            "latency_iqr_ms": lat.iqr_ms if lat else None,
            "latency_p90_ms": lat.p90_ms if lat else None,
            "latency_min_ms": lat.min_ms if lat else None,
            "latency_mean_ms": lat.mean_ms if lat else None,
            "samples": len(lat.samples_ms) if lat else None,
            "throughput_per_s": self.throughput_per_s,
            "peak_memory_bytes": self.peak_memory_bytes,
            "mode": self.case.mode,
            "backoff_from": self.case.backoff_from,
        }
