"""Measure cases: one model build per case, then each requested probe in its own pass.

A failing case becomes a row that says why; the next case still runs. Warnings raised while a
case runs become that case's notes instead of noise on the terminal.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from bench.console import phases
from bench.durations import describe_seconds
from bench.errors import CaseUnsupported, TerminatedError
from bench.measure.ceilings import ceiling_for
from bench.measure.contention import ContentionProbe, foreign_thread_names
from bench.measure.counting.probe import count_case, count_without_running
from bench.measure.instructions.per_case import instructions_for
from bench.measure.memory.step import measure_memory
from bench.measure.process_guard import captured_stdout, process_guard
from bench.measure.threads import intra_op_threads, numerics_flags, thread_counts
from bench.measure.timing.conditions import timing_conditions
from bench.measure.timing.engine import (
    DEFAULT_POLICY,
    EXPERIMENT_POLICY,
    CpuTimer,
    CudaTimer,
    Timer,
    TimingPolicy,
    measure_latency,
)
from bench.measure.torch_state import (
    capture_signals,
    capture_state,
    restore_signals,
    restore_state,
    state_changes,
)
from bench.measure.watchdog import DEFAULT_TIMEOUT_S, CaseTimeout, Guard, case_guard
from bench.model.downloads import block_downloads
from bench.model.factory import build_model
from bench.model.given import FACTORY as GIVEN_FACTORY
from bench.model.graphs import WARMUP_CALLS, capture_graph
from bench.model.inplace import check_inplace
from bench.model.inputs import ModelInput, make_input
from bench.model.outputs import NonFiniteOutputError, check_output
from bench.model.support import variant_unavailable_reason
from bench.model.variants import (
    CompileWarmup,
    autocast,
    compile_model,
    unsupported_dtype,
    warm_compiled,
)
from bench.model.workload import Workload, make_workload
from bench.records import (
    DEFAULT_METRICS,
    Case,
    CaseKey,
    InstructionCount,
    LatencyStats,
    MemoryStats,
    Result,
)
from bench.records.axes import CUDA_GRAPH

SAMPLING_SHARE = 0.5
"""The least part of a case's budget that warmup and sampling get, whatever building, counting
and compiling the case took first (RunOptions.policy_for)."""


@dataclass(frozen=True)
class RunOptions:
    metrics: frozenset[str] = frozenset(DEFAULT_METRICS)
    timing: TimingPolicy = DEFAULT_POLICY
    # fvcore's count beside ours (costs one traced real forward): True always, False never, None
    # automatic: whenever the real model is built anyway (timing or memory asked, or a count
    # that meta could not make), so a counts-only run stays on meta
    crosscheck: bool | None = None
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

        The budget is per case: what the case already spent (model build, FLOP counting,
        compiling) comes off the timing's share, so a suite's time follows the sum of its
        budgets; but warmup and sampling always keep SAMPLING_SHARE of it. Without that floor a
        slow build took the whole budget: on a GPU, `--budget 1s` left resnet50 10-12 samples
        and a reduce-overhead case was timed from its third call, before its CUDA graphs were
        warm (its samples fell from 0.255 to 0.149 ms).
        """
        budget_s = self.budget_s if self.budget_s is not None else case.timing.budget_s
        budget_s = self.timing.budget_s if budget_s is None else budget_s
        return self.timing.with_overrides(
            budget_s=max(budget_s - spent_s, budget_s * SAMPLING_SHARE),
            precision=self.precision if self.precision is not None else case.timing.precision,
        )

    # what the machine looked like as the run started (bench.measure.threads), for run.log
    start_note: str = ""

    def threads_for(self, case: Case) -> int | None:
        return self.threads if self.threads is not None else case.timing.threads

    # `--allow-partial-counts`: keep a flagged MACs total that leaves out contractions without
    # a formula, instead of an empty cell
    allow_partial_counts: bool = False

    # per-case wall-clock limit (None: the suite's `timeout`, else DEFAULT_TIMEOUT_S)
    timeout_s: float | None = None

    def timeout_for(self, case: Case) -> float:
        if self.timeout_s is not None:
            return self.timeout_s
        return case.timing.timeout_s if case.timing.timeout_s is not None else DEFAULT_TIMEOUT_S

    experiment_timing: TimingPolicy = EXPERIMENT_POLICY
    # `--cache` and `--cuda-graphs`: the suite's `cache` and `graphs` for every model (None,
    # False: as the suite says)
    cache: str | None = None
    cuda_graphs: bool = False
    # after an oom row, add separately labelled rows at halved batch sizes
    oom_backoff: bool = False
    # measure each case in a fresh spawned process (bench.measure.isolation)
    isolate: bool = False
    # `bench run --repeat N`: the suite's model cases N times, interleaved
    repeat: int = 1
    # `bench run --processes N`: each case timed in N fresh worker processes, pooled
    processes: int = 1
    # `--metrics instructions` where the CPU's counter is hidden: every CPU case's count from
    # the run's one valgrind pass (bench.measure.instructions), by its counting key
    instruction_counts: Mapping[CaseKey, InstructionCount] = field(default_factory=dict)
    # `--quick`: the smoke-test timing policy (QUICK_POLICY); its numbers are not to be quoted
    quick: bool = False

    def record(self) -> dict[str, Any]:
        """The options that shape a run's numbers, as its run.json keeps them: the report
        states them, and --resume refuses to finish a run under other ones (rows timed with
        another budget, or not timed at all, would sit in one table as if alike)."""
        return {
            "metrics": sorted(self.metrics),
            "quick": self.quick,
            "budget_s": self.budget_s,
            "precision": self.precision,
            "threads": self.threads,
            "timeout_s": self.timeout_s,
            "processes": self.processes,
            "cache": self.cache,
            "cuda_graphs": self.cuda_graphs,
            "crosscheck": self.crosscheck,
            "allow_partial_counts": self.allow_partial_counts,
            "isolate": self.isolate,
            "oom_backoff": self.oom_backoff,
        }


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
    """Every requested measurement of one case; exceptions become an error, oom or timeout row.

    The case starts from the run's torch settings and leaves them as it found them (see
    bench.measure.torch_state); the row records the settings in effect when the case ended.
    """
    reason = device_unavailable_reason(case.device) or variant_unavailable_reason(case)
    if reason is not None:
        return Result(case=case, status="skipped", error=reason)
    run_state = capture_state()
    run_signals = capture_signals()
    threads_before = set(foreign_thread_names())
    timeout_s = options.timeout_for(case)
    with (
        recorded_warnings() as caught,
        intra_op_threads(options.threads_for(case)),
        block_downloads() as downloads,
    ):
        case_state = capture_state()
        try:
            with (
                case_guard(timeout_s) as guard,
                process_guard() as watch,
                captured_stdout() as printed,
            ):
                result = _guarded(case, options, guard)
        except CaseTimeout:
            result = Result(
                case=case,
                status="timeout",
                error=f"no result within {describe_seconds(timeout_s)} (--timeout); stopped",
                detail=traceback.format_exc(),
            )
        finally:
            gc.collect()
            if case.device.startswith("cuda"):
                release_cuda_memory()
        threads, interop_threads = thread_counts()  # as the case left them
        flags = numerics_flags()
        changed = state_changes(case_state, capture_state())
    restore_state(run_state)
    changed += restore_signals(run_signals)
    if downloads.targets:  # refused, even where the model caught the refusal and went on
        attempted = "download attempts: " + ", ".join(downloads.targets)
        detail = "\n".join(part for part in (attempted, result.detail) if part)
        result = Result(case=case, status="error", error=downloads.message(), detail=detail)
    notes = warning_notes(caught) + _left_threads(threads_before) + watch.notes() + printed.notes()
    if changed:
        notes += (
            f"the model changed process-wide settings ({'; '.join(changed)}); "
            "restored for the next case",
        )
    return replace(
        result,
        notes=result.notes + notes,
        threads=threads,
        interop_threads=interop_threads,
        numerics_flags=flags,
    )


