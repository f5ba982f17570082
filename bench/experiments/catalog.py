"""The variants each tensor experiment compares: what each is called and what it computes.

Every variant receives freshly prepared tensors and returns the tensor it produced, so one
harness can time it, count the bytes it allocates, check whether the output aliases the input
and compare its values with the out-of-place reference. `primary` names the input whose storage
an aliasing result would share (the tensor an in-place op writes into).

This module says which variants exist (validating a suite and reading a run back need only
that); the torch code each one runs is `bench.experiments.kernels`, imported on the first run,
so that `bench run` can refuse a bad suite and `bench report` render a run without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

Inputs = dict[str, "torch.Tensor"]
Kernel = Callable[[Inputs], Any]  # returns the tensor the variant produced
ROWS_REQUIRED = 100  # inputs are ROWS_REQUIRED x (numel / ROWS_REQUIRED), so transposes are real
Oracle = Callable[[dict[str, np.ndarray]], np.ndarray]


def shape_for(numel: int) -> tuple[int, int]:
    """2-D so that transposes are real (non-contiguous); sizes are multiples of the row count."""
    return (ROWS_REQUIRED, numel // ROWS_REQUIRED)


@dataclass(frozen=True)
class Variant:
    family: str  # the op or idea compared, e.g. "relu", "add", "reshape"
    name: str  # how it is done: out_of_place, in_place, out_param, view, clone, ...
    code: str  # the expression, for the report
    kernel: Kernel | None = (
        None  # None: the catalog's kernel for this key (bench.experiments.kernels)
    )
    primary: str = "x"
    expected: Oracle | None = None
    fresh_input: bool = True  # a fresh copy of the input before every timed call (see measure)

    @property
    def key(self) -> str:
        return f"{self.family}/{self.name}"

    @cached_property
    def run(self) -> Kernel:
        """The function timed. Looked up once, then an attribute like any field: the timed call
        costs what it did when the function was a field."""
        if self.kernel is not None:
            return self.kernel
        from bench.experiments.kernels import KERNELS  # imports torch

        return KERNELS[self.key]


INPLACE_VARIANTS: tuple[Variant, ...] = (
    Variant("relu", "out_of_place", "torch.relu(x)"),
    Variant("relu", "in_place", "x.relu_()"),
    Variant("add", "out_of_place", "y = x + y", primary="y"),
    Variant("add", "in_place", "y.add_(x)", primary="y"),
    Variant("add", "augmented", "y += x", primary="y"),
    Variant("add", "out_param", "torch.add(x, y, out=y)", primary="y"),
    Variant("add", "slice_assign", "y[:] = x + y", primary="y"),
    Variant("mul", "out_of_place", "y = x * y", primary="y"),
    Variant("mul", "in_place", "y.mul_(x)", primary="y"),
    Variant("mul", "augmented", "y *= x", primary="y"),
    Variant("sigmoid", "out_of_place", "torch.sigmoid(x)"),
    Variant("sigmoid", "in_place", "x.sigmoid_()"),
    Variant("clamp", "out_of_place", "x.clamp(-0.5, 0.5)"),
    Variant("clamp", "in_place", "x.clamp_(-0.5, 0.5)"),
)


# Inputs are 2-D (rows x cols, contiguous). Each view variant carries a NumPy oracle for its
# values, an implementation nobody here wrote, so a wrong view or copy cannot pass unnoticed.
def _v(family: str, name: str, code: str, expected: Oracle) -> Variant:
    return Variant(family, name, code, expected=expected, fresh_input=False)


VIEW_VARIANTS: tuple[Variant, ...] = (
    _v("view", "view", "x.view(-1)", lambda a: a["x"].reshape(-1)),
    _v("view", "clone", "x.clone()", lambda a: a["x"].copy()),
    _v("view", "clone_view", "x.clone().view(-1)", lambda a: a["x"].reshape(-1)),
    _v("reshape", "reshape_view", "x.reshape(-1)", lambda a: a["x"].reshape(-1)),
    _v("reshape", "reshape_copy", "x.t().reshape(-1)", lambda a: a["x"].T.reshape(-1)),
    _v("contiguous", "contiguous_noop", "x.contiguous()", lambda a: a["x"]),
    _v(
        "contiguous",
        "contiguous_copy",
        "x.t().contiguous()",
        lambda a: np.ascontiguousarray(a["x"].T),
    ),
    _v("slice", "slice", "x[1:]", lambda a: a["x"][1:]),
    _v(
        "slice",
        "narrow",
        "x.narrow(1, 0, cols // 2)",
        lambda a: a["x"][:, : a["x"].shape[1] // 2],
    ),
    _v("slice", "slice_clone", "x[1:].clone()", lambda a: a["x"][1:].copy()),
    _v(
        "expand",
        "expand",
        "x[0].expand(rows, cols)",
        lambda a: np.broadcast_to(a["x"][0], a["x"].shape),
    ),
    _v(
        "expand",
        "repeat",
        "x[0].repeat(rows, 1)",
        lambda a: np.tile(a["x"][0], (a["x"].shape[0], 1)),
    ),
)

CATALOG: dict[str, tuple[Variant, ...]] = {"inplace": INPLACE_VARIANTS, "view": VIEW_VARIANTS}


CATALOG_BY_KEY: dict[str, Variant] = {v.key: v for vs in CATALOG.values() for v in vs}


def families(kind: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.family for v in CATALOG[kind]))


def baseline_of(variant: Variant) -> Variant:
    """The variant its family is compared against: the first of the family in the catalog (the
    out-of-place op for in-place families; the view, or the no-copy form, for view families).
    A variant of a family the catalog does not know is its own baseline."""
    return next((v for v in CATALOG_BY_KEY.values() if v.family == variant.family), variant)
