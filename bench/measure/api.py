"""`bench.measure(model, inputs)`: the engine, called from Python on a model in hand.

A notebook user holds the model and its real inputs. They are registered
(bench/model/given.py) and measured as one case, through `measure_case`, exactly as a suite case:
the same warmup, blocks, counting, memory pass, guards and flags. The inputs are used as given
(not redrawn from their shapes), so token ids, real images or a dict of keyword tensors keep
their values. The model is borrowed: whatever the case does to it (a move, a cast, eval or train
mode, gradients, running statistics, the random state) is undone before the call returns.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.measure.case import RunOptions, measure_case
from bench.model.given import FACTORY, Preserved, register, release
from bench.model.inputs import ModelInput
from bench.records import DEFAULT_METRICS, METRICS, Case, InputSpec, ModelSpec, Result
from bench.records.axes import CACHE_STATES, COMPILE_MODES, DTYPES, MODES


def measure(
    model: nn.Module,
    inputs: Any,
    *,
    device: str | None = None,
    dtype: str | None = None,
    mode: str = "eval",
    metrics: Iterable[str] | str | None = None,
    budget: float | None = None,
    precision: float | None = None,
    threads: int | None = None,
    timeout: float | None = None,
    name: str | None = None,
    cache: str = "warm",
    compile: str = "eager",
    batch_dim: int = 0,
) -> Result:
    """Measure one model on its inputs: params, FLOPs, latency and memory (or `metrics`).

    `inputs`: a tensor, a tuple of positional arguments, or a dict of keyword arguments. Each
    tensor's first dimension is the batch (`batch_dim=1` for a sequence-first model such as
    `nn.LSTM` without `batch_first`, whose sequence length would be read as the batch); a
    positional list of tensors (a detection model's images) is a batch of its length; keyword
    values that are not tensors, or are 0-dim (a flag, a timestep), and keyword tensors of
    batch 1 beside a larger batch (position_ids of shape (1, L): they broadcast) are passed as
    given. `device` and `dtype` default to the model's own (its first parameter's); its
    floating inputs are cast to `dtype`
    (float32 for the `amp_*` precisions, which autocast the forward). Inputs in channels_last
    make a channels_last case. `budget` and `timeout` are seconds (defaults as `bench run`'s);
    `precision` is the relative half-width of the median's 95% interval to aim for; `threads`
    sets torch's intra-op threads for the case; `cache="cold"` flushes the last-level cache (a
    GPU's L2) before each timed call; `compile` is a torch.compile mode (or "cuda-graph") bench
    applies and times, compile time apart. The model is left as it was given: device, dtype,
    train flag, gradients, buffers and the random state are restored. A model that fails gives
    a Result with status `error` and the reason, as a suite row would; a bad argument raises
    ValueError.
    """
    example = _model_input(inputs)
    device = device or _model_device(model, example)
    dtype = dtype or _model_dtype(model)
    _check(model, device, dtype, mode)
    _check_settings(budget, precision, threads, timeout)
    if cache not in CACHE_STATES:
        raise ValueError(f"cache {cache!r}; allowed: {', '.join(CACHE_STATES)}")
    if compile not in COMPILE_MODES:
        raise ValueError(f"compile {compile!r}; allowed: {', '.join(COMPILE_MODES)}")
    chosen = checked_metrics([metrics] if isinstance(metrics, str) else metrics)
    if isinstance(batch_dim, bool) or not isinstance(batch_dim, int) or batch_dim < 0:
        raise ValueError(f"batch_dim {batch_dim!r}; allowed: a dimension index, 0 or more")
    specs, batch, as_list = _specs(example, batch_dim)
    key = register(model, example)
    kept = Preserved(model, mode, device)
    try:
        spec = ModelSpec(
            name=name or type(model).__name__,
            factory=FACTORY,
            input_shape=tuple(int(d) for d in specs[0].shape),
            batch_sizes=(batch,),
            kwargs={"key": key},
            modes=(mode,),
            inputs=specs,
            batch_as_list=as_list,
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
            compile=compile,
            memory_format=_memory_format(example),
        )
        options = RunOptions(
            metrics=chosen,
            budget_s=budget,
            precision=precision,
            threads=threads,
            timeout_s=timeout,
        )
        result = measure_case(case, options)
    finally:
        release(key)
        kept.restore()
    notes = []
    if batch_dim:
        notes.append(
            f"batch: dimension {batch_dim} of each input (batch_dim); input_shape lists the "
            "batch first"
        )
    if _compiled_by_caller(model):
        notes.append(
            "model compiled by the caller (torch.compile): measured as given, its compile time "
            "is in first_call_ms, and the compile column names only what bench applied"
        )
    return replace(result, notes=(*result.notes, *notes)) if notes else result


def _model_device(model: nn.Module, example: ModelInput) -> str:
    """The device of the model's first parameter or buffer, else of the first input tensor."""
    for tensor in [*model.parameters(), *model.buffers(), *example.tensors()]:
        if tensor.device.type != "meta":
            return str(tensor.device)
    return "cpu"


def _model_dtype(model: nn.Module) -> str:
    """The dtype of the model's first floating parameter; float32 for a model without one (a
    dynamically quantized model keeps its weights packed, outside `parameters()`)."""
    for param in model.parameters():
        if param.is_floating_point():
            name = str(param.dtype).removeprefix("torch.")
            return name if name in DTYPES else "float32"
    return "float32"


def _memory_format(example: ModelInput) -> str:
    """channels_last(_3d) when a floating 4-D (5-D) input is laid out so and not also plain
    contiguous (a 1x1 image is both); else contiguous."""
    layouts = (
        (4, torch.channels_last, "channels_last"),
        (5, torch.channels_last_3d, "channels_last_3d"),
    )
    for tensor in example.tensors():
        if not tensor.is_floating_point() or tensor.is_contiguous():
            continue
        for rank, layout, name in layouts:
            if tensor.dim() == rank and tensor.is_contiguous(memory_format=layout):
                return name
    return "contiguous"


def _compiled_by_caller(model: nn.Module) -> bool:
    """torch.compile(model) returns an OptimizedModule holding the original as `_orig_mod`."""
    return hasattr(model, "_orig_mod") and type(model).__name__ == "OptimizedModule"


def _check_settings(
    budget: float | None, precision: float | None, threads: int | None, timeout: float | None
) -> None:
    """Settings a suite or the CLI would refuse, refused here before anything runs."""
    for label, value in (("budget", budget), ("timeout", timeout)):
        if value is not None and not (isinstance(value, int | float) and 0 < value < math.inf):
            raise ValueError(f"{label} {value!r}; allowed: seconds, a finite number above 0")
    if precision is not None and not (isinstance(precision, int | float) and 0 < precision < 1):
        raise ValueError(f"precision {precision!r}; allowed: a fraction between 0 and 1, e.g. 0.01")
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(f"threads {threads!r}; allowed: a whole number of 1 or more")


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


def _specs(example: ModelInput, batch_dim: int = 0) -> tuple[tuple[InputSpec, ...], int, bool]:
    """Each batched input's per-sample shape and dtype (for the row's `input_shape` and labels),
    the batch, and whether it is given as a list. A tensor's batch is its dimension `batch_dim`
    (1 for a sequence-first RNN); a positional list of tensors (a detection model's images,
    each its own size) is a batch of its length. Keyword values that are not tensors, and
    tensors without that dimension (a flag, a diffusion timestep, a scale), are passed as
    given and have no batch."""
    batched: list[tuple[str, torch.Tensor, int]] = []
    as_list = False
    for label, value in [("", a) for a in example.args] + list(example.kwargs.items()):
        where = f"input {label!r}" if label else "a positional input"
        if (
            isinstance(value, list | tuple)
            and value
            and all(isinstance(v, torch.Tensor) for v in value)
        ):
            if label:
                raise ValueError(f"{where}: a list of tensors is taken as a positional input only")
            batched.append((label, value[0], len(value)))
            as_list = True
        elif isinstance(value, torch.Tensor) and value.dim() > batch_dim:
            batched.append((label, value, int(value.shape[batch_dim])))
        elif not label:
            raise ValueError(
                f"{where} must be a tensor with a batch dimension, or a list of tensors"
            )
    if not batched:
        raise ValueError("inputs: at least one tensor with a batch dimension is needed")
    batches = {batch for _, _, batch in batched}
    if len(batches) == 2 and 1 in batches:
        # a keyword tensor of batch 1 beside batch-B inputs broadcasts (position_ids of shape
        # (1, L)): passed as given, like a constant; a positional one is still a disagreement
        broadcast = [label for label, _, batch in batched if batch == 1]
        if all(broadcast):
            batched = [item for item in batched if item[2] != 1]
            batches = {batch for _, _, batch in batched}
    if len(batches) != 1:
        raise ValueError(
            f"inputs disagree on the batch (dimension {batch_dim}): {sorted(batches)}"
            + ("; a sequence-first model's batch is batch_dim=1" if batch_dim == 0 else "")
        )
    specs = tuple(
        InputSpec(
            shape=tuple(
                int(d)
                for i, d in enumerate(value.shape)
                if (as_list and not label) or i != batch_dim
            ),
            dtype=None if value.is_floating_point() else str(value.dtype).removeprefix("torch."),
            name=label,
        )
        for label, value, _ in batched
    )
    return specs, batches.pop(), as_list
