"""Parameter and multiply-accumulate counts.

MACs follow torchvision's weight metadata convention (its `_ops`, labelled GFLOPS, is GMACs for
one image): `torch.utils.flop_counter.FlopCounterMode` counts two FLOPs per multiply-add, so
MACs are its total divided by two, and `flops = 2 * macs`. It counts only the ops in its registry
(convolutions, matmuls, attention); everything else counts as zero.
"""

from __future__ import annotations

import torch
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


def count_macs(model: nn.Module, example: torch.Tensor) -> int:
    """Multiply-accumulates of one inference forward pass over the whole batch in `example`."""
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(example)
    return counter.get_total_flops() // 2
