"""Memory primitives: resident state, the CPU allocation peak, the CUDA allocator's peaks.

CUDA: the caching allocator's own counters, reset on the case's device before the step.
CPU: there is no allocator counter, and process RSS is coarse (it includes cached pages and the
whole interpreter), so the peak is replayed from the profiler's raw `[memory]` records: one per
allocation (positive bytes) and one per free (negative), each stamped with its own time. The
replay is exact at allocation granularity and repeatable run after run. It does NOT go through
`prof.events()`: that attributes each op's *net* self allocation to the op's start, which hides a
workspace an op allocates and frees inside itself (resnet18's train step read 3.6 MB low that way)
and costs 10-40x more to build.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
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


def cpu_allocation_peak(fn: Callable[[], Any]) -> int:
    """The highest point of CPU bytes allocated minus freed during one call of fn, from 0.

    Shapes, stacks and FLOPs are not recorded (the profiler's defaults, kept explicit): only the
    memory records are read, so nothing else is worth paying for.
    """
    from torch._C._autograd import DeviceType
    from torch.autograd.profiler import profile

    # torch.autograd.profiler.profile, not torch.profiler.profile: the latter's start probes
    # `hasattr(torch, "_inductor")`, which imports inductor and dynamo (2-4 s on first use here);
    # both drive the same Kineto profiler and give the same records.
    with (
        native_stderr_filtered(),
        profile(
            use_cpu=True,
            profile_memory=True,
            record_shapes=False,
            with_stack=False,
            with_flops=False,
        ) as prof,
    ):
        fn()
    return replay_peak(
        (record.start_ns(), record.nbytes())
        for record in prof.kineto_results.events()
        if record.name() == "[memory]" and record.device_type() == DeviceType.CPU
    )


def replay_peak(records: Iterable[tuple[int, int]]) -> int:
    """Peak of the running sum of (time_ns, signed bytes) records, replayed in time order.

    The sort is stable, so records with the same time stamp keep the order they were reported in.
    """
    current = peak = 0
    for _, nbytes in sorted(records, key=lambda record: record[0]):
        current += nbytes
        peak = max(peak, current)
    return peak


def cpu_peak_bytes(fn: Callable[[], Any], resident: int) -> int:
    """Resident bytes plus the allocation peak of one call of fn."""
    return resident + cpu_allocation_peak(fn)


@dataclass(frozen=True)
class CudaPeaks:
    allocated_before: int  # live on the device when the step began
    peak_allocated: int  # max_memory_allocated over the step
    peak_reserved: int  # max_memory_reserved over the step: the caching allocator's pool


def cuda_peaks(fn: Callable[[], Any], device: Any, backend: Any = None) -> CudaPeaks:
    """The allocator's peaks over one call of fn, reset and read on the case's own device.

    Synchronize before the reset so that frees still queued from earlier work land before it, and
    after fn so that the counters include every kernel fn launched.
    """
    if backend is None:
        backend = torch.cuda
    backend.synchronize(device)
    backend.reset_peak_memory_stats(device)
    before = int(backend.memory_allocated(device))
    fn()
    backend.synchronize(device)
    return CudaPeaks(
        allocated_before=before,
        peak_allocated=int(backend.max_memory_allocated(device)),
        peak_reserved=int(backend.max_memory_reserved(device)),
    )


@contextlib.contextmanager
def native_stderr_filtered() -> Iterator[None]:
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