@contextlib.contextmanager
def recorded_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Record the warnings raised inside, each distinct one (category, text, place) once.

    Python's "default" action, not "always": a forward that warns on every call (a deprecation
    inside a library's forward) would otherwise cost every timed call the whole trip through the
    warnings machinery and a new record (thousands per case, a list that grows while the samples
    are taken), which the user's own loop, under the default filters, does not pay. Entering the
    block resets every module's once-registry, so each case records each of its warnings afresh.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        yield caught


def release_cuda_memory(cuda_c: Any = None, cuda: Any = None) -> None:
    """Give back what a finished case left on the device, cuBLAS's workspaces included.

    cuBLAS keeps a workspace (32 MiB on an H200) per handle and stream, and a handle per
    thread: a training case's backward, which runs on autograd's own device thread, leaves one
    that `empty_cache` does not free. The next case then counted it as its own resident memory:
    mlp_bn b1 read 69,244,416 B after a training case against 35,689,984 B by hand. Each case
    now allocates the workspaces it uses itself. (`torch._C._cuda_clearCublasWorkspaces` is
    what torch's own tests call between tests for the same reason; absent, it is skipped.)
    """
    cuda_c = torch._C if cuda_c is None else cuda_c
    cuda = torch.cuda if cuda is None else cuda
    clear = getattr(cuda_c, "_cuda_clearCublasWorkspaces", None)
    if clear is not None:
        clear()
    cuda.empty_cache()


