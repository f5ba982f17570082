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
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from bench.measure.counting.formulas import FORMULAS
from bench.measure.counting.quantized import QUANTIZED_FORMULAS, UNPACKING_OPS, packed_weights
from bench.records.counts import multiplies_and_accumulates

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
        # random fills: they make values, not arithmetic on the model's
        "rand",
        "randn",
        "randint",
        "rand_like",
        "randn_like",
        "uniform_",
        "normal_",
        "bernoulli_",
        "arange",
    ]
)


def uncounted_contractions(uncounted: dict[str, int]) -> list[str]:
    """The uncounted ops (not quantized ones: bench.measure.counting.quantized) that contract."""
    return [
        op
        for op in uncounted
        if op.startswith("aten.")
        and not op.startswith("aten.quantized_")
        and multiplies_and_accumulates(op)
    ]


# Ops whose output size depends on the values of their input, not only its shape: when one runs,
# the work after it (and so the MACs) depends on the data and the weights. A detection model's
# score threshold (`nonzero`) and NMS keep a data-dependent number of boxes, which its heads then
# process. Boolean-mask indexing (`x[mask]`) is caught separately: it is `aten.index` with a bool
# index. Reading a value back (`.item()`) for control flow is not flagged: models also read
# configuration scalars that way (a quantized model reads its input scale), so it would flag
# nearly every quantized or detection model for the wrong reason.
DATA_DEPENDENT_OPS: frozenset[str] = frozenset(
    {
        "aten.nonzero",
        "aten.nonzero_numpy",
        "aten.argwhere",
        "aten.masked_select",
        "aten._unique",
        "aten._unique2",
        "aten.unique_dim",
        "aten.unique_consecutive",
        "aten.unique_dim_consecutive",
        "aten.bincount",
        "torchvision.nms",
    }
)


@dataclass(frozen=True)
class OpCount:
    """What one counted run did: MACs, MACs per counted op, ops run without a formula, and the
    ops whose output size depends on the data (empty when the count depends on shapes only)."""

    macs: int
    macs_by_op: dict[str, int]
    uncounted_ops: dict[str, int]
    data_dependent_ops: dict[str, int] = field(default_factory=dict)


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, trainable). `parameters()` yields a shared parameter once, so ties count once.

    A quantized module's weights are packed, not parameters: they count in the total (unpacked
    once per module, see bench.measure.counting.quantized) and are never trainable.
    """
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    total += sum(t.numel() for t in packed_weights(model))
    return total, trainable


def count_buffers(model: nn.Module) -> int:
    """Elements in buffers (batch-norm running statistics, fixed position tables, ...)."""
    return sum(buffer.numel() for buffer in model.buffers())


def model_size_bytes(model: nn.Module) -> int:
    """Bytes of parameters, buffers and packed (quantized) weights at their dtypes: what a
    state_dict holds, shared once."""
    tensors = [*model.parameters(), *model.buffers(), *packed_weights(model)]
    return sum(t.numel() * t.element_size() for t in tensors)


def _is_mask_index(name: str, args: tuple[Any, ...]) -> bool:
    """`x[mask]`: aten.index with a bool (or legacy uint8) index tensor."""
    if name != "aten.index" or len(args) < 2 or not isinstance(args[1], (list, tuple)):
        return False
    return any(
        isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in args[1]
    )


class _UncountedOps(TorchDispatchMode):
    """Sees the ops FlopCounterMode actually executes (after its decompositions) and tallies
    those with no formula and some arithmetic, and those whose output size depends on data."""

    def __init__(self, formulas: dict[Any, Any]) -> None:
        super().__init__()
        self.formulas = formulas
        self.calls: Counter[str] = Counter()
        self.data_dependent: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        packet = getattr(func, "_overloadpacket", func)  # higher-order ops have no packet
        name = str(packet)
        if name in DATA_DEPENDENT_OPS or _is_mask_index(name, args):
            self.data_dependent["aten.index (bool mask)" if name == "aten.index" else name] += 1
        if packet not in self.formulas:
            quiet = name in NO_ARITHMETIC_OPS or name in UNPACKING_OPS
            if not quiet and not name.startswith("profiler."):
                self.calls[name] += 1
        shortcut = META_SHORTCUTS.get(func)
        if shortcut is not None and _plain_dense_meta(args[0]):
            return shortcut(args[0])
        return func(*args, **(kwargs or {}))


_DENSE_FORMATS = (torch.contiguous_format, torch.channels_last, torch.channels_last_3d)


def _plain_dense_meta(x: Any) -> bool:
    """A plain meta tensor (not fake, not a subclass) laid out densely in a standard format:
    where the shortcuts below give exactly the layout the kernels give."""
    if type(x) is not torch.Tensor or not x.is_meta:
        return False
    return any(x.is_contiguous(memory_format=fmt) for fmt in _DENSE_FORMATS)


def _batch_norm_eval(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The output laid out as the input; the two per-channel statistics in the computation
    dtype (float32; float64 for float64)."""
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    channels = x.shape[1] if x.dim() > 1 else 1
    stats = (x.new_empty((channels,), dtype=compute), x.new_empty((channels,), dtype=compute))
    return (torch.empty_like(x), *stats)


_ops = torch.ops.aten
META_SHORTCUTS: dict[Any, Callable[[torch.Tensor], Any]] = {
    _ops._native_batch_norm_legit_no_training.default: _batch_norm_eval,
    _ops.hardswish.default: torch.empty_like,
    _ops.hardsigmoid.default: torch.empty_like,
    _ops.hardswish_.default: lambda x: x,
    _ops.hardsigmoid_.default: lambda x: x,
}
"""Ops with no multiply-accumulate whose meta "kernel" is torch's Python decomposition, 1-2 ms a
call, made directly from their input's shape instead: eval batch norm was a third of counting a
small CNN on meta (resnet18 22 -> 10 ms, mnasnet0_5 70 -> 35 ms), hardswish and hardsigmoid
most of mobilenet_v3's. Each gives the shapes, strides and dtypes the kernel gives (in-place:
its input itself); tests/test_count_formulas.py holds every one to the real meta kernel."""


def count_ops(fn: Callable[[], Any]) -> OpCount:
    """Count everything fn runs (a forward pass, or a whole training step).

    The caller chooses the autograd context: under inference mode only the forward exists.
    """
    counter = FlopCounterMode(display=False, custom_mapping={**FORMULAS, **QUANTIZED_FORMULAS})
    with _UncountedOps(counter.flop_registry) as uncounted, counter:
        fn()
    by_op = counter.get_flop_counts().get("Global", {})
    return OpCount(
        macs=counter.get_total_flops() // 2,
        macs_by_op={str(op): flops // 2 for op, flops in sorted(by_op.items(), key=str)},
        uncounted_ops=dict(sorted(uncounted.calls.items())),
        data_dependent_ops=dict(sorted(uncounted.data_dependent.items())),
    )


def count_macs(fn: Callable[[], Any]) -> int:
    """Multiply-accumulates of everything fn runs; see `count_ops`."""
    return count_ops(fn).macs
