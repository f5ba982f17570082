"""A second, independent FLOP counter: fvcore's `FlopCountAnalysis`, as a cross-check.

fvcore traces the model with the jit and counts per traced op, in MACs (torchvision's unit). It
differs from our count in known ways: it also counts norms, pooling and upsampling (so it reads
0.3-5% above), and it has no handler for attention (SDPA or the fused multi-head-attention op),
so transformers read lower. Its last release predates torch 2.x: importing it warns that
`torch.jit.script` is deprecated, and tracing warns about every op it cannot count. Those
warnings are about fvcore, not about the user's model, so they are silenced here; a failure
leaves the cell empty and says why.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from bench.model.inputs import ModelInput


def _import_fvcore() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import fvcore.nn

    return fvcore.nn


@dataclass(frozen=True)
class FvcoreCount:
    """fvcore's MACs (None when it failed), a note, and the ops it ran without a handler."""

    macs: int | None
    note: str = ""
    skipped_ops: dict[str, int] = field(default_factory=dict)


class _KeywordCall(nn.Module):
    """fvcore traces `model(*inputs)`: keyword inputs become trailing positional ones here."""

    def __init__(self, model: nn.Module, names: tuple[str, ...]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs: Any) -> Any:
        positional = len(inputs) - len(self.names)
        keywords = dict(zip(self.names, inputs[positional:], strict=True))
        return self.model(*inputs[:positional], **keywords)


def fvcore_macs(model: nn.Module, example: ModelInput | torch.Tensor) -> FvcoreCount:
    """fvcore's count of one forward pass. Runs a real forward pass (fvcore's jit trace does
    not work on meta tensors), under `no_grad` with the model as it is."""
    example = ModelInput.of(example)
    try:
        fvcore_nn = _import_fvcore()
    except ImportError as exc:
        return FvcoreCount(None, f"fvcore not installed ({exc})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names = tuple(example.kwargs)
            traced = _KeywordCall(model, names) if names else model
            inputs = (*example.args, *example.kwargs.values())
            analysis = fvcore_nn.FlopCountAnalysis(traced, inputs)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            analysis.tracer_warnings("none")
            with torch.no_grad():
                total = int(analysis.total())
            skipped = analysis.unsupported_ops()
    except Exception as exc:  # fvcore's tracer fails on some models (torch.compile, dict inputs)
        message = " ".join(str(exc).split())[:200]
        return FvcoreCount(None, f"fvcore failed: {type(exc).__name__}: {message}")
    return FvcoreCount(total, "", dict(sorted(skipped.items())))