def _left_threads(before: set[int]) -> tuple[str, ...]:
    """A note naming the Python threads the case started and left running: they take the
    interpreter lock from every later case (a spinning one made a later MLP 553x slower), whose
    rows say `contended`; this row says who started them."""
    left = {tid: name for tid, name in foreign_thread_names().items() if tid not in before}
    if not left:
        return ()
    names = ", ".join(f"{name!r} (tid {tid})" for tid, name in sorted(left.items()))
    return (
        f"the model left {len(left)} thread(s) running after its case: {names}; later cases "
        "they slow are flagged contended",
    )


def warning_notes(caught: list[warnings.WarningMessage]) -> tuple[str, ...]:
    """Each distinct warning a case raised, as one line (a library's multi-line deprecation
    notice would otherwise break the report's lists)."""
    lines = (f"{w.category.__name__}: {' '.join(str(w.message).split())}" for w in caught)
    return tuple(dict.fromkeys(lines))


def _guarded(case: Case, options: RunOptions, guard: Guard) -> Result:
    """_measure, with a failing model turned into its row (a real Ctrl-C still propagates)."""
    try:
        return _measure(case, options)
    except CaseUnsupported as exc:  # this machine or model cannot run the variant
        return Result(case=case, status="skipped", error=_one_line(exc))
    except torch.cuda.OutOfMemoryError as exc:
        return Result(case=case, status="oom", error=_one_line(exc), detail=traceback.format_exc())
    except (MemoryError, RuntimeError) as exc:
        if not is_cpu_oom(exc):
            return _error_row(case, exc)
        # host memory ran out: an `oom` row like CUDA's, so --oom-backoff retries smaller batches
        error = f"CPU out of memory ({type(exc).__name__}: {_one_line(exc)})"
        return Result(case=case, status="oom", error=error[:300], detail=traceback.format_exc())
    except KeyboardInterrupt as exc:
        if isinstance(exc, TerminatedError) or guard.interrupted:
            raise
        # the model raised it itself (no SIGINT arrived): that model's failure, not the user's
        return Result(
            case=case,
            status="error",
            error=f"KeyboardInterrupt raised by the model: {_one_line(exc)}",
            detail=traceback.format_exc(),
        )
    except (Exception, SystemExit) as exc:  # a failing model must not stop the run
        # (SystemExit too: a model's sys.exit() is that model's failure, not the user's exit)
        return _error_row(case, exc)
    except CaseTimeout:
        raise  # the watchdog's: measure_case makes it the timeout row
    except BaseException as exc:
        # any other BaseException (asyncio.CancelledError, a library's own) came from the
        # model: it killed the whole run, with a traceback, and the next model never ran
        return _error_row(case, exc)


