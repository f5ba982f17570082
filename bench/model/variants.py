"""The variants users tune, as suite axes: precision, memory format and torch.compile.

Precision (`dtypes`): `float32`, `float16`, `bfloat16`, `float64` cast the model and its
floating inputs; `amp_float16` and `amp_bfloat16` keep float32 weights and inputs and run the
forward under `torch.autocast` for the case's device (mixed precision as a training loop uses
it: matmuls and convolutions in the low precision, reductions and norms in float32).

Memory format (`memory_formats`): `contiguous` (NCHW), `channels_last` (NHWC, 4-D inputs) and
`channels_last_3d` (NDHWC, 5-D inputs), applied to the model's parameters and to the input.

Compilation (`compile`): `eager` runs the module as built; `default`, `reduce-overhead` (CUDA
graphs on CUDA) and `max-autotune` are `torch.compile` modes. The calls that compile (and, for
CUDA graphs, record) are timed as `compile_ms`, before and apart from latency.

A combination this machine or model cannot run raises `CaseUnsupported`, whose message becomes
the `skipped` row's error.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.errors import CaseUnsupported
from bench.records.axes import AMP_DTYPES, DTYPES

# what torch does with each name of bench.records.axes
AUTOCAST_DTYPES = {"amp_float16": torch.float16, "amp_bfloat16": torch.bfloat16}
TORCH_MEMORY_FORMATS = {  # the format, and the input rank it applies to (None: any)
    "contiguous": (torch.contiguous_format, None),
    "channels_last": (torch.channels_last, 4),
    "channels_last_3d": (torch.channels_last_3d, 5),
}
# Calls allowed for a compiled model to stop compiling; a model still recompiling after this
# many calls is measured anyway, with a note (its latency may include recompiles).
MAX_COMPILE_CALLS = 10
_REDUCED = {"float16": "Half", "bfloat16": "BFloat16"}


def storage_dtype(name: str) -> torch.dtype:
    """The dtype weights and inputs are stored in: float32 for the autocast precisions."""
    if name in AMP_DTYPES:
        return torch.float32
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ValueError(f"{name!r} is not a dtype; allowed: {', '.join(DTYPES)}")
    return dtype


def autocast(name: str, device: str) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """A context factory for the case's forward: torch.autocast for amp_*, else nothing.

    "Nothing" is `contextlib.nullcontext` itself, so callers can tell it apart by identity:
    make_workload then times the bare forward instead of entering a no-op context every call.
    """
    if name not in AMP_DTYPES:
        return contextlib.nullcontext
    device_type = torch.device(device).type
    dtype = AUTOCAST_DTYPES[name]

    def context() -> contextlib.AbstractContextManager[Any]:
        return torch.autocast(device_type=device_type, dtype=dtype)

    return context


def memory_format_problem(name: str, input_shape: tuple[int, ...]) -> str | None:
    """Why the format cannot apply to an input of this shape (batch included), or None."""
    _, ndim = TORCH_MEMORY_FORMATS[name]
    if ndim is None or len(input_shape) == ndim:
        return None
    shape = "x".join(str(d) for d in input_shape)
    layout = "N, C, H, W" if ndim == 4 else "N, C, D, H, W"
    return (
        f"memory_format {name} needs a {ndim}-D input ({layout}); this case's input is "
        f"{len(input_shape)}-D ({shape})"
    )


def torch_memory_format(name: str) -> torch.memory_format:
    return TORCH_MEMORY_FORMATS[name][0]


def compile_problem(mode: str, device: str) -> str | None:
    """Why torch.compile cannot run here (no C++ compiler for CPU, no Triton for CUDA), or None.

    Checked before building the model, so a machine without a toolchain gives one clear skipped
    row per case instead of a backend traceback.
    """
    if mode == "eager":
        return None
    if torch.device(device).type == "cuda":
        from torch.utils._triton import has_triton  # inductor's own check

        return None if has_triton() else "compile: Triton is not installed for inductor on CUDA"
    if _cpp_compiler() is None:
        return (
            "compile: no C++ compiler found for inductor on the CPU (set CXX or install g++); "
            "eager cases still run"
        )
    return None


def _cpp_compiler() -> str | None:
    """The first of inductor's configured C++ compilers (`config.cpp.cxx`) that is on PATH."""
    try:
        from torch._inductor import config

        cxx = config.cpp.cxx
        candidates = list(cxx) if isinstance(cxx, (list, tuple)) else [cxx]
    except (ImportError, AttributeError):  # a torch without that setting: inductor's default
        candidates = [os.environ.get("CXX", "g++")]
    for candidate in candidates:
        if candidate and shutil.which(candidate):
            return candidate
    return None


def unsupported_dtype(exc: BaseException, dtype: str, device: str) -> CaseUnsupported | None:
    """A CaseUnsupported when `exc` says an op has no kernel for the case's reduced precision.

    torch reports a missing kernel as "... not implemented for 'Half'" (RuntimeError or
    NotImplementedError); that wording is the only signal torch gives.
    """
    if not isinstance(exc, (RuntimeError, NotImplementedError)):
        return None
    precision = dtype.removeprefix("amp_")
    torch_name = _REDUCED.get(precision)
    message = " ".join(str(exc).split())
    if torch_name is None or "not implemented for" not in message or torch_name not in message:
        return None
    return CaseUnsupported(
        f"{dtype}: an op of this model has no {precision} kernel on {device} ({message[:200]})"
    )


@dataclass(frozen=True)
class CompileWarmup:
    """What compiling cost: the calls until nothing new compiled, and dynamo's counters."""

    compile_ms: float
    calls: int
    graph_breaks: int
    graphs: int
    steady: bool


def compile_model(model: torch.nn.Module, mode: str) -> Any:
    """torch.compile with the mode named in the suite, on a fresh dynamo state.

    The reset drops every earlier case's compiled graphs, so this case's compile time and
    counters are its own and no cache-size limit carries over from model to model.
    """
    torch._dynamo.reset()
    _counters().clear()
    return torch.compile(model, mode=None if mode == "default" else mode)


def warm_compiled(
    run: Callable[[], Any],
    setup: Callable[[], None] | None,
    sync: Callable[[], None],
    min_calls: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> CompileWarmup:
    """Call the compiled workload until a call compiles nothing new; time the calls that did.

    A call "compiles" when dynamo's frame count grows (first compile, graph breaks compiled
    later, recompiles on a guard failure). `min_calls` counts calls that belong to compiling
    whatever the counters say: 2 for CUDA graphs, whose second call records the graph. The first
    call that compiles nothing is not counted: it is an ordinary call, and the timing engine's
    own cold call follows. Call inside the workload's context.
    """
    total_s = 0.0
    calls = 0
    steady = False
    while calls < MAX_COMPILE_CALLS:
        if setup is not None:
            setup()
        frames_before = _frames()
        sync()
        started = clock()
        run()
        sync()
        elapsed = clock() - started
        if calls >= min_calls and _frames() == frames_before:
            steady = True
            break
        total_s += elapsed
        calls += 1
    return CompileWarmup(
        compile_ms=total_s * 1000.0,
        calls=calls,
        graph_breaks=sum(_counters()["graph_break"].values()),
        graphs=int(_counters()["stats"].get("unique_graphs", 0)),
        steady=steady,
    )


def _counters() -> Any:
    from torch._dynamo.utils import counters

    return counters


def _frames() -> int:
    return int(_counters()["frames"].get("total", 0))
