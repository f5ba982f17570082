"""Measure one variant of a tensor experiment at one size, device and dtype.

What each row says, and how it is known:
- latency: the timing core. Ops that write into their input (the in-place families, and for a
  fair comparison their out-of-place baselines) get a fresh input for every call: `setup`
  copies the pristine input into the working tensors (no allocation) outside the timed region,
  so an in-place op timed a thousand times sees the same values every time instead of drifting
  to denormals. Views and copies do not write: they reuse one input, checked unmodified after
  timing, because a large refresh copy before each call would evict the caches and make a
  microsecond view look size-dependent.
- allocated_bytes: the bytes the call allocates (gross, temporaries included), from the CPU
  profiler's allocation events or the CUDA allocator's `allocated_bytes.all.allocated` counter.
- shares_storage: the output's untyped storage has the same data pointer as the input it would
  alias; checked on the tensors, never assumed from the op's name.
- matches_reference: exact equality with the out-of-place result (in-place ops) or with a NumPy
  oracle (views and copies), computed before the variant runs.
- backward: the variant applied to a non-leaf that autograd saved (`exp`'s output), then
  `backward()`: in-place ops on saved tensors raise, and the message is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.experiments.catalog import ROWS_REQUIRED, Inputs, Variant, matches, reference
from bench.measure.contention import ContentionProbe
from bench.measure.memory.probes import native_stderr_filtered
from bench.measure.timing.engine import CpuTimer, CudaTimer, TimingPolicy, measure_latency
from bench.model.factory import torch_dtype
from bench.records import LatencyStats

FRESH_COPY = "fresh_copy_per_call"
SAME_INPUT = "same_input_checked_unmodified"
SEED = 0


@dataclass(frozen=True)
class VariantMeasurement:
    latency: LatencyStats
    allocated_bytes: int
    shares_storage: bool
    matches_reference: bool
    backward_ok: bool
    backward_error: str
    input_policy: str = FRESH_COPY


def shape_for(numel: int) -> tuple[int, int]:
    """2-D so that transposes are real (non-contiguous); sizes are multiples of the row count."""
    return (ROWS_REQUIRED, numel // ROWS_REQUIRED)


def pristine_inputs(numel: int, device: str, dtype: str) -> Inputs:
    generator = torch.Generator().manual_seed(SEED)
    shape = shape_for(numel)
    return {
        name: torch.randn(shape, generator=generator).to(device=device, dtype=torch_dtype(dtype))
        for name in ("x", "y")
    }


def measure_variant(
    variant: Variant,
    numel: int,
    device: str,
    dtype: str,
    policy: TimingPolicy,
    cuda_backend: Any = None,
) -> VariantMeasurement:
    pristine = pristine_inputs(numel, device, dtype)
    work = {name: tensor.clone() for name, tensor in pristine.items()}

    def refresh() -> None:
        for name, tensor in work.items():
            tensor.copy_(pristine[name])

    def call() -> torch.Tensor:
        return variant.run(work)

    is_cuda = torch.device(device).type == "cuda"
    with torch.no_grad():
        expected = reference(variant, pristine)
        refresh()
        output = call()
        shares = (
            output.untyped_storage().data_ptr()
            == work[variant.primary].untyped_storage().data_ptr()
        )
        correct = matches(output, expected)
        del output
        refresh()
        if is_cuda:
            allocated = cuda_allocated_bytes(call, device, cuda_backend)
        else:
            allocated = cpu_allocated_bytes(call)
        timer = CudaTimer(device, cuda_backend) if is_cuda else CpuTimer()
        probe = ContentionProbe(1 if is_cuda else torch.get_num_threads())
        if variant.fresh_input:
            latency = measure_latency(
                call, timer, policy, time.perf_counter_ns, setup=refresh, probe=probe
            )
        else:
            # A copy of a large input before every call would evict the caches that a view's
            # microsecond of metadata work runs from; views do not write, so reuse the input and
            # prove afterwards that it is untouched.
            latency = measure_latency(call, timer, policy, time.perf_counter_ns, probe=probe)
            if not all(torch.equal(work[name], pristine[name]) for name in work):
                raise RuntimeError(f"{variant.key} modified its input; it needs a fresh input")
    backward_ok, backward_error = try_backward(variant, pristine)
    return VariantMeasurement(
        latency=latency,
        allocated_bytes=allocated,
        shares_storage=shares,
        matches_reference=correct,
        backward_ok=backward_ok,
        backward_error=backward_error,
        input_policy=FRESH_COPY if variant.fresh_input else SAME_INPUT,
    )


def cpu_allocated_bytes(fn: Callable[[], Any]) -> int:
    """Sum of every allocation during fn (frees not subtracted), from the profiler's events."""
    from torch.profiler import ProfilerActivity, profile

    with native_stderr_filtered():
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
        return sum(e.self_cpu_memory_usage for e in prof.events() if e.self_cpu_memory_usage > 0)


def cuda_allocated_bytes(fn: Callable[[], Any], device: Any, backend: Any = None) -> int:
    """Growth of the allocator's cumulative allocated-bytes counter across one call."""
    if backend is None:
        backend = torch.cuda
    key = "allocated_bytes.all.allocated"
    backend.synchronize(device)
    before = backend.memory_stats(device).get(key, 0)
    fn()
    backend.synchronize(device)
    return int(backend.memory_stats(device).get(key, 0) - before)


def try_backward(variant: Variant, pristine: Inputs) -> tuple[bool, str]:
    """Apply the variant where autograd needs the input's values later, then backward."""
    leaves = {n: t.detach().clone().float().requires_grad_() for n, t in pristine.items()}
    saved = {n: leaf.exp() for n, leaf in leaves.items()}  # exp saves its output for backward
    try:
        output = variant.run(saved)
        output.float().sum().backward()
    except RuntimeError as exc:
        return False, " ".join(str(exc).split())[:300]
    return True, ""
