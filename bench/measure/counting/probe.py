"""The counting probes of one case: parameters, buffers, size, FLOPs (meta first), coverage,
the fvcore cross-check and the layer table.

FLOPs are counted on a copy of the model built on the meta device when the model allows it, so a
count costs no compute; a model that cannot be built or run on meta is counted on the real model
and input instead, and the record says which (`counted_on`) and why (a note).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Set
from dataclasses import dataclass
from typing import TypeVar

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
    uncounted_contractions,
)
from bench.measure.counting.quantized import (
    incomplete_quantized_ops,
    packed_weights,
    weight_dtypes,
)
from bench.model.downloads import random_weight_kwargs
from bench.model.factory import resolve_factory, set_inplace, torch_dtype
from bench.model.given import FACTORY as GIVEN_FACTORY
from bench.model.inputs import INPUT_SEED, ModelInput, make_input
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
    model = build_on_meta(factory, kwargs)
    if case.inplace_variant:  # as build_model does: the op list must be this variant's own
        set_inplace(model, case.inplace_variant == "in_place")
    dtype = torch_dtype(case.dtype)
    tensors = itertools.chain(model.parameters(), model.buffers())
    if any(t.is_floating_point() and t.dtype != dtype for t in tensors):
        model = model.to(dtype=dtype)  # a no-op `.to` still walks every tensor: ~5 ms a model
    example = make_input(case, device=META)
    return model.eval(), example


def _count_workload(model: nn.Module, example: ModelInput, mode: str) -> OpCount:
    workload = make_workload(model, example, mode)
    with workload.context():
        if workload.setup is not None:
            workload.setup()
        return count_ops(workload.run)


OTHER_INPUT_SEEDS = (INPUT_SEED + 1, INPUT_SEED + 2, INPUT_SEED + 3)
PRUNING_OPS = frozenset({"torchvision.nms"})
"""Ops after which a model's work is known to follow what they kept (an R-CNN's heads on the
boxes NMS keeps): a model running one stays flagged without the other-inputs check, which
seeded random weights can fool (a random-weight Faster R-CNN kept the same number of boxes on
four inputs; trained weights would not)."""
T = TypeVar("T")
RealModel = Callable[[], tuple[nn.Module, ModelInput]]
"""Builds (once) the case's real model and input: called only when a probe needs them."""


class _Real:
    """The case's real model and input, and whether they exist yet (given already built, or
    built by the first probe that needed them): the one state `_count` decides by."""

    def __init__(self, build: RealModel, built: bool = False) -> None:
        self._build = build
        self.built = built

    def __call__(self) -> tuple[nn.Module, ModelInput]:
        self.built = True
        return self._build()


def count_case(
    case: Case,
    model: nn.Module,
    example: ModelInput | torch.Tensor,
    metrics: Set[str],
    crosscheck: bool | None = True,
    allow_partial: bool = False,
) -> CountOutcome:
    """Every counting probe the metrics ask for, beside a real model already built (timing or
    memory need it anyway). Params come from the real model; FLOPs from meta when it allows.
    A failed optional probe leaves a note. `crosscheck` None (automatic) runs fvcore: the real
    model is there. `allow_partial` keeps a total that leaves out contractions without a
    formula (flagged) instead of leaving it empty."""
    call = ModelInput.of(example)
    real = _Real(lambda: (model, call), built=True)
    return _count(case, real, metrics, crosscheck is not False, allow_partial)


def count_without_running(
    case: Case,
    real: RealModel,
    metrics: Set[str],
    crosscheck: bool | None = None,
    allow_partial: bool = False,
) -> CountOutcome:
    """The counts alone, for a run that asks for no timing or memory: everything on the meta
    device (exact: params are `numel`s, MACs come from shapes), and `real()` is called only
    when meta cannot count (a quantized model, data-dependent ops, a builder that refuses
    meta). fvcore's cross-check traces a real forward, so `crosscheck` None runs it only when
    the real model was built anyway; True builds it for the cross-check."""
    return _count(case, _Real(real), metrics, crosscheck, allow_partial)


