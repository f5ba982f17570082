"""Profile one case: bench's own warmup and unprofiled timing first, then a short profiler session.

Order, on one model instance in one process:
1. bench's timing engine (cold call, warmup to a steady state, sampling) with no profiler and
   no hooks: its median is the unprofiled reference the profiler's overhead is stated against;
2. FlopCounterMode over one forward pass, for FLOPs per module;
3. `torch.profiler.profile` with `schedule(wait, warmup, active)` over steady-state steps, with
   module ranges, shapes and memory events; its trace is exported as Chrome/Perfetto JSON;
4. on CUDA, one more step under `torch.cuda.memory._record_memory_history`, dumped as a
   snapshot for PyTorch's memory visualizer.
The profiler is never on while bench times anything, so its overhead cannot reach a latency row.
"""

from __future__ import annotations

import hashlib
import importlib.util
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, schedule

from bench.measure.case import device_unavailable_reason, recorded_warnings, warning_notes
from bench.measure.memory.probes import native_stderr_filtered
from bench.measure.threads import intra_op_threads
from bench.measure.timing import DEFAULT_POLICY, CpuTimer, CudaTimer, TimingPolicy, measure_latency
from bench.model import Workload, build_model, make_input, make_workload
from bench.model.variants import autocast
from bench.profile.modules import module_flops, module_kinds, module_names, module_ranges
from bench.profile.tables import memory_rows, module_rows, op_rows, step_times_ms
from bench.records import Case
from bench.records.profiles import CaseProfile, ProfileSettings
from bench.report.plot_style import HASH_CHARS, slug

TRACE_SUFFIX = ".trace.json"
SNAPSHOT_SUFFIX = ".memory_snapshot.pickle"
SNAPSHOT_MAX_ENTRIES = 100_000


def case_slug(case: Case) -> str:
    """A file-name-safe stem from the case's label: a readable slug and a hash of the whole
    label, so `net/a` and `net_a` (one slug) get folders of their own and a long name cannot
    overflow the file system's limit."""
    digest = hashlib.sha256(case.label.encode("utf-8")).hexdigest()[:HASH_CHARS]
    return f"{slug(case.label)}-{digest}"


def profile_case(
    case: Case,
    settings: ProfileSettings,
    out_dir: Path,
    policy: TimingPolicy = DEFAULT_POLICY,
    threads: int | None = None,
    cuda_memory: Any = None,
) -> CaseProfile:
    """Profile `case` and write its trace (and CUDA snapshot) under out_dir; never raises for a
    failing model: the profile says why instead."""
    base = {"label": case.label, "mode": case.mode, "device": case.device}
    reason = device_unavailable_reason(case.device)
    if reason is not None:
        return CaseProfile(**base, status="skipped", error=reason)
    with recorded_warnings() as caught, intra_op_threads(threads):
        try:
            result = _profile(case, settings, out_dir, policy, cuda_memory)
        except (Exception, SystemExit) as exc:  # one failing model must not stop the others
            text = " ".join(str(exc).split())[:300] or type(exc).__name__
            result = CaseProfile(
                **base,
                status="error",
                error=f"{type(exc).__name__}: {text}",
                notes=(traceback.format_exc(limit=3).splitlines()[-1],),
            )
    notes = warning_notes(caught)
    return replace(result, notes=result.notes + notes)


def _profile(
    case: Case, settings: ProfileSettings, out_dir: Path, policy: TimingPolicy, cuda_memory: Any
) -> CaseProfile:
    model = build_model(case)
    example = make_input(case)
    device = torch.device(case.device)
    on_device = device.type == "cuda"
    # the case's autocast too: an amp_* case profiled without it showed float32 kernels
    workload = make_workload(model, example, case.mode, autocast(case.dtype, case.device))
    case_dir = out_dir / case_slug(case)  # one folder per case, as HTA reads a folder
    case_dir.mkdir(parents=True, exist_ok=True)
    trace = case_dir / (case_slug(case) + TRACE_SUFFIX)
    with workload.context():
        timer = CudaTimer(device) if on_device else CpuTimer()
        latency = measure_latency(workload.run, timer, policy, setup=workload.setup)
        flops = module_flops(model, lambda: example(model))
        captured = _session(workload, model, device, settings, trace)
        snapshot = None
        if on_device:
            snapshot = cuda_memory_snapshot(
                lambda: _step(workload, device),
                case_dir / (case_slug(case) + SNAPSHOT_SUFFIX),
                cuda_memory,
                device,
            )
    steps_ms = step_times_ms(captured["events"])
    mean_step_ms = sum(steps_ms) / len(steps_ms) if steps_ms else 0.0
    steps = settings.steps
    return CaseProfile(
        label=case.label,
        mode=case.mode,
        device=case.device,
        status="ok",
        steps=steps,
        bench_median_ms=latency.median_ms,
        bench_mean_ms=latency.mean_ms,
        profiled_step_ms=mean_step_ms if steps_ms else None,
        step_times_ms=tuple(steps_ms),
        ops=op_rows(captured["by_shape"], steps, mean_step_ms, on_device),
        modules=module_rows(
            captured["events"],
            module_names(model),
            flops,
            steps,
            mean_step_ms,
            on_device,
            module_kinds(model),
        ),
        memory=memory_rows(captured["events"], steps, on_device),
        trace=trace,
        memory_snapshot=snapshot,
        notes=_not_applied(case) + (hta_notes(trace) if on_device else ()),
    )


