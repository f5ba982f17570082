"""Whether a `compare_inplace` model's in-place build computes what its out-of-place build does.

A memory or speed saving from in-place activations is only worth quoting if the outputs are the
same. Both builds have the same seeded weights (WEIGHT_SEED) and see the same seeded input, so
the in-place case builds the out-of-place model once more and compares one eval forward of each,
leaf by leaf, for bit-exact equality: switching `inplace` changes where a result is written, not
the arithmetic (`relu_` and `relu` run the same elementwise kernel), so a difference is either a
real one (an in-place op that overwrote a tensor a later layer still reads) or a forward that is
nondeterministic by itself (CUDA atomics). The difference's place and size go in the row's note,
so the two can be told apart.

Each forward gets a fresh input: an in-place first layer may overwrite the tensor it was given.
The training step's gradients are not compared.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from bench.model.factory import build_model
from bench.model.inputs import INPUT_SEED, make_input
from bench.model.outputs import compare_outputs
from bench.model.variants import autocast
from bench.records import Case


@dataclass(frozen=True)
class InplaceCheck:
    """`matches`: the in-place build's outputs equal the out-of-place build's, bit for bit."""

    matches: bool
    note: str | None  # where and by how much they differ; None when they match

    @property
    def notes(self) -> tuple[str, ...]:
        return (self.note,) if self.note else ()


def check_inplace(case: Case, model: nn.Module) -> InplaceCheck:
    """Compare `model` (the case's in-place build, as built) with a fresh out-of-place build."""
    reference = build_model(replace(case, inplace_variant="out_of_place"))
    try:
        output, expected = (_forward(case, m) for m in (model, reference))
        difference = compare_outputs(output, expected)
    finally:
        del reference
    if difference is None:
        return InplaceCheck(True, None)
    return InplaceCheck(False, f"in-place build differs from the out-of-place build: {difference}")


def _forward(case: Case, model: nn.Module) -> object:
    device = torch.device(case.device)
    devices = [device.index or 0] if device.type == "cuda" else []
    was_training = model.training
    model.eval()
    try:
        # the same random stream for both builds, for a model that draws random numbers in eval
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(INPUT_SEED)
            with autocast(case.dtype, case.device)():
                return make_input(case)(model)
    finally:
        model.train(was_training)
