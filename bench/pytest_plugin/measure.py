"""One subject (a model, its inputs and its step) measured inside a pytest-benchmark test.

The order is bench's: counts first (no timing runs under a counter), then the timing through
pytest-benchmark's loop (`timing`), then the memory pass on its own (never while timing). Every
figure ends up in `benchmark.extra_info`, which pytest-benchmark saves with the run, so a saved
baseline says what was measured and with what, not only how long it took.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from bench.measure.contention import ContentionProbe
from bench.measure.instructions.counter import NO_COUNTER, hardware_counter
from bench.measure.instructions.per_case import NOT_CPU, count_with_counter
from bench.measure.memory import measure_memory
from bench.measure.threads import intra_op_threads, numerics_flags, thread_counts
from bench.model.workload import Workload
from bench.pytest_plugin.timing import LoopSettings, TimedRun, run_benchmark
from bench.records import InstructionCount, MemoryStats
from bench.records.latency import Contention
from bench.stats import DEFAULT_CONFIDENCE, median, median_ci


@dataclass(frozen=True)
class Counts:
    """Parameters and work of one step; None where a count failed (a note says why)."""

    params: int | None = None
    trainable_params: int | None = None
    macs: int | None = None
    counted_on: str | None = None  # "meta" or "real"
    notes: tuple[str, ...] = ()

    @property
    def flops(self) -> int | None:
        return None if self.macs is None else 2 * self.macs


@dataclass(frozen=True)
class Subject:
    """What one benchmark test measures. `labels` name it (suite, model, batch size, ...)."""

    model: nn.Module
    inputs: tuple[torch.Tensor, ...]
    workload: Workload
    device: torch.device
    dtype: str
    counts: Counts
    labels: Mapping[str, Any] = field(default_factory=dict)
    threads: int | None = None  # intra-op threads to run with; None leaves torch's setting


def describe_timed_call(workload: Workload, timed: TimedRun) -> str:
    """One line saying what a sample is, so a reader of the JSON knows what was timed."""
    what = {
        "eval": "one forward pass under torch.inference_mode()",
        "train": "one training step (forward, loss, backward, SGD step)",
    }.get(workload.mode, f"one {workload.mode} step")
    if timed.synchronized:
        what += ", ended by torch.cuda.synchronize(device)"
    if timed.pedantic and workload.setup is not None:
        what += "; its setup ran before each call, untimed (benchmark.pedantic)"
    return what


def measure_subject(benchmark: Any, subject: Subject, settings: LoopSettings) -> dict[str, Any]:
    """Time the subject with `benchmark`, run the memory pass, fill and return extra_info."""
    workload = subject.workload
    with intra_op_threads(subject.threads):
        threads, interop_threads = thread_counts()
        with workload.context():
            probe = ContentionProbe(1 if subject.device.type == "cuda" else threads)
            probe.start()
            timed = run_benchmark(
                benchmark, workload.run, subject.device, settings, setup=workload.setup
            )
            contention = probe.stop()
            memory = None
            memory_s = None
            if benchmark.enabled:
                started = time.perf_counter()
                memory = measure_memory(workload, subject.model, subject.inputs, subject.device)
                memory_s = time.perf_counter() - started
    counted = {}
    if settings.instructions and benchmark.enabled:
        counted = instruction_info(subject)
    info = {
        **dict(subject.labels),
        **counting_info(subject.counts),
        **memory_info(memory, memory_s),
        "device": str(subject.device),
        "device_name": device_name(subject.device),
        "dtype": subject.dtype,
        "mode": workload.mode,
        "input_shapes": [list(t.shape) for t in subject.inputs],
        "threads": threads,
        "interop_threads": interop_threads,
        "numerics_flags": numerics_flags(),
        "timed_call": describe_timed_call(workload, timed),
        **warmup_info(timed),
        **contention_info(contention),
        **median_info(samples_s(benchmark)),
        **counted,
    }
    benchmark.extra_info.update(info)  # the same dict pytest-benchmark saves: update, never rebind
    return info


def contention_info(contention: Contention) -> dict[str, Any]:
    """What other processes took of the benchmark's cores while pytest-benchmark timed it (the
    warmup included), judged as `bench run` judges a case: the gate (and `bench compare` of the
    saved JSON) will not call a verdict on a contended side. A baseline saved on a busy runner
    was kept without a word."""
    return {
        "contended": contention.contended,
        "others_cpu_share": contention.others_cpu_share,
        "load_avg": contention.load_avg,
    }


def instruction_info(subject: Subject) -> dict[str, Any]:
    """`--bench-instructions`: retired instructions per call by the CPU's counter, or why not.
    valgrind is not started here: it would load torch once per test (`bench run --metrics
    instructions` starts it once per suite)."""
    if subject.device.type != "cpu":
        count = InstructionCount(per_call=None, reason=NOT_CPU)
    else:
        counter = hardware_counter()
        count = (
            count_with_counter(subject.workload, counter)
            if counter is not None
            else InstructionCount(per_call=None, reason=f"{NO_COUNTER}; {IN_A_SUITE}")
        )
    return {
        "instructions": count.per_call,
        "instructions_source": count.source or None,
        "instructions_reason": count.reason or None,
    }


IN_A_SUITE = "`bench run --metrics instructions` counts a suite under valgrind instead"


def counting_info(counts: Counts) -> dict[str, Any]:
    return {
        "params": counts.params,
        "trainable_params": counts.trainable_params,
        "macs": counts.macs,
        "flops": counts.flops,
        "flops_counted_on": counts.counted_on,
        "notes": list(counts.notes),
    }


def memory_info(memory: MemoryStats | None, pass_s: float | None) -> dict[str, Any]:
    """Peak and resident bytes of one steady step (bench.measure.memory); None if not measured."""
    return {
        "peak_memory_bytes": memory.peak_allocated_bytes if memory else None,
        "peak_reserved_bytes": memory.peak_reserved_bytes if memory else None,
        "resident_bytes": memory.resident_bytes if memory else None,
        "activation_peak_bytes": memory.activation_peak_bytes if memory else None,
        "memory_source": memory.source if memory else None,
        "memory_pass_s": pass_s,
    }


def warmup_info(timed: TimedRun) -> dict[str, Any]:
    warmup = timed.warmup
    return {
        "first_call_ms": warmup.first_call_ms if warmup else None,
        "warmup_iterations": warmup.iterations if warmup else None,
        "warmup_steady_ms": warmup.steady_ms if warmup else None,
        "warmup_steady": warmup.steady if warmup else None,
    }


def samples_s(benchmark: Any) -> list[float]:
    """pytest-benchmark's per-iteration times of this test, in seconds (empty if disabled)."""
    stats = getattr(benchmark, "stats", None)
    return list(stats.stats.data) if stats is not None else []


def median_info(samples: Sequence[float], confidence: float = DEFAULT_CONFIDENCE) -> dict[str, Any]:
    """bench's median of pytest-benchmark's samples with its distribution-free interval, in ms.

    The interval is None below 6 samples (no pair of order statistics reaches 95%), not a guess.
    """
    ordered_ms = sorted(s * 1000.0 for s in samples)
    interval = median_ci(ordered_ms, confidence) if ordered_ms else None
    return {
        "bench_samples": len(ordered_ms),
        "bench_median_ms": median(ordered_ms) if ordered_ms else None,
        "bench_median_ci_low_ms": interval[0] if interval else None,
        "bench_median_ci_high_ms": interval[1] if interval else None,
        "bench_ci_confidence": confidence,
    }


def device_name(device: torch.device) -> str | None:
    """The GPU's name for a CUDA device; None on the CPU (machine_info names the CPU)."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_name(device)
