"""The counting probes of one case: parameters, buffers, size, FLOPs (meta first), coverage,
the fvcore cross-check and the layer table.

FLOPs are counted on a copy of the model built on the meta device when the model allows it, so a
count costs no compute; a model that cannot be built or run on meta is counted on the real model
and input instead, and the record says which (`counted_on`) and why (a note).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass

import torch
from torch import nn

from bench.measure.counting.fvcore_check import FvcoreCount, fvcore_macs
from bench.measure.counting.layers import layer_table
from bench.measure.counting.meta import META, build_on_meta
from bench.measure.counting.ops import (
    OpCount,
    count_buffers,
    count_ops,
    count_params,
    model_size_bytes,
)
from bench.model.downloads import random_weight_kwargs
from bench.model.factory import resolve_factory, torch_dtype
from bench.model.inputs import ModelInput, make_input
from bench.model.workload import make_workload
from bench.records import Case
from bench.records.counts import CountDetails, LayerRow


@dataclass(frozen=True)
class CountOutcome:
    params: int | None
    trainable_params: int | None
    macs: int | None
    details: CountDetails
    notes: tuple[str, ...]


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"


def meta_copy(case: Case) -> tuple[nn.Module, ModelInput]:
    """The case's model and input on meta, at the case's dtype; raises if it cannot be built."""
    factory = resolve_factory(case.model.factory, case.base_dir)
    kwargs = random_weight_kwargs(factory, case.model.kwargs)  # nothing is downloaded on meta
    model = build_on_meta(factory, kwargs).to(dtype=torch_dtype(case.dtype))
    example = make_input(case, device=META)
    return model.eval(), example


def _count_workload(model: nn.Module, example: ModelInput, mode: str) -> OpCount:
    workload = make_workload(model, example, mode)
    with workload.context():
        if workload.setup is not None:
            workload.setup()
        return count_ops(workload.run)


def count_case(
    case: Case,
    model: nn.Module,
    example: ModelInput | torch.Tensor,
    metrics: Set[str],
    crosscheck: bool = True,
) -> CountOutcome:
    """Every counting probe the metrics ask for; a failed optional probe leaves a note."""
    example = ModelInput.of(example)
    notes: list[str] = []
    meta: tuple[nn.Module, ModelInput] | None = None
    try:
        meta = meta_copy(case)
    except Exception as exc:  # any builder may refuse meta; counting falls back to real tensors
        notes.append(f"meta device: cannot build ({_one_line(exc)}); using real tensors")

    params = trainable = macs = buffers = size = None
    layers: tuple[LayerRow, ...] = ()
    if "params" in metrics:
        params, trainable = count_params(model)
        buffers, size = count_buffers(model), model_size_bytes(model)
        layers = _layers(meta, model, example, notes)

    counted: OpCount | None = None
    counted_on: str | None = None
    fvcore = FvcoreCount(None)
    if "flops" in metrics:
        if meta is not None:
            try:
                counted, counted_on = _count_workload(*meta, case.mode), "meta"
            except Exception as exc:  # data-dependent models cannot run on meta
                notes.append(f"meta device: forward failed ({_one_line(exc)}); counted on real")
        if counted is None:
            try:
                counted, counted_on = _count_workload(model, example, case.mode), "real"
            except Exception as exc:  # no count is a missing cell, not a lost case
                notes.append(f"flops: counting failed on real tensors ({_one_line(exc)})")
        macs = counted.macs if counted else None
        if crosscheck:
            fvcore = _crosscheck(model, example, case.mode)
            if fvcore.macs is None and case.mode == "eval":
                notes.append(fvcore.note)
    details = CountDetails(
        counted_on=counted_on,
        uncounted_ops=counted.uncounted_ops if counted else {},
        macs_by_op=counted.macs_by_op if counted else {},
        buffers=buffers,
        model_size_bytes=size,
        fvcore_macs=fvcore.macs,
        fvcore_note=fvcore.note,
        fvcore_skipped_ops=fvcore.skipped_ops,
        layers=layers,
    )
    return CountOutcome(params, trainable, macs, details, tuple(notes))


def _layers(
    meta: tuple[nn.Module, ModelInput] | None,
    model: nn.Module,
    example: ModelInput,
    notes: list[str],
) -> tuple[LayerRow, ...]:
    """On meta when possible (free); else a real forward pass, under no_grad."""
    meta_error = ""
    if meta is not None:
        try:
            return layer_table(*meta)
        except Exception as exc:  # torchinfo's forward on meta failed: the real model may work
            meta_error = f"on meta: {_one_line(exc)}; "
    try:
        with torch.no_grad():
            return layer_table(model.eval(), example)
    except Exception as exc:  # the table is optional; the case's numbers still stand
        notes.append(f"layer table: torchinfo failed ({meta_error}on real: {_one_line(exc)})")
        return ()


def _crosscheck(model: nn.Module, example: ModelInput, mode: str) -> FvcoreCount:
    if mode != "eval":
        return FvcoreCount(None, "fvcore counts a forward pass only; no cross-check for a step")
    model.eval()
    return fvcore_macs(model, example)