def _error_row(case: Case, exc: BaseException) -> Result:
    if isinstance(exc, NonFiniteOutputError):
        warnings.warn(f"NaN/Inf output: {exc}", RuntimeWarning, stacklevel=1)
    return Result(
        case=case,
        status="error",
        error=f"{type(exc).__name__}: {_one_line(exc)}",
        detail=traceback.format_exc(),
    )


# torch's CPU allocator reports failure as a RuntimeError; these are its words for it
_CPU_OOM_WORDS = ("DefaultCPUAllocator", "can't allocate memory", "not enough memory")


def is_cpu_oom(exc: BaseException) -> bool:
    """A host allocation failure: Python's MemoryError, or torch's CPU allocator giving up."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(word in text for word in _CPU_OOM_WORDS)


def _measure(case: Case, options: RunOptions) -> Result:
    if options.metrics <= COUNT_METRICS and _meta_can_stand_in(case):
        return _count_only(case, options)
    case_start_s = time.perf_counter()
    phases.announce(phases.BUILD)
    model = build_model(case)
    example = make_input(case)
    inplace = check_inplace(case, model) if case.inplace_variant == "in_place" else None
    device = torch.device(case.device)
    counts = None
    if options.metrics & COUNT_METRICS:
        # Before make_workload: the probes may switch the model to eval; the workload sets the
        # case's mode again.
        phases.announce(phases.COUNT)
        counts = count_case(
            case,
            model,
            example,
            options.metrics,
            options.crosscheck,
            options.allow_partial_counts,
        )
    forward_context = autocast(case.dtype, case.device)
    workload = make_workload(model, example, case.mode, forward_context)
    output_notes = _checked_forward(model, example, case)

    warmup: CompileWarmup | None = None
    compiling = case.compile not in ("eager", CUDA_GRAPH)
    if compiling:
        compiled = compile_model(model, case.compile)
        workload = make_workload(compiled, example, case.mode, forward_context)

    peak = None
    clock_notes: tuple[str, ...] = ()
    latency: LatencyStats | None = None
    memory: MemoryStats | None = None
    with workload.context():
        if case.compile == CUDA_GRAPH:
            phases.announce(phases.COMPILE)
            workload, warmup = _captured(workload, device)
        elif compiling and options.metrics & {"latency", "memory"}:
            phases.announce(phases.COMPILE)
            warmup = _compile(workload, case, device)
        if "latency" in options.metrics:
            phases.announce(phases.TIME)
            policy = options.policy_for(case, spent_s=time.perf_counter() - case_start_s)
            with timing_conditions(case.device, case.cache, workload.setup) as conditions:
                latency = measure_latency(
                    workload.run,
                    _timer_for(device),
                    policy,
                    setup=conditions.setup,
                    probe=probe_for(device),
                    clocks=conditions.clocks,
                )
            clock_notes = conditions.notes + _throttle_notes(latency)
        if "memory" in options.metrics:
            phases.announce(phases.MEMORY)
            memory = measure_memory(workload, model, example.tensors(), device)
            peak = memory.peak_allocated_bytes
    if latency is not None or memory is not None:
        _check_after(model, example, case.mode)
    instructions = None
    if "instructions" in options.metrics:
        phases.announce(phases.INSTRUCTIONS)
        instructions = instructions_for(case, workload, options.instruction_counts)
    return Result(
        case=case,
        status="ok",
        params=counts.params if counts else None,
        trainable_params=counts.trainable_params if counts else None,
        macs=counts.macs if counts else None,
        latency=latency,
        peak_memory_bytes=peak,
        memory=memory,
        counting=counts.details if counts else None,
        matmul_peak_gflops=options.peak_gflops_for(case.device),
        compile_ms=warmup.compile_ms if warmup else None,
        graph_breaks=warmup.graph_breaks if warmup and case.compile != CUDA_GRAPH else None,
        matches_reference=inplace.matches if inplace else None,
        instructions=instructions,
        notes=(counts.notes if counts else ())
        + output_notes
        + (inplace.notes if inplace else ())
        + _compile_notes(warmup, case, device)
        + clock_notes
        + _instruction_notes(instructions),
    )


def _instruction_notes(instructions: InstructionCount | None) -> tuple[str, ...]:
    if instructions is None or instructions.per_call is not None:
        return ()
    return (f"instructions not counted: {instructions.reason}",)


def _checked_forward(model: torch.nn.Module, example: ModelInput, case: Case) -> tuple[str, ...]:
    """One forward pass, its output checked for NaN/Inf, before any measurement; a dtype the
    device cannot run becomes CaseUnsupported (a skipped row). Returns the output's notes
    (non-tensor parts ignored)."""
    forward_context = autocast(case.dtype, case.device)
    before = [_fingerprint(t) for t in example.tensors()]
    try:
        with torch.no_grad(), forward_context():
            notes = check_output(example(model))
        return notes + _input_writes(before, [_fingerprint(t) for t in example.tensors()])
    except (RuntimeError, NotImplementedError) as exc:
        unsupported = unsupported_dtype(exc, case.dtype, case.device)
        if unsupported is None:
            raise
        raise unsupported from exc


Fingerprint = tuple[tuple[int, ...], float | None, float | None]


def _fingerprint(tensor: torch.Tensor) -> Fingerprint:
    """Shape, sum and (floating) norm in float64: enough to see an in-place write such as
    `x.div_(255)`, with no copy of an input that may be most of the device's memory."""
    with torch.no_grad():
        total = float(tensor.sum(dtype=torch.float64))
        norm = (
            float(torch.linalg.vector_norm(tensor, dtype=torch.float64))
            if tensor.is_floating_point()
            else 0.0
        )
    # NaN never equals itself: an input holding one would read as written to
    return tuple(tensor.shape), _or_none(total), _or_none(norm)


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _input_writes(before: list[Fingerprint], after: list[Fingerprint]) -> tuple[str, ...]:
    """A note when one forward changed its inputs in place (`x.div_(255)`): every timed call
    then runs on what the call before it left (such a model read 0.0197 ms where fresh copies
    read 0.134 ms), which no one's real input looks like."""
    changed = [
        str(index) for index, (old, new) in enumerate(zip(before, after, strict=True)) if old != new
    ]
    if not changed:
        return ()
    return (
        f"the model writes into its input (input {', '.join(changed)} changed during one "
        "forward): each timed call ran on what the call before it left, not on fresh data; "
        "the latency may not be what real inputs give",
    )


