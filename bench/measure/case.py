"""Measure cases: one model build per case, then each requested probe in its own pass.

A failing case becomes a row that says why; the next case still runs. Warnings raised while a
case runs become that case's notes instead of noise on the terminal.
"""

from __future__ import annotations

import gc
import time
import traceback
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import torch

from bench.measure.ceilings import ceiling_for
from bench.measure.contention import ContentionProbe
from bench.measure.counting.probe import count_case
from bench.measure.memory.step import measure_memory
from bench.measure.threads import intra_op_threads, numerics_flags, thread_counts
from bench.measure.timing.engine import (
    DEFAULT_POLICY,
    EXPERIMENT_POLICY,
    CpuTimer,
    CudaTimer,
    Timer,
    TimingPolicy,
    measure_latency,
)
from bench.model.factory import build_model, make_input
from bench.model.outputs import NonFiniteOutputError, check_output
from bench.model.workload import make_workload
from bench.records import METRICS, Case, LatencyStats, MemoryStats, Result


@dataclass(frozen=True)
class RunOptions:
    metrics: frozenset[str] = frozenset(METRICS)
    timing: TimingPolicy = DEFAULT_POLICY
    crosscheck: bool = True  # fvcore's count beside ours (costs one traced forward)
    matmul_peak_gflops: float | None = None  # the machine's ceiling, for peak_fraction
    # matmul GFLOP/s by device, read from `bench doctor --json` (used where no number is given)
    ceilings: Mapping[str, float] = field(default_factory=dict)

    def peak_gflops_for(self, device: str) -> float | None:
        """The ceiling peak_fraction divides by: the number given, else the device's from doctor."""
        if self.matmul_peak_gflops is not None:
            return self.matmul_peak_gflops
        return ceiling_for(dict(self.ceilings), device)

    # command-line overrides of the suite's timing knobs (None: the suite's, else default)
    budget_s: float | None = None
    precision: float | None = None
    threads: int | None = None

    def policy_for(self, case: Case, spent_s: float = 0.0) -> TimingPolicy:
        """The case's policy: command line over suite over this run's base policy.

        The budget is per case: what the case already spent (model build, FLOP counting) comes
        off the timing's share, so a suite's time follows the sum of its budgets.
        """
        budget_s = self.budget_s if self.budget_s is not None else case.timing.budget_s
        budget_s = self.timing.budget_s if budget_s is None else budget_s
        return self.timing.with_overrides(
            budget_s=max(budget_s - spent_s, 0.0),
            precision=self.precision if self.precision is not None else case.timing.precision,
        )

    def threads_for(self, case: Case) -> int | None:
        return self.threads if self.threads is not None else case.timing.threads

    experiment_timing: TimingPolicy = EXPERIMENT_POLICY
    # after an oom row, add separately labelled rows at halved batch sizes
    oom_backoff: bool = False
    # measure each case in a fresh spawned process (bench.measure.isolation)
    isolate: bool = False
    # `bench run --repeat N`: the suite's model cases N times, interleaved
    repeat: int = 1


def device_unavailable_reason(device: str) -> str | None:
    """Why a case's device cannot run here, or None when it can."""
    if not device.startswith("cuda"):
        return None
    if not torch.cuda.is_available():
        return "no CUDA device on this machine"
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return f"{device} requested but only {torch.cuda.device_count()} CUDA device(s) exist"
    return None


def measure_case(case: Case, options: RunOptions) -> Result:
    """Every requested measurement of one case; exceptions become an error or oom row."""
    reason = device_unavailable_reason(case.device)
    if reason is not None:
        return Result(case=case, status="skipped", error=reason)
    with (
        warnings.catch_warnings(record=True) as caught,
        intra_op_threads(options.threads_for(case)),
    ):
        warnings.simplefilter("always")
        threads, interop_threads = thread_counts()
        flags = numerics_flags()
        try:
            result = _measure(case, options)
        except torch.cuda.OutOfMemoryError as exc:
            result = Result(
                case=case, status="oom", error=_one_line(exc), detail=traceback.format_exc()
            )
        except (Exception, SystemExit) as exc:  # a failing model must not stop the run
            # (SystemExit too: a model's sys.exit() is that model's failure, not the user's exit)
            if isinstance(exc, NonFiniteOutputError):
                warnings.warn(f"NaN/Inf output: {exc}", RuntimeWarning, stacklevel=1)
            result = Result(
                case=case,
                status="error",
                error=f"{type(exc).__name__}: {_one_line(exc)}",
                detail=traceback.format_exc(),
            )
        finally:
            gc.collect()
            if case.device.startswith("cuda"):
                torch.cuda.empty_cache()
    notes = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    return replace(
        result,
        notes=result.notes + notes,
        threads=threads,
        interop_threads=interop_threads,
        numerics_flags=flags,
    )


def _measure(case: Case, options: RunOptions) -> Result:
    case_start_s = time.perf_counter()
    model = build_model(case)
    example = make_input(case)
    device = torch.device(case.device)
    counts = None
    if options.metrics & {"params", "flops"}:
        # Before make_workload: the probes may switch the model to eval; the workload sets the
        # case's mode again.
        counts = count_case(case, model, example, options.metrics, options.crosscheck)
    workload = make_workload(model, example, case.mode)
    with torch.no_grad():  # one checked forward before anything is measured
        check_output(model(example))

    peak = None
    latency: LatencyStats | None = None
    memory: MemoryStats | None = None
    with workload.context():
        if "latency" in options.metrics:
            latency = measure_latency(
                workload.run,
                _timer_for(device),
                options.policy_for(case, spent_s=time.perf_counter() - case_start_s),
                setup=workload.setup,
                probe=probe_for(device),
            )
        if "memory" in options.metrics:
            memory = measure_memory(workload, model, [example], device)
            peak = memory.peak_allocated_bytes
    return Result(
        case=case,
        status="ok",
        params=counts.params if counts else None,
        trainable_params=counts.trainable_params if counts else None,
        macs=counts.macs if counts else None,
        latency=latency,
        peak_memory_bytes=peak,
        memory=memory,
        notes=counts.notes if counts else (),
        counting=counts.details if counts else None,
        matmul_peak_gflops=options.peak_gflops_for(case.device),
    )


def probe_for(device: torch.device) -> ContentionProbe:
    """A CPU case needs its intra-op threads' cores; a CUDA case one host thread (the launches)."""
    return ContentionProbe(1 if device.type == "cuda" else torch.get_num_threads())


def _timer_for(device: torch.device) -> Timer:
    return CudaTimer(device) if device.type == "cuda" else CpuTimer()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
