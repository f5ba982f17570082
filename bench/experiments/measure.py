"""Measure the variants of a tensor experiment at one size, device and dtype.

Each variant is prepared on its own (`prepare_variant`: inputs, correctness, aliasing,
allocation), the variants of a family are timed together in interleaved rounds
(`time_interleaved`), and each is finished on its own (`finish_variant`: input untouched,
backward). `measure_variant` does the three for a single variant.

What each row says, and how it is known:
- latency: the timing core's warmup and block rules, in interleaved rounds. On CUDA, an op that
  launches no kernel (it writes nothing, allocates nothing and returns a tensor on its input's
  storage: a view, a slice, a no-op `contiguous`) is timed on the host clock, where all of its
  cost is: a device timer would measure only the synchronize around it (a `view` read 5-6 us
  +-19-97% that way on an H200, against 0.14 us for the equally kernel-free no-op
  `contiguous`). Its row says so in a note; its ratio to a copy is still reported.
  Ops that write into their input (the in-place families, and for a fair comparison their
  out-of-place baselines) get a fresh input for every call: `setup` copies the pristine input
  into the working tensors (no allocation) outside the timed region, so an in-place op timed
  a thousand times sees the same values every time instead of drifting to denormals. Views and
  copies do not write: they reuse one input, checked unmodified after timing, because a large
  refresh copy before each call would evict the caches and make a microsecond view look
  size-dependent.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from bench.experiments.catalog import CATALOG_BY_KEY, Inputs, Variant, shape_for
from bench.experiments.interleave import Arm, Interleaved, measure_interleaved
from bench.experiments.records import FRESH_COPY, SAME_INPUT, VariantMeasurement
from bench.measure.contention import ContentionProbe
from bench.measure.memory.probes import native_stderr_filtered
from bench.measure.timing.engine import CpuTimer, CudaTimer, TimingPolicy
from bench.model.factory import torch_dtype
from bench.records import LatencyStats

SEED = 0


def pristine_inputs(numel: int, device: str, dtype: str) -> Inputs:
    generator = torch.Generator().manual_seed(SEED)
    shape = shape_for(numel)
    return {
        name: torch.randn(shape, generator=generator).to(device=device, dtype=torch_dtype(dtype))
        for name in ("x", "y")
    }


@dataclass(frozen=True)
class PreparedVariant:
    """A variant ready to be timed: its working inputs, the call and the refresh that precedes
    every call (None for variants that do not write), and what was checked before timing."""

    variant: Variant
    pristine: Inputs
    work: Inputs
    call: Callable[[], torch.Tensor]
    setup: Callable[[], None] | None
    allocated_bytes: int
    shares_storage: bool
    matches_reference: bool

    @property
    def launches_kernel(self) -> bool:
        """False for an op shown to be metadata only: it writes nothing (no fresh input), it
        allocated nothing and its output is its input's storage. Measured, not read from names."""
        return self.variant.fresh_input or self.allocated_bytes > 0 or not self.shares_storage


HOST_TIMED_NOTE = (
    "timed on the host clock: the op launches no kernel (it allocates nothing and returns its "
    "input's storage), so a device timer would measure only its own synchronize"
)


def prepare_variant(
    variant: Variant, numel: int, device: str, dtype: str, cuda_backend: Any = None
) -> PreparedVariant:
    """Inputs, the correctness and aliasing checks, and the allocation count, before timing."""
    pristine = pristine_inputs(numel, device, dtype)
    work = {name: tensor.clone() for name, tensor in pristine.items()}

    def refresh() -> None:
        for name, tensor in work.items():
            tensor.copy_(pristine[name])

    def call() -> torch.Tensor:
        return variant.run(work)

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
        if is_cuda_device(device):
            allocated = cuda_allocated_bytes(call, device, cuda_backend)
        else:
            allocated = cpu_allocated_bytes(call)
    # A copy of a large input before every call would evict the caches that a view's
    # microsecond of metadata work runs from; views do not write, so they reuse the input and
    # `finish_variant` proves afterwards that it is untouched.
    return PreparedVariant(
        variant=variant,
        pristine=pristine,
        work=work,
        call=call,
        setup=refresh if variant.fresh_input else None,
        allocated_bytes=allocated,
        shares_storage=shares,
        matches_reference=correct,
    )


