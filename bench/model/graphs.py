"""`compile = "cuda-graph"` (suite `graphs = true`, `bench run --cuda-graphs`): the eager forward
captured once in a CUDA graph and replayed.

A replay launches the whole forward with one call, so what eager pays per kernel on the host
(Python, dispatch, the launch itself) disappears; the device work is the same. Timing both, side
by side, says how much of a case's latency is launch overhead: the report's `launch_bound`
verdict (bench/report/graphs.py). This is `torch.cuda.graphs` capture as its docs give it, and
what `triton.testing.do_bench_cudagraph` does, without a compiler: `reduce-overhead` is the
compiled counterpart.

Capture needs a forward with static shapes and no host synchronization (`.item()`, data-
dependent shapes, CPU ops): a forward that cannot be captured gives a `skipped` row with the
reason, and the eager row still stands. Inference only: a captured training step needs its
optimizer and gradients captured too, which `reduce-overhead` does.

The CUDA backend is a parameter (`torch.cuda` by default), so tests drive the capture, its
order of calls and its failure with a fake one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.errors import CaseUnsupported
from bench.records.axes import CUDA_GRAPH

WARMUP_CALLS = 3
"""Eager calls on a side stream before capture, as torch's docs require: lazy initialisation,
cuDNN/cuBLAS workspace allocation and autotuning must not happen inside the capture."""


def graph_problem(compile_mode: str, device: str, mode: str) -> str | None:
    """Why a cuda-graph case cannot run, before anything is built (None: it can be tried)."""
    if compile_mode != CUDA_GRAPH:
        return None
    if not device.startswith("cuda"):
        return f"{CUDA_GRAPH}: CUDA graphs need a CUDA device; this case runs on {device}"
    if mode != "eval":
        return (
            f"{CUDA_GRAPH}: forward (eval) only; a training step captured whole needs its "
            "optimizer captured too: use compile = reduce-overhead"
        )
    return None


def capture_graph(run: Callable[[], Any], device: Any, backend: Any = None) -> Callable[[], Any]:
    """Capture `run` (call inside the workload's context) and return the replay.

    Warm-up on a side stream, then capture on it; CaseUnsupported with the reason when the
    capture fails, so the case becomes a skipped row rather than an error.
    """
    if backend is None:
        import torch

        backend = torch.cuda
    backend.synchronize(device)
    side = backend.Stream(device)
    side.wait_stream(backend.current_stream(device))
    try:
        with backend.stream(side):
            for _ in range(WARMUP_CALLS):
                run()
        backend.current_stream(device).wait_stream(side)
        graph = backend.CUDAGraph()
        with backend.graph(graph):
            run()
        backend.synchronize(device)
    except Exception as exc:  # any failure to capture: the forward is not capturable
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise CaseUnsupported(
            f"{CUDA_GRAPH}: the forward could not be captured in a CUDA graph "
            f"({type(exc).__name__}: {text}); it needs static shapes and no host sync"
        ) from exc
    return graph.replay
