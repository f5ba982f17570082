"""`bench.measure(model, inputs)`: the engine, called from Python on a model in hand.

A notebook user holds the model and its real inputs. They are registered
(bench/model/given.py) and measured as one case, through `measure_case`, exactly as a suite case:
the same warmup, blocks, counting, memory pass, guards and flags. The inputs are used as given
(not redrawn from their shapes), so token ids, real images or a dict of keyword tensors keep
their values. The model is moved to `device` and `dtype` in place, as `model.to()` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.measure.case import RunOptions, measure_case
from bench.model.given import FACTORY, register, release
from bench.model.inputs import ModelInput
from bench.records import DEFAULT_METRICS, METRICS, Case, InputSpec, ModelSpec, Result
from bench.records.axes import CACHE_STATES, DTYPES, MODES


def measure(
    model: nn.Module,
    inputs: Any,
    *,
    device: str = "cpu",
    dtype: str = "float32",
    mode: str = "eval",
    metrics: Iterable[str] | None = None,
    budget: float | None = None,
    precision: float | None = None,
    threads: int | None = None,
    timeout: float | None = None,
    name: str | None = None,
    cache: str = "warm",
) -> Result:
    """Measure one model on its inputs: params, FLOPs, latency and memory (or `metrics`).

    `inputs`: a tensor, a tuple or list of tensors (positional arguments), or a dict of tensors
    (keyword arguments); every tensor's first dimension is the batch. `budget` and `timeout`
    are seconds (defaults as `bench run`'s); `threads` sets torch's intra-op threads for the
    case; `cache="cold"` flushes the last-level cache (a GPU's L2) before each timed call. A
    model that fails gives a Result with status `error` and the reason, as a suite row would; a
    bad argument raises ValueError.
    """
    _check(model, device, dtype, mode)
    if cache not in CACHE_STATES:
        raise ValueError(f"cache {cache!r}; allowed: {', '.join(CACHE_STATES)}")
    chosen = checked_metrics(metrics)
    example = _model_input(inputs)
    specs, batch = _specs(example)
    key = register(model, example)
    try:
        spec = ModelSpec(
            name=name or type(model).__name__,
            factory=FACTORY,
            input_shape=tuple(int(d) for d in specs[0].shape),
            batch_sizes=(batch,),
            kwargs={"key": key},
            modes=(mode,),
            inputs=specs,
        )
        case = Case(
            suite="notebook",
            model=spec,
            device=device,
            dtype=dtype,
            batch_size=batch,
            base_dir=Path.cwd(),
            mode=mode,
            cache=cache,
        )
        options = RunOptions(
            metrics=chosen,
            budget_s=budget,
            precision=precision,
            threads=threads,
            timeout_s=timeout,
        )
        return measure_case(case, options)
    finally:
        release(key)


def _check(model: Any, device: str, dtype: str, mode: str) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}; allowed: {', '.join(MODES)}")
    if not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ValueError(f"device {device!r}; allowed: 'cpu', 'cuda' or 'cuda:N'")


def checked_metrics(metrics: Iterable[str] | None) -> frozenset[str]:
    chosen = frozenset(DEFAULT_METRICS if metrics is None else metrics)
    unknown = sorted(chosen - set(METRICS))
    if unknown or not chosen:
        raise ValueError(f"metrics {sorted(chosen)}; allowed: {', '.join(METRICS)}")
    return chosen


def _model_input(inputs: Any) -> ModelInput:
    if isinstance(inputs, ModelInput):
        return inputs
    if isinstance(inputs, torch.Tensor):
        return ModelInput((inputs,))
    if isinstance(inputs, tuple | list):
        return ModelInput(tuple(inputs))
    if isinstance(inputs, Mapping):
        return ModelInput((), dict(inputs))
    raise ValueError(
        f"inputs must be a tensor, a tuple or list of tensors, or a dict of tensors; "
        f"got {type(inputs).__name__}"
    )


def _specs(example: ModelInput) -> tuple[tuple[InputSpec, ...], int]:
    """Each input's per-sample shape and dtype (for the row's `input_shape` and labels), and
    the batch: the first dimension every tensor shares."""
    named = [("", a) for a in example.args] + list(example.kwargs.items())
    if not named:
        raise ValueError("inputs: at least one tensor is needed")
    for label, value in named:
        if not isinstance(value, torch.Tensor) or value.dim() == 0:
            where = f"input {label!r}" if label else "a positional input"
            raise ValueError(f"{where} must be a tensor with a batch dimension")
    batches = {value.shape[0] for _, value in named}
    if len(batches) != 1:
        raise ValueError(f"inputs disagree on the batch (first) dimension: {sorted(batches)}")
    specs = tuple(
        InputSpec(
            shape=tuple(int(d) for d in value.shape[1:]),
            dtype=None if value.is_floating_point() else str(value.dtype).removeprefix("torch."),
            name=label,
        )
        for label, value in named
    )
    return specs, int(batches.pop())
