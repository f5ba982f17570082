"""Inside a side's worker: build, warm up, calibrate and time one case at a time.

The case is built exactly as `bench run` builds it (build_model, make_input, autocast,
make_workload, the case's threads, downloads refused), and its workload's context (inference
mode or autograd) stays entered from `prepare` to `release`, so every block times the same
steady state. `prepare` times the cold first call and warms up until steady (the engine's own
`warm_up`), then picks the calls per raw sample with the engine's `choose_block_size`, so the
timer's cost is a negligible part of each sample, as in `bench run`. A block then times
`samples` raw samples back to back, bracketed by a contention probe.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import bench
from bench.ab.protocol import BlockReading, CaseFailed, CaseInfo, Listing, Prepared
from bench.measure.case import device_unavailable_reason, probe_for
from bench.measure.contention import ContentionProbe
from bench.measure.threads import intra_op_threads
from bench.measure.timing.engine import (
    DEFAULT_POLICY,
    CpuTimer,
    CudaTimer,
    Timer,
    choose_block_size,
    warm_up,
)
from bench.measure.timing.flush import cache_flush, with_flush
from bench.measure.timing.timers import lead_call
from bench.model.downloads import block_downloads
from bench.model.factory import build_model
from bench.model.graphs import capture_graph
from bench.model.inputs import make_input
from bench.model.support import variant_unavailable_reason
from bench.model.variants import autocast, compile_model
from bench.model.workload import make_workload
from bench.records import Case
from bench.records.axes import CUDA_GRAPH
from bench.records.keys import CaseKey
from bench.suite import expand, load_suite


@dataclass(frozen=True)
class _Live:
    """The prepared case: what a block calls, and the contexts `release` leaves."""

    run: Callable[[], Any]
    setup: Callable[[], Any] | None
    timer: Timer
    calls: int
    probe: ContentionProbe
    device: torch.device
    contexts: contextlib.ExitStack


class CaseSession:
    """One side's suite, and at most one prepared case at a time."""

    def __init__(self, suite_path: Path, threads: int | None) -> None:
        self.cases: dict[CaseKey, Case] = {c.key: c for c in expand(load_suite(suite_path))}
        self.threads = threads
        self.live: _Live | None = None

    def listing(self) -> Listing:
        return Listing(
            python_version=platform.python_version(),
            torch_version=torch.__version__,
            bench_path=str(Path(bench.__file__).resolve().parent),
            cases=tuple(
                CaseInfo(key, case.label, case.timing.timeout_s) for key, case in self.cases.items()
            ),
        )

    def prepare(self, key: CaseKey, block_time_s: float, warmup_budget_s: float) -> Prepared:
        self.release()
        case = self.cases.get(key)
        if case is None:
            raise CaseFailed(f"no case {key.label} in this side's suite")
        reason = device_unavailable_reason(case.device) or variant_unavailable_reason(case)
        if reason is not None:
            raise CaseFailed(f"cannot run here: {reason}")
        contexts = contextlib.ExitStack()
        try:
            contexts.enter_context(intra_op_threads(self.threads or case.timing.threads))
            contexts.enter_context(block_downloads())
            prepared, self.live = _build(case, contexts, block_time_s, warmup_budget_s)
        except BaseException:
            contexts.close()
            raise
        return prepared

    def block(self, samples: int) -> BlockReading:
        live = self.live
        if live is None:
            raise CaseFailed("block before prepare")
        per_call_ms = []
        live.probe.start()
        for _ in range(samples):
            if live.setup is not None:
                live.setup()
            block = live.timer.time_block(live.run, live.calls, lead_call(live.run, live.setup))
            per_call_ms.append(block.elapsed_ms / live.calls)
        return BlockReading(tuple(per_call_ms), live.probe.stop())

    def release(self) -> None:
        live, self.live = self.live, None
        if live is None:
            return
        live.contexts.close()
        device = live.device
        del live
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()


def _build(
    case: Case, contexts: contextlib.ExitStack, block_time_s: float, warmup_budget_s: float
) -> tuple[Prepared, _Live]:
    model = build_model(case)
    example = make_input(case)
    if case.compile not in ("eager", CUDA_GRAPH):
        model = compile_model(model, case.compile)
    workload = make_workload(model, example, case.mode, autocast(case.dtype, case.device))
    contexts.enter_context(workload.context())
    device = torch.device(case.device)
    if case.compile == CUDA_GRAPH:
        workload = dataclasses.replace(workload, run=capture_graph(workload.run, device))
    if case.cache == "cold":  # the flush before each call, as bench run does; freed on release
        flush = cache_flush(case.device)
        contexts.callback(flush.release)
        workload = dataclasses.replace(workload, setup=with_flush(workload.setup, flush.flush))
    timer: Timer = CudaTimer(device) if device.type == "cuda" else CpuTimer()
    policy = DEFAULT_POLICY.with_overrides(budget_s=warmup_budget_s)
    warmup = warm_up(workload.run, timer, policy, setup=workload.setup)
    overhead_ns = timer.overhead_ns()
    per_call_ms = warmup.steady_ms
    calls = 1
    if workload.setup is None:  # a setup step runs before every call: one call per sample
        per_call_ns = max(per_call_ms * 1e6 - overhead_ns, 1.0)
        calls = choose_block_size(per_call_ns, overhead_ns, policy, block_time_s * 1e9)
        if calls > 1:  # one timed call of a fast function is mostly clock: measure a block
            block = timer.time_block(workload.run, calls, workload.run)
            per_call_ms = max(block.elapsed_ms / calls, 1e-6)
            calls = choose_block_size(per_call_ms * 1e6, overhead_ns, policy, block_time_s * 1e9)
    prepared = Prepared(per_call_ms, calls, warmup.first_call_ms, warmup.steady)
    live = _Live(workload.run, workload.setup, timer, calls, probe_for(device), device, contexts)
    return prepared, live
