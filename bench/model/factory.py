"""Model factories and model building (the inputs are `bench.model.inputs`).

A factory is `pkg.module:callable` or `path/to/file.py:callable` (relative to the suite file).
Models are built in code with their kwargs only: nothing is downloaded, weights stay random.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from bench.errors import CaseUnsupported, FactoryError
from bench.model.checkpoints import load_checkpoint
from bench.model.downloads import random_weight_kwargs
from bench.model.inputs import input_problem
from bench.model.variants import storage_dtype, torch_memory_format
from bench.records import Case

FACTORY_FORM = "'pkg.module:callable' or 'path/to/file.py:callable'"
# Weights are seeded too: a model whose work depends on its values (a detection model's NMS
# keeps what random weights score highest) then does the same work, and counts the same MACs,
# on every run.
WEIGHT_SEED = 0


def resolve_factory(text: str, base_dir: Path) -> Callable[..., Any]:
    """Import the callable a factory string names; SuiteError says what went wrong."""
    module_part, sep, attr = text.rpartition(":")
    if not sep or not module_part or not attr:
        raise FactoryError(f"{text!r} is not of the form {FACTORY_FORM}")
    module = _load_module(module_part, base_dir, text)
    target: Any = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise FactoryError(f"{text!r}: {module_part!r} has no attribute {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise FactoryError(f"{text!r} names {type(target).__name__}, not a callable")
    return target


def _load_module(module_part: str, base_dir: Path, text: str) -> ModuleType:
    if module_part.endswith(".py"):
        file = (base_dir / module_part).resolve()
        if not file.is_file():
            raise FactoryError(f"{text!r}: file {str(file)!r} not found")
        return _load_file_module(file, text)
    try:
        return importlib.import_module(module_part)
    except (Exception, SystemExit) as exc:  # any import-time failure is the user's module's problem
        raise FactoryError(
            f"{text!r}: cannot import {module_part!r} ({type(exc).__name__}: {exc})"
        ) from None


def _load_file_module(file: Path, text: str) -> ModuleType:
    """Import a file once per process under a name derived from its path (no sys.path edits)."""
    name = "bench_user_" + hashlib.sha1(str(file).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise FactoryError(f"{text!r}: cannot load {str(file)!r} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # sys.exit() at import must not end the run
        del sys.modules[name]
        raise FactoryError(
            f"{text!r}: importing {file.name} failed ({type(exc).__name__}: {exc})"
        ) from None
    return module


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