COUNT_METRICS = frozenset({"params", "flops"})


def _meta_can_stand_in(case: Case) -> bool:
    """Whether a counts-only case can skip the real model when meta counts it: not when a
    checkpoint is loaded (loading it is part of the case and can fail) nor for an in-place
    comparison (its row compares real outputs)."""
    return (
        not case.inplace_variant
        and case.model.checkpoint is None
        and case.model.factory != GIVEN_FACTORY  # a given model exists already: count it
    )


def _count_only(case: Case, options: RunOptions) -> Result:
    """Params and FLOPs alone: counted on meta, with no real model, no real forward and (unless
    --crosscheck) no fvcore trace. The real model is built only when meta cannot count; when
    even that count fails, one checked real forward makes a broken model its error row."""

    phases.announce(phases.COUNT)

    @functools.cache
    def real() -> tuple[torch.nn.Module, ModelInput]:
        model = build_model(case)
        example = make_input(case)
        return model, example

    counts = count_without_running(
        case, real, options.metrics, options.crosscheck, options.allow_partial_counts
    )
    if "flops" in options.metrics and counts.details.counted_on is None:
        _checked_forward(*real(), case)
    return Result(
        case=case,
        status="ok",
        params=counts.params,
        trainable_params=counts.trainable_params,
        macs=counts.macs,
        counting=counts.details,
        matmul_peak_gflops=options.peak_gflops_for(case.device),
        notes=counts.notes,
    )


