"""What a profile of one case holds: frozen rows, so renderers and tests never touch the profiler.

Times are per profiled step (the session's total divided by its active steps), in milliseconds.
`device` times are CUDA kernel time and exist only where CUDA ran; on the CPU they are None.
"""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_STEPS = 5
DEFAULT_TOP = 15


@dataclass(frozen=True)
class ProfileSettings:
    """The profiler's schedule and how much of it to show.

    `wait` steps run unprofiled, `warmup` steps run with the profiler on but discarded (its own
    start-up cost lands there), then `steps` active steps are recorded. report.md shows the
    `top` operators; the CSVs hold every one.
    """

    steps: int = DEFAULT_STEPS
    wait: int = 1
    warmup: int = 1
    top: int = DEFAULT_TOP
    group_by_shape: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1 or self.wait < 0 or self.warmup < 0 or self.top < 1:
            raise ValueError("steps and top must be >= 1, wait and warmup >= 0")


@dataclass(frozen=True)
class OpRow:
    """One operator (and input shapes, where grouped by them), from `key_averages()`."""

    name: str
    input_shapes: str
    calls_per_step: float
    self_cpu_ms: float
    total_cpu_ms: float
    self_device_ms: float | None
    total_device_ms: float | None
    percent_of_step: float  # self time (device where CUDA ran) over the step's time


@dataclass(frozen=True)
class ModuleRow:
    """One module, timed by the `record_function` range its forward hooks open and close."""

    name: str  # qualified name as in named_modules(); the root is its class name
    depth: int  # 0 for the model itself
    calls_per_step: float
    cpu_ms: float
    device_ms: float | None
    percent_of_step: float
    flops: int | None  # forward FLOPs counted by FlopCounterMode in this module (children in)
    kind: str = ""  # the module's class (`Linear`); empty in records made before it was kept

    @property
    def gflops_per_s(self) -> float | None:
        """Achieved GFLOP/s of the module's forward: its FLOPs over its (profiled) time."""
        time_ms = self.device_ms if self.device_ms is not None else self.cpu_ms
        if not self.flops or time_ms <= 0:
            return None
        return self.flops / (time_ms * 1e6)


@dataclass(frozen=True)
class MemoryRow:
    """Net bytes allocated per step by an operator the model called (its callees included),
    from the profiler's memory events (CPU; CUDA's device memory events where CUDA ran)."""

    name: str
    allocated_bytes: float
    calls_per_step: float


@dataclass(frozen=True)
class CaseProfile:
    """The profile of one case, or why there is none (`error`)."""

    label: str
    mode: str
    device: str
    status: str  # "ok" or "error"
    error: str = ""
    steps: int = 0
    bench_median_ms: float | None = None  # bench's median of unprofiled steps, same process
    profiled_step_ms: float | None = None  # mean wall time of a profiled step
    # one statistic throughout: the tables are per-step means (the profiler's totals over its
    # steps), so the headline and the overhead are means too; absent in older records
    bench_mean_ms: float | None = None  # bench's mean of unprofiled samples
    step_times_ms: tuple[float, ...] = ()  # each profiled step's wall time, in order
    ops: tuple[OpRow, ...] = ()
    modules: tuple[ModuleRow, ...] = ()
    memory: tuple[MemoryRow, ...] = ()
    trace: Path | None = None
    memory_snapshot: Path | None = None
    notes: tuple[str, ...] = ()

    @property
    def uneven(self) -> bool:
        """The profiled steps' mean is over UNEVEN_STEPS times their median: something besides
        the profiler slowed some of them (steps of 1.6 ms had a mean of 7.2 ms under a
        neighbour), so their mean is no measure of the profiler's cost."""
        times = self.step_times_ms
        if not times:
            return False
        mean, median = sum(times) / len(times), statistics.median(times)
        return median > 0 and mean > UNEVEN_STEPS * median

    @property
    def overhead(self) -> float | None:
        """How much slower a profiled step was than bench's unprofiled steps, mean against mean
        (0.25 = 25% slower); None when unknown or when the profiled steps were uneven."""
        reference = self.bench_mean_ms or self.bench_median_ms
        if not reference or self.profiled_step_ms is None or self.uneven:
            return None
        return self.profiled_step_ms / reference - 1.0


UNEVEN_STEPS = 1.5
"""Mean over median of the profiled steps beyond which their mean states no profiler overhead."""


def profile_record(profile: CaseProfile) -> dict[str, Any]:
    """A profile as run.json keeps it, so `bench report` renders the profile section too."""
    record = dataclasses.asdict(profile)
    for name in ("trace", "memory_snapshot"):
        record[name] = None if record[name] is None else str(record[name])
    return record


def profile_from_record(record: dict[str, Any]) -> CaseProfile:
    """The inverse of profile_record; KeyError or TypeError on a record bench did not write."""
    return CaseProfile(
        **{
            **record,
            "ops": tuple(OpRow(**row) for row in record["ops"]),
            "modules": tuple(ModuleRow(**row) for row in record["modules"]),
            "memory": tuple(MemoryRow(**row) for row in record["memory"]),
            "trace": None if record["trace"] is None else Path(record["trace"]),
            "memory_snapshot": (
                None if record["memory_snapshot"] is None else Path(record["memory_snapshot"])
            ),
            "notes": tuple(record["notes"]),
            "step_times_ms": tuple(record.get("step_times_ms", ())),
        }
    )
