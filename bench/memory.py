"""Peak memory of one inference forward pass, measured in its own pass (never while timing).

CUDA: the caching allocator's own peak counter, reset on the case's device before the pass.
CPU: there is no allocator counter, and process RSS is coarse (it includes cached pages and the
whole interpreter), so the peak is replayed from the profiler's allocation and free events:
each op's own (self) allocations and the `[memory]` free events, in time order. The result is
exact at op granularity and repeatable run after run. Both figures include what was resident
before the pass (weights, buffers, the input), as `max_memory_allocated` does on CUDA.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

# Kineto writes its own start/stop lines and a GPU-probe error to the process's native stderr.
_KINETO_NOISE = re.compile(rb"^(USDT|STAGE|ERROR|WARNING|INFO):\S+ \S+ \d+:\d+ \S+\.cpp:\d+\]")


def resident_bytes(model: nn.Module, *tensors: torch.Tensor) -> int:
    """Bytes of the distinct storages held by the model's parameters, buffers and inputs."""
    storages: dict[int, int] = {}
    for tensor in [*model.parameters(), *model.buffers(), *tensors]:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
    return sum(storages.values())


def cpu_peak_bytes(fn: Callable[[], Any], resident: int) -> int:
    """Resident bytes plus the highest point of allocations minus frees during one call of fn."""
    from torch.profiler import ProfilerActivity, profile

    with _native_stderr_filtered():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
        events = sorted(
            (e for e in prof.events() if e.self_cpu_memory_usage != 0),
            key=lambda e: e.time_range.start,
        )
    current = peak = 0
    for event in events:
        current += event.self_cpu_memory_usage
        peak = max(peak, current)
    return resident + peak


def cuda_peak_bytes(fn: Callable[[], Any], device: Any, backend: Any = None) -> int:
    """`max_memory_allocated` over one call of fn, after a reset on the case's device."""
    if backend is None:
        backend = torch.cuda
    backend.synchronize(device)
    backend.reset_peak_memory_stats(device)
    fn()
    backend.synchronize(device)
    return int(backend.max_memory_allocated(device))


@contextlib.contextmanager
def _native_stderr_filtered() -> Iterator[None]:
    """Drop Kineto's log lines from fd 2 while the profiler runs; pass every other line through.

    They bypass Python's sys.stderr, so they are caught at the file-descriptor level.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.readlines() if not _KINETO_NOISE.match(line)]
            if kept:
                os.write(2, b"".join(kept))
