"""Frozen records passed between the pipeline's stages: Suite -> Case -> Result.

Statistics are computed once, from the raw samples, when a `LatencyStats` is built, so no later
stage can recompute them differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.records.counts import CountDetails
from bench.records.inputs import InputSpec, dims_text, shapes_text
from bench.records.instructions import InstructionCount
from bench.records.keys import CaseKey, key_of
from bench.records.latency import (
    LatencyStats,
    latency_cells,
)
from bench.records.memory import MemoryStats

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
    # memory breakdown; peak_memory_bytes above stays the peak of allocated memory
    "peak_reserved_bytes",
    "resident_bytes",
    "activation_peak_bytes",
    "param_bytes",
    "buffer_bytes",
    "rss_peak_bytes",
    # counting you can trust (cross-check, where FLOPs were counted, sizes, efficiency)
    "fvcore_macs",
    "flops_counted_on",
    "buffers",
    "model_size_bytes",
    "achieved_gflops_per_s",
    "peak_fraction",
    # the timing engine's statistics, cost, precision and context
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
    # tensor experiments and model-level in-place comparisons
    "experiment",
    "variant",
    "numel",
    "allocated_bytes",
    "shares_storage",
    "matches_reference",
    "input_policy",
    "backward_ok",
    "backward_error",
    # the original batch size on an --oom-backoff row (empty on ordinary rows), so a row
    # at a smaller batch than the suite asked for is never mistaken for the requested case.
    "backoff_from",
    # the variants a suite sweeps beside dtype: memory layout and torch.compile mode, and what
    # compiling cost (its own figure, never part of latency or first_call_ms)
    "memory_format",
    "compile",
    "compile_ms",
    "graph_breaks",
    # whether the numbers can be trusted: warmup reached a steady state before sampling; what
    # other processes took of the case's cores while it was timed, and the load average;
    # `contended` when that share is above CONTENDED_SHARE (bench/records/latency.py)
    "steady",
    "others_cpu_share",
    "load_avg",
    "contended",
    # `bench run --repeat N`: which repetition (1..N) of the case this row is; empty otherwise
    "repeat",
    # the swept named dimensions of a case's inputs (e.g. `seq=128`); empty when none
    "dims",
    # counting: whether the MACs depend on the data (ops such as nonzero or NMS ran while
    # counting; empty when nothing was counted), and the weights' storage dtypes
    # (`qint8+float32` for a quantized model, whose `dtype` column is its float input's)
    "count_data_dependent",
    "weight_dtypes",
    # blocks, the unit of the median's interval: consecutive samples per block, how many
    # blocks, their spread (CV) and lag-1 autocorrelation, and `drifting` when the run's two
    # halves disagree beyond the interval (bench/records/latency.py)
    "samples_per_block",
    "blocks",
    "block_cv",
    "block_lag1",
    "drifting",
    # `--processes N`: the worker processes the case's samples came from, one after another
    "processes",
    # `--metrics instructions`: retired instructions per call (one thread) and how they were
    # counted (`perf` or `callgrind`); empty with a note where neither could count
    "instructions",
    "instructions_source",
    # `--allow-partial-counts`: `true` when the MACs leave out ops that multiply and accumulate
    # but have no formula (named in the notes); empty when nothing was counted
    "count_partial",
    # `cache = "cold"`: the device's last-level cache (a GPU's L2) was flushed before each timed
    # call, outside the timed region; `warm` (the default) times calls back to back
    "cache",
    # CUDA: NVML's SM clock beside each sample; `throttled` when a sample ran below 75% of the
    # default clock (the reasons NVML gave are in the notes); empty where NVML is not available
    "sm_clock_min_mhz",
    "throttled",
)

STATUSES = ("ok", "error", "oom", "skipped", "timeout")
# A model with `compare_inplace = true` is built twice: every `inplace` flag on, then off.
INPLACE_VARIANTS = ("in_place", "out_of_place")
METRICS = ("params", "flops", "latency", "memory", "instructions")
# what a run measures unless told: instructions cost a valgrind pass where the CPU's counter is
# hidden, so they are asked for by name
DEFAULT_METRICS = ("params", "flops", "latency", "memory")


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
    # a state_dict file (resolved path) loaded into the factory's model, and whether a
    # pickled object may be unpickled (that runs code from the file, so it is opt-in).
    checkpoint: Path | None = None
    trust_checkpoint: bool = False
    # variant axes; None: the suite's (dtypes) or the default (contiguous, eager)
    dtypes: tuple[str, ...] | None = None
    memory_formats: tuple[str, ...] = ("contiguous",)
    compile: tuple[str, ...] = ("eager",)
    cache: tuple[str, ...] = ("warm",)
    # `graphs = true`: on CUDA devices, a `cuda-graph` case beside each eager one
    graphs: bool = False
    # several inputs (`inputs` in the suite); empty: one float input of `input_shape`
    inputs: tuple[InputSpec, ...] = ()
    # named dimensions an input shape may use, each with the values it sweeps
    dims: tuple[tuple[str, tuple[int, ...]], ...] = ()
    # pass each input as a Python list of per-sample tensors (torchvision detection models)
    batch_as_list: bool = False

    @property
    def input_specs(self) -> tuple[InputSpec, ...]:
        """What the model is fed, the `input_shape` shorthand included."""
        return self.inputs or (InputSpec(shape=self.input_shape),)


@dataclass(frozen=True)
class TimingSettings:
    """Per-suite timing knobs (None: the run's default). The command line overrides them."""

    budget_s: float | None = None
    precision: float | None = None
    threads: int | None = None
    timeout_s: float | None = None  # per-case wall-clock limit (bench.measure.watchdog)


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
    # set on an --oom-backoff case: the batch size that ran out of memory.
    backoff_from: int | None = None
    memory_format: str = "contiguous"
    compile: str = "eager"  # "eager" (not compiled), a torch.compile mode, or "cuda-graph"
    cache: str = "warm"  # "cold": the last-level cache flushed before each timed call
    # `bench run --repeat N`: this case's repetition, 1..N (None: the run does not repeat)
    repeat: int | None = None
    # the value of each swept dimension (ModelSpec.dims) in this case
    dims: tuple[tuple[str, int], ...] = ()

    @property
    def key(self) -> CaseKey:
        """What identifies the requested case across runs (bench.records.keys)."""
        return key_of(self)

    @property
    def input_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Every input's full shape, batch dimension first, in the order the model gets them."""
        dims = dict(self.dims)
        return tuple(
            (self.batch_size, *spec.per_sample_shape(dims)) for spec in self.model.input_specs
        )

    @property
    def input_shape_text(self) -> str:
        """`1x3x224x224`, or `2x128,2x128` for a model with two inputs."""
        return shapes_text(self.input_shapes)

    @property
    def label(self) -> str:
        label = f"{self.model.name} {self.device} {self.dtype} b{self.batch_size}"
        if self.dims:
            label = f"{label} {dims_text(self.dims)}"
        if self.inplace_variant:
            label = f"{label} {self.inplace_variant}"
        if self.memory_format != "contiguous":
            label = f"{label} {self.memory_format}"
        if self.compile != "eager":
            label = f"{label} compile={self.compile}"
        if self.cache != "warm":
            label = f"{label} cache={self.cache}"
        if self.mode != "eval":
            label = f"{label} {self.mode}"
        if self.backoff_from is not None:
            label = f"{label} (oom backoff from b{self.backoff_from})"
        if self.repeat is not None:
            label = f"{label} #{self.repeat}"
        return label


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
    memory: MemoryStats | None = None  # the breakdown behind peak_memory_bytes
    counting: CountDetails | None = None
    matmul_peak_gflops: float | None = None  # the machine's ceiling (bench doctor), if known
    threads: int | None = None
    interop_threads: int | None = None
    numerics_flags: Mapping[str, Any] = field(default_factory=dict)
    # the full traceback of an error row, for the run's log file (never a CSV cell).
    detail: str = ""
    compile_ms: float | None = None  # compiled cases: the calls until nothing new compiled
    graph_breaks: int | None = None  # compiled cases: torch._dynamo's graph-break count
    # compare_inplace's in_place row: its outputs equal the out-of-place build's (bit-exact);
    # None elsewhere (the out_of_place row is the reference)
    matches_reference: bool | None = None
    instructions: InstructionCount | None = None  # `--metrics instructions`

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

    def __repr__(self) -> str:
        """One readable line for a notebook: the case, its status and each measured figure
        with its interval and flags (the dataclass fields are all still attributes)."""
        parts = [f"{self.case.label}: {self.status}"]
        if self.error:
            parts.append(self.error)
        if self.params is not None:
            parts.append(f"params {self.params:,}")
        if self.macs is not None:
            parts.append(f"MACs {self.macs:,}")
        lat = self.latency
        if lat is not None:
            interval = (
                f", 95% CI {lat.ci_low_ms:.4g}-{lat.ci_high_ms:.4g} ms"
                if lat.ci_low_ms is not None and lat.ci_high_ms is not None
                else ""
            )
            doubts = f" [{', '.join(lat.doubts())}]" if lat.doubts() else ""
            parts.append(
                f"latency median {lat.median_ms:.4g} ms{interval} over {lat.blocks} blocks{doubts}"
            )
        if self.peak_memory_bytes is not None:
            parts.append(f"peak memory {self.peak_memory_bytes:,} B")
        return f"Result({'; '.join(parts)})"

    def to_frame(self) -> Any:
        """This row as a one-row pandas DataFrame, typed as `bench.load` types a run."""
        from bench.records.frames import results_frame

        return results_frame([self], COLUMNS)

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
            "input_shape": self.case.input_shape_text,
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
            "memory_format": self.case.memory_format,
            "compile": self.case.compile,
            "cache": self.case.cache,
            "compile_ms": self.compile_ms,
            "graph_breaks": self.graph_breaks,
            "repeat": self.case.repeat,
            "dims": dims_text(self.case.dims) or None,
            "matches_reference": self.matches_reference,
            "count_data_dependent": counting.data_dependent if counting else None,
            "weight_dtypes": counting.weight_dtypes if counting else None,
            "count_partial": counting.partial if counting else None,
            "instructions": self.instructions.per_call if self.instructions else None,
            "instructions_source": (
                self.instructions.source or None if self.instructions else None
            ),
        }
        return {column: values.get(column) for column in COLUMNS}
