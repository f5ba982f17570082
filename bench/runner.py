"""Measure cases: one model build per case, then each requested probe in its own pass.

A failing case becomes a row that says why; the next case still runs. Warnings raised while a
case runs become that case's notes instead of noise on the terminal.
"""

from __future__ import annotations

import gc
import traceback
import warnings
from dataclasses import dataclass, replace

import torch

from bench.counting import count_macs, count_params
from bench.memory import cpu_peak_bytes, cuda_peak_bytes, resident_bytes
from bench.models import build_model, make_input
from bench.outputs import NonFiniteOutputError, check_output
from bench.records import METRICS, Case, LatencyStats, Result
from bench.timing import DEFAULT_POLICY, CpuTimer, CudaTimer, Timer, TimingPolicy, measure_latency
from bench.workload import make_workload


@dataclass(frozen=True)
class RunOptions:
    metrics: frozenset[str] = frozenset(METRICS)
    timing: TimingPolicy = DEFAULT_POLICY
    # issue 7: after an oom row, add separately labelled rows at halved batch sizes
    oom_backoff: bool = False
    # issue 7: measure each case in a fresh spawned process (bench.isolation)
    isolate: bool = False


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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
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
    return replace(result, notes=result.notes + notes)


def _measure(case: Case, options: RunOptions) -> Result:
    model = build_model(case)
    example = make_input(case)
    device = torch.device(case.device)
    workload = make_workload(model, example, case.mode)
    with torch.no_grad():  # one checked forward before anything is measured (issue 7)
        check_output(model(example))

    def prepared_run() -> None:
        if workload.setup is not None:
            workload.setup()
        workload.run()

    params = trainable = macs = peak = None
    latency: LatencyStats | None = None
    if "params" in options.metrics:
        params, trainable = count_params(model)
    with workload.context():
        if "flops" in options.metrics:
            macs = count_macs(prepared_run)
        if "latency" in options.metrics:
            latency = measure_latency(
                workload.run, _timer_for(device), options.timing, setup=workload.setup
            )
        if "memory" in options.metrics:
            if workload.setup is not None:
                workload.setup()
            if device.type == "cuda":
                peak = cuda_peak_bytes(workload.run, device)
            else:
                peak = cpu_peak_bytes(workload.run, resident_bytes(model, example))
    return Result(
        case=case,
        status="ok",
        params=params,
        trainable_params=trainable,
        macs=macs,
        latency=latency,
        peak_memory_bytes=peak,
    )


def _timer_for(device: torch.device) -> Timer:
    return CudaTimer(device) if device.type == "cuda" else CpuTimer()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