def _not_applied(case: Case) -> tuple[str, ...]:
    """What of the case's variants the profile does not reproduce, said rather than implied by
    its label: it profiles the forward as built (no torch.compile, no graph capture), warm."""
    notes = []
    if case.compile != "eager":
        notes.append(f"profiled eager: bench profile does not apply compile = {case.compile}")
    if case.cache == "cold":
        notes.append("profiled warm: bench profile does not flush the cache between steps")
    return tuple(notes)


def _step(workload: Workload, device: torch.device) -> None:
    """One step: the workload's setup (train: `zero_grad(set_to_none=True)`, microseconds, which
    bench's timing leaves out) and its timed work; on CUDA it ends synchronized, so the step's
    profiler range covers its kernels."""
    if workload.setup is not None:
        workload.setup()
    workload.run()
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _session(
    workload: Workload,
    model: torch.nn.Module,
    device: torch.device,
    settings: ProfileSettings,
    trace: Path,
) -> dict[str, Any]:
    """Run wait + warmup + active steps under the profiler; keep what the active ones recorded."""
    activities = [ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    captured: dict[str, Any] = {}

    def on_trace_ready(prof: profile) -> None:
        prof.export_chrome_trace(str(trace))
        captured["events"] = prof.events()
        captured["by_shape"] = prof.key_averages(group_by_input_shape=settings.group_by_shape)

    plan = schedule(wait=settings.wait, warmup=settings.warmup, active=settings.steps, repeat=1)
    with (
        native_stderr_filtered(),
        profile(
            activities=activities,
            schedule=plan,
            on_trace_ready=on_trace_ready,
            record_shapes=settings.group_by_shape,
            profile_memory=True,
        ) as prof,
        module_ranges(model),
    ):
        for _ in range(settings.wait + settings.warmup + settings.steps):
            _step(workload, device)
            prof.step()
    if "events" not in captured:
        raise RuntimeError("the profiler's schedule ended without recording its active steps")
    return captured


def cuda_memory_snapshot(step: Any, path: Path, memory: Any = None, device: Any = None) -> Path:
    """Record the CUDA caching allocator's history over one step and dump it for the visualizer
    (https://pytorch.org/memory_viz). `memory` is `torch.cuda.memory` or a test's fake."""
    if memory is None:
        memory = torch.cuda.memory
    memory._record_memory_history(max_entries=SNAPSHOT_MAX_ENTRIES, device=device)
    try:
        step()
        memory._dump_snapshot(str(path))
    finally:
        memory._record_memory_history(enabled=None, device=device)
    return path


def hta_notes(trace: Path) -> tuple[str, ...]:
    """Holistic Trace Analysis's GPU breakdown of the trace's folder, where HTA is installed."""
    if importlib.util.find_spec("hta") is None:
        return (
            "Holistic Trace Analysis not installed (pip install HolisticTraceAnalysis): its "
            "GPU kernel breakdown and idle time were skipped",
        )
    try:
        from hta.trace_analysis import TraceAnalysis

        analysis = TraceAnalysis(trace_dir=str(trace.parent))
        temporal = analysis.get_temporal_breakdown(visualize=False)
        return (f"Holistic Trace Analysis, temporal breakdown: {temporal.to_dict('records')}",)
    except Exception as exc:  # an optional analysis: say why it is missing, keep the profile
        return (f"Holistic Trace Analysis failed ({type(exc).__name__}): {exc}",)
