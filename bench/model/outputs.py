"""What a model's forward may return, the check that its numbers are finite, and the comparison
of two builds' outputs.

Accepted: any nesting of tensors in tuples, lists, dicts (a HuggingFace `ModelOutput` is one),
namedtuples, dataclasses, e.g. an LSTM's `(out, (h, c))` or a detection model's list of dicts.
Leaves that are not tensors (None, numbers, strings, a KV cache object such as transformers'
`DynamicCache`) are ignored: they are part of real models' outputs, and the harness times the
forward, not what it returns. They are listed in the row's notes, so an output whose useful part
is hidden inside such an object is seen. An output with no tensor at all is refused: timing a
forward that returns nothing useful is usually a bug in the factory, and the training loss could
not be built from it either.

NaN or Inf in a floating output makes the case an error too: the latency of a model computing
garbage (often denormals or overflow, which run at a different speed) is not a number to quote.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

ALLOWED = "tensors, in any nesting of tuples, lists, dicts, namedtuples and dataclasses"
_SHOWN = 5  # ignored leaves named in a note; the rest are counted


class OutputError(Exception):
    """A forward output the harness will not measure; the case's row says why."""


class NonFiniteOutputError(OutputError):
    """The output holds NaN or Inf."""


@dataclass(frozen=True)
class Leaves:
    """An output taken apart: its tensors and the places of what is not a tensor."""

    tensors: tuple[tuple[str, torch.Tensor], ...]
    ignored: tuple[tuple[str, str], ...]  # (where, type name)

    def note(self) -> str | None:
        """The row's note naming what was ignored, or None when every leaf is a tensor."""
        if not self.ignored:
            return None
        shown = ", ".join(f"{where} ({kind})" for where, kind in self.ignored[:_SHOWN])
        more = len(self.ignored) - _SHOWN
        if more > 0:
            shown += f" and {more} more"
        return f"output: non-tensor parts ignored (not checked, not in the training loss): {shown}"


def output_leaves(output: Any) -> Leaves:
    """Every leaf of `output` with its place, e.g. `output['logits']`, `output[0].boxes`."""
    tensors: list[tuple[str, torch.Tensor]] = []
    ignored: list[tuple[str, str]] = []
    for where, leaf in _walk(output, "output", set()):
        if isinstance(leaf, torch.Tensor):
            tensors.append((where, leaf))
        else:
            ignored.append((where, type(leaf).__name__))
    return Leaves(tuple(tensors), tuple(ignored))


def check_output(output: Any) -> tuple[str, ...]:
    """Raise OutputError unless `output` holds a tensor and every floating one is finite.

    Returns the notes for the case's row (what was ignored), empty when there is nothing to say.
    """
    leaves = output_leaves(output)
    if not leaves.tensors:
        what = type(output).__name__
        inside = [f"{where} ({kind})" for where, kind in leaves.ignored if where != "output"]
        if inside:  # a container of non-tensors: say what it held
            what += ": " + ", ".join(inside[:_SHOWN])
        raise OutputError(f"forward returned no tensor ({what}); allowed: {ALLOWED}")
    for where, tensor in leaves.tensors:
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
    note = leaves.note()
    return (note,) if note else ()


def compare_outputs(output: Any, reference: Any) -> str | None:
    """None when both outputs have the same structure and bit-identical tensors; else where and
    by how much they differ (the first difference, with the largest absolute difference there).
    """
    mine, theirs = output_leaves(output).tensors, output_leaves(reference).tensors
    places = [where for where, _ in mine]
    if places != [where for where, _ in theirs]:
        return f"different output structure ({len(mine)} vs {len(theirs)} tensors)"
    for (where, a), (_, b) in zip(mine, theirs, strict=True):
        if a.shape != b.shape or a.dtype != b.dtype:
            return f"{where}: {tuple(a.shape)} {a.dtype} vs {tuple(b.shape)} {b.dtype}"
        if torch.equal(a, b):
            continue
        if a.is_floating_point() or a.is_complex():
            largest = float((a.detach() - b.detach()).abs().max())
            return f"{where}: differs by up to {largest:.3g}"
        return f"{where}: {int((a != b).sum())} of {a.numel()} values differ"
    return None


def _walk(value: Any, where: str, seen: set[int]) -> Iterator[tuple[str, Any]]:
    if isinstance(value, torch.Tensor):
        yield where, value
        return
    container = isinstance(value, (Mapping, tuple, list)) or _is_dataclass_instance(value)
    if not container:
        yield where, value
        return
    if id(value) in seen:  # a container holding itself: its second visit adds nothing
        return
    seen.add(id(value))
    if isinstance(value, Mapping):  # dict, OrderedDict, ModelOutput (only its non-None fields)
        for key, item in value.items():
            yield from _walk(item, f"{where}[{key!r}]", seen)
    elif isinstance(value, tuple) and hasattr(value, "_fields"):  # namedtuple
        for name, item in zip(value._fields, value, strict=True):
            yield from _walk(item, f"{where}.{name}", seen)
    elif isinstance(value, (tuple, list)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]", seen)
    else:
        for field in dataclasses.fields(value):
            yield from _walk(getattr(value, field.name), f"{where}.{field.name}", seen)
    seen.discard(id(value))


def _is_dataclass_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)
