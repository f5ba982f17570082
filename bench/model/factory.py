"""Model building from a case's factory (the inputs are `bench.model.inputs`).

The factory string is resolved by `bench.model.resolve`. Models are built in code with their
kwargs only: nothing is downloaded, weights stay random.
"""

from __future__ import annotations

import torch
from torch import nn

from bench.errors import CaseUnsupported
from bench.model.checkpoints import load_checkpoint
from bench.model.downloads import random_weight_kwargs
from bench.model.inputs import input_problem
from bench.model.resolve import resolve_factory
from bench.model.variants import storage_dtype, torch_memory_format
from bench.records import Case

# Weights are seeded too: a model whose work depends on its values (a detection model's NMS
# keeps what random weights score highest) then does the same work, and counts the same MACs,
# on every run.
WEIGHT_SEED = 0


def torch_dtype(name: str) -> torch.dtype:
    """The dtype a suite's precision stores weights and inputs in (float32 for amp_*)."""
    return storage_dtype(name)


def build_model(case: Case) -> nn.Module:
    """Build the case's model on its device and dtype, in eval mode, with seeded random weights
    (the same on every run: WEIGHT_SEED); `weights`/`weights_backbone` are None unless the
    suite's kwargs name them (bench.model.downloads)."""
    factory = resolve_factory(case.model.factory, case.base_dir)
    with torch.random.fork_rng(devices=[]):  # the process's own random state is left as it was
        torch.manual_seed(WEIGHT_SEED)
        model = factory(**random_weight_kwargs(factory, case.model.kwargs))
    if not isinstance(model, nn.Module):
        raise TypeError(f"factory returned {type(model).__name__}, not a torch.nn.Module")
    if case.inplace_variant and set_inplace(model, case.inplace_variant == "in_place") == 0:
        raise ValueError("compare_inplace: the model has no module with an `inplace` flag")
    if case.model.checkpoint is not None:
        load_checkpoint(model, case.model.checkpoint, case.model.trust_checkpoint)
    model = model.to(device=case.device, dtype=torch_dtype(case.dtype))
    if case.memory_format != "contiguous":
        _check_memory_format(case)
        model = model.to(memory_format=torch_memory_format(case.memory_format))
    return model.eval()


def _check_memory_format(case: Case) -> None:
    problem = input_problem(case)
    if problem is not None:
        raise CaseUnsupported(problem)


def set_inplace(model: nn.Module, inplace: bool) -> int:
    """Switch every module's boolean `inplace` flag (ReLU, ReLU6, Hardswish, Dropout, ...).

    Returns how many modules were switched, so a comparison that changed nothing is caught.
    """
    switched = 0
    for module in model.modules():
        if isinstance(getattr(module, "inplace", None), bool):
            module.inplace = inplace
            switched += 1
    return switched