def _count(
    case: Case,
    real: _Real,
    metrics: Set[str],
    crosscheck: bool | None,
    allow_partial: bool = False,
) -> CountOutcome:
    notes: list[str] = []
    partial_ops: dict[str, int] = {}
    total_fixed = False
    meta: tuple[nn.Module, ModelInput] | None = None
    try:
        # a given model (bench.measure) exists already, with real weights: nothing to build
        meta = None if case.model.factory == GIVEN_FACTORY else meta_copy(case)
    except Exception as exc:  # any builder may refuse meta; counting falls back to real tensors
        notes.append(f"meta device: cannot build ({_one_line(exc)}); using real tensors")

    shared = _shared_forward(meta, metrics, case.mode)
    params = trainable = macs = buffers = size = None
    dtypes: str | None = None
    layers: tuple[LayerRow, ...] = ()
    if "params" in metrics:
        # on meta only when no real model exists: the real one also holds what a checkpoint or
        # an in-place variant changed, and quantized weights (which never build on meta)
        counted_model = meta[0] if meta is not None and not real.built else real()[0]
        params, trainable = count_params(counted_model)
        buffers, size = count_buffers(counted_model), model_size_bytes(counted_model)
        packed = packed_weights(counted_model)
        dtypes = weight_dtypes(counted_model, packed)
        if packed:
            notes.append(_quantized_note(packed, dtypes))
        layers = shared.layers if shared else _layers(meta, real, notes)

    counted: OpCount | None = None
    counted_on: str | None = None
    fvcore = FvcoreCount(None)
    if "flops" in metrics:
        if shared:
            counted, counted_on = shared.counted, "meta"
        elif meta is not None:
            try:
                counted = shapes_only(lambda: _count_workload(*meta, case.mode))
                counted_on = "meta"
            except Exception as exc:  # data-dependent models cannot run on meta
                notes.append(f"meta device: forward failed ({_one_line(exc)}); counted on real")
        if counted is None:
            try:
                counted, counted_on = _count_workload(*real(), case.mode), "real"
            except Exception as exc:  # no count is a missing cell, not a lost case
                notes.append(f"flops: counting failed on real tensors ({_one_line(exc)})")
        macs = counted.macs if counted else None
        if counted:
            macs, partial_ops = _without_silent_gaps(counted, allow_partial, notes)
        if counted and counted.data_dependent_ops:
            checkable = counted_on == "real" and not set(counted.data_dependent_ops) & PRUNING_OPS
            other = _total_on_other_inputs(case, real, counted.macs) if checkable else None
            total_fixed = other is not None and other == counted.macs
            notes.append(_data_dependent_note(counted.data_dependent_ops, counted.macs, other))
        wanted = crosscheck if crosscheck is not None else real.built
        if wanted:
            fvcore = _crosscheck(*real(), case.mode)
            if fvcore.macs is None and case.mode == "eval":
                notes.append(fvcore.note)
        elif crosscheck is None:
            fvcore = FvcoreCount(None, "counts only: no real model built; --crosscheck runs it")
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
        data_dependent_ops=counted.data_dependent_ops if counted else {},
        weight_dtypes=dtypes,
        partial_ops=partial_ops,
        total_fixed=total_fixed,
    )
    return CountOutcome(params, trainable, macs, details, tuple(notes))


def _quantized_note(packed: list[torch.Tensor], dtypes: str) -> str:
    count = sum(t.numel() for t in packed)
    return (
        f"quantized: {count} parameters are packed in quantized modules (weights: {dtypes}), "
        "counted and never trainable; a quantized kernel's MACs count as its float "
        "counterpart's multiplies"
    )


def _without_silent_gaps(
    counted: OpCount, allow_partial: bool, notes: list[str]
) -> tuple[int | None, dict[str, int]]:
    """The MACs to report and the ops left out of them: never a total that silently left out
    an op that multiplies (a contraction, or a quantized kernel, without a formula). Such a
    total is None with a note, or with `allow_partial` kept, flagged and the ops named."""
    left_out = {
        "quantized ops with multiplies": incomplete_quantized_ops(counted.uncounted_ops),
        "ops that multiply and accumulate": uncounted_contractions(counted.uncounted_ops),
    }
    macs: int | None = counted.macs
    partial: dict[str, int] = {}
    for kind, ops_left_out in left_out.items():
        if not ops_left_out:
            continue
        names = ", ".join(ops_left_out)
        if allow_partial:
            partial.update({op: counted.uncounted_ops[op] for op in ops_left_out})
            notes.append(
                f"flops: PARTIAL count (--allow-partial-counts): {kind} ran without a "
                f"formula ({names}); their MACs are not in the total"
            )
        else:
            macs = None
            notes.append(
                f"flops: {kind} ran without a formula ({names}); MACs left empty rather "
                "than undercounted (--allow-partial-counts keeps a flagged partial total)"
            )
    return macs, partial


@dataclass(frozen=True)
class _SharedForward:
    counted: OpCount
    layers: tuple[LayerRow, ...]


