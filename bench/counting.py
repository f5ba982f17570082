"""Parameter and multiply-accumulate counts.

MACs follow torchvision's weight metadata convention (its `_ops`, labelled GFLOPS, is GMACs for
one image): `torch.utils.flop_counter.FlopCounterMode` counts two FLOPs per multiply-add, so
MACs are its total divided by two, and `flops = 2 * macs`. It counts only the ops in its registry
(convolutions, matmuls, attention); everything else counts as zero.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> tuple[int, int]:
    """(total, trainable). `parameters()` yields a shared parameter once, so ties count once."""
    total = trainable = 0
    for parameter in model.parameters():
        total += parameter.numel()
        if parameter.requires_grad:
            trainable += parameter.numel()
    return total, trainable


def count_macs(fn: Callable[[], Any]) -> int:
    """Multiply-accumulates of everything fn runs (a forward pass, or a whole training step).

    The caller chooses the autograd context: under inference mode only the forward exists.
    """
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops() // 2
