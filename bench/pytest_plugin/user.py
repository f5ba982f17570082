"""A model and inputs built in a user's own test, made into the same kind of subject as a case.

The step is the one `bench run` times (`bench.model.workload`): eval is a forward pass under
inference mode; train is forward, a scalar loss, backward and an SGD step with the gradients
cleared before each call, untimed. `fresh_inputs=True` gives every call its own copy of the
inputs, made before the call and outside the timed region, for a model that writes into its
input (an in-place op on it would otherwise change what the next call computes on).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from bench.measure.counting import count_ops, count_params
from bench.model import MODES, Workload, check_output, scalar_loss, train_workload
from bench.pytest_plugin.measure import Counts, Subject


def as_inputs(inputs: tuple[Any, ...]) -> tuple[torch.Tensor, ...]:
    if not inputs or not all(isinstance(x, torch.Tensor) for x in inputs):
        raise TypeError("bench_model(model, *inputs): give the model's inputs as tensors")
    return tuple(inputs)


def user_workload(
    model: nn.Module, inputs: tuple[torch.Tensor, ...], mode: str, fresh_inputs: bool
) -> Workload:
    """The eval or train step on `inputs`; with fresh_inputs, setup copies them before each call."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}; allowed: {', '.join(MODES)}")
    current = [inputs]
    prepare: list[Callable[[], None]] = []
    if fresh_inputs:

        def copy_inputs() -> None:
            current[0] = tuple(x.clone() for x in inputs)

        prepare.append(copy_inputs)

    if mode == "eval":
        model.eval()

        def forward() -> None:
            model(*current[0])

        return Workload(mode, forward, _chain(prepare), torch.inference_mode)
    train = train_workload(model, lambda: scalar_loss(model(*current[0])))
    return Workload(
        mode, train.run, _chain([train.setup, *prepare]), torch.enable_grad, train.held_state
    )


def _chain(steps: list[Callable[[], None]]) -> Callable[[], None] | None:
    if not steps:
        return None

    def run_all() -> None:
        for step in steps:
            step()

    return run_all


def model_device(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> torch.device:
    """Where the step runs: the first input's device (the model must be there too)."""
    device = inputs[0].device
    for tensor in [*model.parameters(), *model.buffers(), *inputs]:
        if tensor.device != device:
            raise ValueError(
                f"bench_model: a tensor is on {tensor.device}, the first input on {device}; "
                "put the model and every input on one device"
            )
    return device


def model_dtype(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> str:
    """The dtype of the first floating parameter, else of the first input."""
    for tensor in [*model.parameters(), *inputs]:
        if tensor.is_floating_point():
            return str(tensor.dtype).removeprefix("torch.")
    return str(inputs[0].dtype).removeprefix("torch.")


def count_user_step(model: nn.Module, workload: Workload) -> Counts:
    """Parameters, and MACs of one real step (a user's model is not rebuilt on meta)."""
    params, trainable = count_params(model)
    notes: list[str] = []
    macs = None
    try:
        with workload.context():
            if workload.setup is not None:
                workload.setup()
            macs = count_ops(workload.run).macs
    except Exception as exc:  # no count is an empty figure with a note, not a lost benchmark
        notes.append(f"flops: counting failed ({type(exc).__name__}: {exc})")
    return Counts(params, trainable, macs, "real" if macs is not None else None, tuple(notes))


def user_subject(
    model: nn.Module,
    inputs: tuple[Any, ...],
    mode: str = "eval",
    fresh_inputs: bool = False,
    labels: dict[str, Any] | None = None,
) -> Subject:
    if not isinstance(model, nn.Module):
        raise TypeError(f"bench_model needs a torch.nn.Module, got {type(model).__name__}")
    tensors = as_inputs(inputs)
    device = model_device(model, tensors)
    checked = tuple(x.clone() for x in tensors) if fresh_inputs else tensors
    with torch.no_grad():  # one checked forward before anything is timed
        check_output(model.eval()(*checked))
    workload = user_workload(model, tensors, mode, fresh_inputs)
    counts = count_user_step(model, workload)
    return Subject(
        model=model,
        inputs=tensors,
        workload=workload,
        device=device,
        dtype=model_dtype(model, tensors),
        counts=counts,
        labels={"model": type(model).__name__, "fresh_inputs": fresh_inputs, **(labels or {})},
    )