def _shared_forward(
    meta: tuple[nn.Module, ModelInput] | None, metrics: Set[str], mode: str
) -> _SharedForward | None:
    """The FLOP count and the layer table from one forward pass on meta, where both are asked
    for and the work is that forward (eval): torchinfo's forward, counted. Two forwards were
    most of what a counts-only run spends per small model (85 + 68 ms). None where it cannot
    (train mode, no meta model, torchinfo or the count failing): each then runs on its own."""
    if meta is None or mode != "eval" or not {"params", "flops"} <= set(metrics):
        return None
    model, example = meta
    rows: list[tuple[LayerRow, ...]] = []

    def forward() -> OpCount:
        rows.clear()
        with torch.inference_mode():
            return count_ops(lambda: rows.append(layer_table(model, example)))

    try:
        model.eval()
        counted = shapes_only(forward)
    except Exception:  # the separate passes say what failed
        return None
    return _SharedForward(counted, rows[0])


def shapes_only(fn: Callable[[], T]) -> T:
    """fn() on the meta model; where that forward reads a tensor's value (`.item()`, `bool()`
    of a mask), fn() again under FakeTensorMode, which has no values either.

    Under fake tensors, libraries that must not read values take their tracing path: BART's
    decoder under transformers 5.25 asks `mask.all()` of an all-ones attention mask on meta
    (an error there), but builds the explicit mask when it sees a fake tensor. Same shapes,
    same MACs as the real model (180,355,072 both, a 2-layer BART at 64 tokens); the real
    model and fvcore's pass are not needed. A forward that reads values for its control flow
    (a router's `.tolist()`) fails under fake tensors too and is counted on real ones.
    """
    try:
        return fn()
    except Exception:  # any failure: a second, shapes-only try costs one failed forward at most
        pass
    from torch._subclasses.fake_tensor import FakeTensorMode

    # a failure there is reported by the caller, as on meta; torch would log it with a traceback
    quiet = logging.getLogger(FakeTensorMode.__module__)
    was_disabled, quiet.disabled = quiet.disabled, True
    try:
        with FakeTensorMode(allow_non_fake_inputs=True):
            return fn()
    finally:
        quiet.disabled = was_disabled


def _total_on_other_inputs(case: Case, real: _Real, macs: int) -> int | None:
    """The MACs of the same model on OTHER_INPUT_SEEDS' inputs (same shapes, other values):
    `macs` when every one gave it, else the first that differs; None where there is no other
    input to draw (a model given with its inputs) or a count fails. Several: one other input
    can keep as many rows as the first by chance (8 of 16 both times, seen)."""
    if case.model.factory == GIVEN_FACTORY:
        return None
    try:
        for seed in OTHER_INPUT_SEEDS:
            other = _count_workload(real()[0], make_input(case, seed=seed), case.mode).macs
            if other != macs:
                return other
    except Exception:  # the first count stands; only the check is lost
        return None
    return macs


def _data_dependent_note(ops: dict[str, int], macs: int, other: int | None) -> str:
    names = ", ".join(f"{op} x{n}" for op, n in ops.items())
    if other is not None and other == macs:
        return (
            f"data-dependent ops ran ({names}), but {len(OTHER_INPUT_SEEDS)} other, differently "
            f"seeded inputs gave the same total ({macs:,} MACs): the total looks fixed, as "
            "top-k routing keeps it (which expert gets which token moves, the sum does not); "
            "not flagged"
        )
    evidence = (
        f"; another, differently seeded input gave {other:,} MACs (this row: {macs:,})"
        if other is not None
        else ""
    )
    return (
        f"count may depend on the data: {names} ran, ops whose output size depends on values; "
        "the MACs change with the input and the weights when later layers run on what they "
        "kept (an R-CNN's heads on the boxes NMS keeps), not when they only post-process "
        "(RetinaNet's NMS after its last layer); weights and inputs are seeded, so the count "
        f"repeats, but another input or checkpoint may give another count{evidence}"
    )


def _layers(
    meta: tuple[nn.Module, ModelInput] | None,
    real: RealModel,
    notes: list[str],
) -> tuple[LayerRow, ...]:
    """On meta when possible (free); else a real forward pass, under no_grad."""
    meta_error = ""
    if meta is not None:
        try:
            return shapes_only(lambda: layer_table(*meta))
        except Exception as exc:  # torchinfo's forward on meta failed: the real model may work
            meta_error = f"on meta: {_one_line(exc)}; "
    try:
        model, example = real()
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
