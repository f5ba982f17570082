"""The memory pass of one case: its own pass, never while timing, with a warm step first.

The warm step makes the measured step a steady-state one whatever ran before it (latency may or
may not have been measured): in train mode the optimizer's momentum buffers exist from then on,
and on CUDA the caching allocator has grown and cuDNN has picked its algorithms. Then the
workload's setup runs (train: `zero_grad(set_to_none=True)`), and the state that is live at that
point is the *resident* state: weights, buffers, input, optimizer state and any gradients that
exist. The measured step's peak includes it, as `max_memory_allocated` does on CUDA; the part
above it is the step's own activation/workspace peak (in training, gradients included).

CPU: the peak comes from the profiler's allocation records, and the resident state from the
distinct storages of the tensors above. CUDA: both come from the allocator
(`memory_allocated` before the step, `max_memory_allocated` / `max_memory_reserved` over it), so
they include its 512-byte rounding and any other tensor live on the device.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from bench.measure.memory.probes import cpu_allocation_peak, cuda_peaks
from bench.model.workload import Workload
from bench.records import MemoryStats

_CLEAR_REFS = "/proc/self/clear_refs"
_STATUS = "/proc/self/status"


def measure_memory(
    workload: Workload,
    model: nn.Module,
    inputs: Sequence[torch.Tensor],
    device: torch.device,
    cuda_backend: Any = None,
    clock: Callable[[], float] = time.perf_counter,
) -> MemoryStats:
    """Warm step, then the measured step; call inside `workload.context()`."""
    started = clock()
    _setup(workload)
    workload.run()  # the warm step
    _setup(workload)
    if device.type == "cuda":
        gc.collect()  # cyclic garbage on the device would read as resident state
    with _collector_paused():
        kinds = resident_by_kind(model, inputs, workload.held_state())
        # RSS over the measured step itself (one step less per case than a separate RSS step);
        # on CPU it then includes the profiler's own host buffers (56 KiB to 1.4 MiB seen for
        # resnet18 at batch 8, against ~850 MiB of process RSS).
        rss_reset = reset_rss_high_water()
        if device.type == "cuda":
            peaks = cuda_peaks(workload.run, device, cuda_backend)
            peak, resident = peaks.peak_allocated, peaks.allocated_before
            reserved: int | None = peaks.peak_reserved
            source = "cuda-allocator"
        else:
            resident = sum(kinds.values())
            peak = resident + cpu_allocation_peak(workload.run)
            reserved = None
            source = "profiler"
        rss = rss_high_water_bytes() if rss_reset else None
    return MemoryStats(
        peak_allocated_bytes=peak,
        resident_bytes=resident,
        source=source,
        peak_reserved_bytes=reserved,
        param_bytes_by_dtype=bytes_by_dtype(model.parameters()),
        buffer_bytes_by_dtype=bytes_by_dtype(model.buffers()),
        resident_by_kind=kinds,
        rss_peak_bytes=rss,
        pass_s=clock() - started,
    )


def _setup(workload: Workload) -> None:
    if workload.setup is not None:
        workload.setup()


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic collection inside the measured step: it would free, mid-step, tensors that were
    not the step's own. With the collector paused, earlier garbage just stays put, so on CPU
    (where resident state is counted from the live tensors) no `gc.collect()` (~0.1 s) is needed
    first."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def bytes_by_dtype(tensors: Any) -> dict[str, int]:
    """Bytes of distinct storages per dtype name ("float32"), sorted by name."""
    seen: set[int] = set()
    totals: dict[str, int] = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        if storage.data_ptr() in seen:
            continue
        seen.add(storage.data_ptr())
        name = str(tensor.dtype).removeprefix("torch.")
        totals[name] = totals.get(name, 0) + storage.nbytes()
    return dict(sorted(totals.items()))


def resident_by_kind(
    model: nn.Module, inputs: Sequence[torch.Tensor], held: Mapping[str, Sequence[torch.Tensor]]
) -> dict[str, int]:
    """Bytes of distinct storages by kind; a storage shared by two kinds counts under the first."""
    groups: dict[str, Sequence[torch.Tensor]] = {
        "params": list(model.parameters()),
        "buffers": list(model.buffers()),
        "inputs": list(inputs),
        **held,
    }
    seen: set[int] = set()
    totals: dict[str, int] = {}
    for kind, tensors in groups.items():
        totals[kind] = 0
        for tensor in tensors:
            storage = tensor.untyped_storage()
            if storage.data_ptr() in seen:
                continue
            seen.add(storage.data_ptr())
            totals[kind] += storage.nbytes()
    return totals


def reset_rss_high_water() -> bool:
    """Reset the kernel's per-process RSS high-water mark (Linux >= 4.0); False where it can't."""
    try:
        with open(_CLEAR_REFS, "w", encoding="ascii") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def rss_high_water_bytes() -> int | None:
    """VmHWM: the most resident memory the process held since the last reset."""
    try:
        with open(_STATUS, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
