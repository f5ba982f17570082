"""Parameter, buffer and multiply-accumulate counts.

MACs follow torchvision's weight metadata convention (its `_ops`, labelled GFLOPS, is GMACs for
one image): `torch.utils.flop_counter.FlopCounterMode` counts two FLOPs per multiply-add, so
MACs are its total divided by two, and `flops = 2 * macs`. FlopCounterMode counts only the ops in
its registry (convolutions, matmuls, attention) and silently gives 0 to everything else, so we
(1) add formulas for the attention and fused-transformer kernels it misses and correct its
grouped-convolution backward (bench/flop_formulas.py), and (2) record every op that ran without a
formula, so a count says what it leaves out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from bench.measure.counting.formulas import FORMULAS

# Ops that move, view, allocate or describe data but do no arithmetic: leaving them out of a
# FLOP count loses nothing, so they are not reported as uncounted (nor are the profiler's
# record_function markers that optimizers emit).
NO_ARITHMETIC_OPS: frozenset[str] = frozenset(
    f"aten.{name}"
    for name in [
        "_reshape_alias",
        "_unsafe_view",
        "alias",
        "as_strided",
        "cat",
        "clone",
        "contiguous",
        "copy_",
        "detach",
        "empty",
        "empty_like",
        "empty_strided",
        "expand",
        "fill_",
        "flatten",
        "full",
        "lift_fresh",
        "new_empty",
        "new_empty_strided",
        "new_zeros",
        "ones",
        "ones_like",
        "permute",
        "reshape",
        "select",
        "slice",
        "split",
        "split_with_sizes",
        "squeeze",
        "stack",
        "t",
        "transpose",
        "unbind",
        "unsqueeze",
        "view",
        "zero_",
        "zeros",
        "zeros_like",
        "_to_copy",
        "to",
        "select_backward",
        "slice_backward",
        "narrow",
        "chunk",
        "unflatten",
        "_local_scalar_dense",
    ]
)


@dataclass(frozen=True)
class OpCount:
    """What one counted run did: MACs, MACs per counted op, and ops run without a formula."""

    macs: int
    macs_by_op: dict[str, int]
    uncounted_ops: dict[str, int]


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, trainable). `parameters()` yields a shared parameter once, so ties count once."""
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return total, trainable


def count_buffers(model: nn.Module) -> int:
    """Elements in buffers (batch-norm running statistics, fixed position tables, ...)."""
    return sum(buffer.numel() for buffer in model.buffers())


def model_size_bytes(model: nn.Module) -> int:
    """Bytes of parameters and buffers at their dtypes: what a state_dict holds, shared once."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class _UncountedOps(TorchDispatchMode):
    """Sees the ops FlopCounterMode actually executes (after its decompositions) and tallies
    those with no formula and some arithmetic."""

    def __init__(self, formulas: dict[Any, Any]) -> None:
        super().__init__()
        self.formulas = formulas
        self.calls: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        packet = getattr(func, "_overloadpacket", func)  # higher-order ops have no packet
        if packet not in self.formulas:
            name = str(packet)
            if name not in NO_ARITHMETIC_OPS and not name.startswith("profiler."):
                self.calls[name] += 1
        return func(*args, **(kwargs or {}))


def count_ops(fn: Callable[[], Any]) -> OpCount:
    """Count everything fn runs (a forward pass, or a whole training step).

    The caller chooses the autograd context: under inference mode only the forward exists.
    """
    counter = FlopCounterMode(display=False, custom_mapping=FORMULAS)
    with _UncountedOps(counter.flop_registry) as uncounted, counter:
        fn()
    by_op = counter.get_flop_counts().get("Global", {})
    return OpCount(
        macs=counter.get_total_flops() // 2,
        macs_by_op={str(op): flops // 2 for op, flops in sorted(by_op.items(), key=str)},
        uncounted_ops=dict(sorted(uncounted.calls.items())),
    )


def count_macs(fn: Callable[[], Any]) -> int:
    """Multiply-accumulates of everything fn runs; see `count_ops`."""
    return count_ops(fn).macs