def time_interleaved(
    prepared: Sequence[PreparedVariant],
    device: str,
    policy: TimingPolicy,
    cuda_backend: Any = None,
) -> Interleaved:
    """The variants' calls timed in interleaved rounds (bench.experiments.interleave)."""
    is_cuda = is_cuda_device(device)
    timer = CudaTimer(device, cuda_backend) if is_cuda else CpuTimer()
    probe = ContentionProbe(1 if is_cuda else torch.get_num_threads())
    host = CpuTimer()
    arms = [
        Arm(p.call, p.setup, timer=host if is_cuda and not p.launches_kernel else None)
        for p in prepared
    ]
    with torch.no_grad():
        return measure_interleaved(arms, timer, policy, time.perf_counter_ns, probe)


def finish_variant(
    prepared: PreparedVariant, latency: LatencyStats, round_medians_ms: Sequence[float] = ()
) -> VariantMeasurement:
    """After timing: a variant that reused its input must have left it untouched; then the
    backward check."""
    if prepared.setup is None and not all(
        torch.equal(prepared.work[name], prepared.pristine[name]) for name in prepared.work
    ):
        raise RuntimeError(f"{prepared.variant.key} modified its input; it needs a fresh input")
    backward_ok, backward_error = try_backward(prepared.variant, prepared.pristine)
    return VariantMeasurement(
        latency=latency,
        allocated_bytes=prepared.allocated_bytes,
        shares_storage=prepared.shares_storage,
        matches_reference=prepared.matches_reference,
        backward_ok=backward_ok,
        backward_error=backward_error,
        input_policy=FRESH_COPY if prepared.variant.fresh_input else SAME_INPUT,
        round_medians_ms=tuple(round_medians_ms),
    )


def measure_variant(
    variant: Variant,
    numel: int,
    device: str,
    dtype: str,
    policy: TimingPolicy,
    cuda_backend: Any = None,
) -> VariantMeasurement:
    """One variant on its own (a group of one: rounds of a single block)."""
    prepared = prepare_variant(variant, numel, device, dtype, cuda_backend)
    timing = time_interleaved([prepared], device, policy, cuda_backend)
    return finish_variant(prepared, timing.latency(0, policy), timing.arms[0].round_medians_ms)


def reference(variant: Variant, inputs: Inputs) -> torch.Tensor:
    """The value a variant must produce, computed before it runs, on copies of its inputs.

    In-place families are checked against their out-of-place variant (torch); view variants
    against their NumPy oracle (on float32 copies: views and copies move values exactly).
    """
    if variant.expected is not None:
        arrays = {name: t.detach().cpu().float().numpy() for name, t in inputs.items()}
        return torch.from_numpy(np.array(variant.expected(arrays)))
    (baseline,) = (v for v in CATALOG_BY_KEY.values() if v.key == f"{variant.family}/out_of_place")
    copies = {name: tensor.detach().clone() for name, tensor in inputs.items()}
    return baseline.run(copies).clone()


def matches(output: torch.Tensor, expected: torch.Tensor) -> bool:
    """Exact equality of values and shape (no tolerance: these ops are deterministic), on host
    copies of both: an in-place op's reference is its out-of-place twin's output on the case's
    device, a view's is a NumPy array on the host."""
    return tuple(output.shape) == tuple(expected.shape) and torch.equal(
        output.detach().cpu().to(expected.dtype), expected.detach().cpu()
    )


def is_cuda_device(device: str) -> bool:
    return torch.device(device).type == "cuda"


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