def _check_after(model: torch.nn.Module, example: ModelInput, mode: str) -> None:
    """The measured calls ran unchecked (a check in the timed loop would cost a sync per call):
    check once more afterwards, so a model whose output turns NaN on a later call, or whose
    training steps made its weights NaN, is an error row rather than a latency to quote."""
    if mode == "train":
        for name, parameter in model.named_parameters():
            if not bool(torch.isfinite(parameter).all()):
                raise NonFiniteOutputError(
                    f"parameter {name} became non-finite during the measured training steps"
                )
    try:
        with torch.no_grad():
            check_output(example(model))
    except NonFiniteOutputError as exc:
        raise NonFiniteOutputError(f"after the measured calls, {exc}") from None


def _compile(workload: Workload, case: Case, device: torch.device) -> CompileWarmup:
    """Compile (and for CUDA graphs, record) before timing, so latency starts steady."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    cuda_graphs = case.compile == "reduce-overhead" and device.type == "cuda"
    return warm_compiled(workload.run, workload.setup, sync, min_calls=2 if cuda_graphs else 1)


def _captured(workload: Workload, device: torch.device) -> tuple[Workload, CompileWarmup]:
    """The workload replayed from a CUDA graph of its forward, and what capturing cost (as
    compiling does: `compile_ms`, never part of latency)."""
    started = time.perf_counter()
    replay = capture_graph(workload.run, device)
    capture_ms = (time.perf_counter() - started) * 1000.0
    graphed = replace(workload, run=replay)
    return graphed, CompileWarmup(
        compile_ms=capture_ms, calls=WARMUP_CALLS + 1, graph_breaks=0, graphs=1, steady=True
    )


def _throttle_notes(latency: LatencyStats) -> tuple[str, ...]:
    clocks = latency.clocks
    return (clocks.reason(),) if clocks is not None and clocks.throttled else ()


def _compile_notes(
    warmup: CompileWarmup | None, case: Case, device: torch.device
) -> tuple[str, ...]:
    if warmup is None:
        return ()
    if case.compile == CUDA_GRAPH:
        return (
            f"{CUDA_GRAPH}: the forward captured after {WARMUP_CALLS} eager warm-up calls "
            f"({warmup.compile_ms:.0f} ms, not in the latency); timed as graph replays; a "
            "replay allocates nothing: the activations live in the graph's private pool, "
            "reserved at capture (peak_reserved_bytes), not in peak_memory_bytes",
        )
    notes = []
    if case.compile == "reduce-overhead" and device.type != "cuda":
        notes.append("compile: reduce-overhead adds CUDA graphs on CUDA only; here it is default")
    note = (
        f"compile: {warmup.calls} call(s) until steady ({warmup.compile_ms:.0f} ms, not in the "
        f"latency), {warmup.graphs} graph(s), {warmup.graph_breaks} graph break(s)"
    )
    if not warmup.steady:
        note += "; still compiling new frames after the last call: latency may include recompiles"
    return (*notes, note)


def probe_for(device: torch.device) -> ContentionProbe:
    """A CPU case needs its intra-op threads' cores; a CUDA case one host thread (the launches)."""
    return ContentionProbe(1 if device.type == "cuda" else torch.get_num_threads())


def _timer_for(device: torch.device) -> Timer:
    return CudaTimer(device) if device.type == "cuda" else CpuTimer()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
