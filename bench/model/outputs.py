"""What a model's forward may return, and the check that its numbers are finite.

Accepted: a tensor, or a tuple / list / dict (nested, e.g. an LSTM's `(out, (h, c))` or a
HuggingFace ModelOutput, which is a dict) whose leaves are all tensors. Anything else (None, a
number, a string, an empty container) is refused: timing a forward that returns nothing useful is
usually a bug in the factory, and the training loss could not be built from it either.

NaN or Inf in a floating output makes the case an error too: the latency of a model computing
garbage (often denormals or overflow, which run at a different speed) is not a number to quote.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

ALLOWED = "a tensor, or a tuple/list/dict of tensors"


class OutputError(Exception):
    """A forward output the harness will not measure; the case's row says why."""


class NonFiniteOutputError(OutputError):
    """The output holds NaN or Inf."""


def check_output(output: Any) -> None:
    """Raise OutputError unless `output` is tensors only, all finite."""
    leaves = list(_leaves(output, "output"))
    if not leaves:
        raise OutputError(f"forward returned an empty {type(output).__name__}; allowed: {ALLOWED}")
    for where, leaf in leaves:
        if not isinstance(leaf, torch.Tensor):
            raise OutputError(
                f"forward returned {type(leaf).__name__} at {where}, not a tensor; "
                f"allowed: {ALLOWED}"
            )
    for where, tensor in leaves:
        if not (tensor.is_floating_point() or tensor.is_complex()):
            continue
        finite = torch.isfinite(tensor)
        if bool(finite.all()):
            continue
        nans = int(torch.isnan(tensor).sum())
        infs = tensor.numel() - int(finite.sum()) - nans
        raise NonFiniteOutputError(
            f"{where} has non-finite values ({nans} NaN, {infs} Inf of {tensor.numel()})"
        )


def _leaves(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{where}[{key!r}]")
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{where}[{index}]")
    else:
        yield where, value
