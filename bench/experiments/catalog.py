"""The variants each tensor experiment compares, written once as small functions.

Every variant receives freshly prepared tensors and returns the tensor it produced, so one
harness can time it, count the bytes it allocates, check whether the output aliases the input
and compare its values with the out-of-place reference. `primary` names the input whose storage
an aliasing result would share (the tensor an in-place op writes into).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

Inputs = dict[str, torch.Tensor]
ROWS_REQUIRED = 100  # inputs are ROWS_REQUIRED x (numel / ROWS_REQUIRED), so transposes are real
Oracle = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Variant:
    family: str  # the op or idea compared, e.g. "relu", "add", "reshape"
    name: str  # how it is done: out_of_place, in_place, out_param, view, clone, ...
    code: str  # the expression, for the report
    run: Callable[[Inputs], torch.Tensor]
    primary: str = "x"
    expected: Oracle | None = None
    fresh_input: bool = True  # a fresh copy of the input before every timed call (see measure)

    @property
    def key(self) -> str:
        return f"{self.family}/{self.name}"


def _add_out(t: Inputs) -> torch.Tensor:
    return torch.add(t["x"], t["y"], out=t["y"])


def _slice_assign(t: Inputs) -> torch.Tensor:
    t["y"][:] = t["x"] + t["y"]
    return t["y"]


def _augmented_add(t: Inputs) -> torch.Tensor:
    y = t["y"]
    y += t["x"]
    return y


def _augmented_mul(t: Inputs) -> torch.Tensor:
    y = t["y"]
    y *= t["x"]
    return y


INPLACE_VARIANTS: tuple[Variant, ...] = (
    Variant("relu", "out_of_place", "torch.relu(x)", lambda t: torch.relu(t["x"])),
    Variant("relu", "in_place", "x.relu_()", lambda t: t["x"].relu_()),
    Variant("add", "out_of_place", "y = x + y", lambda t: t["x"] + t["y"], "y"),
    Variant("add", "in_place", "y.add_(x)", lambda t: t["y"].add_(t["x"]), "y"),
    Variant("add", "augmented", "y += x", _augmented_add, "y"),
    Variant("add", "out_param", "torch.add(x, y, out=y)", _add_out, "y"),
    Variant("add", "slice_assign", "y[:] = x + y", _slice_assign, "y"),
    Variant("mul", "out_of_place", "y = x * y", lambda t: t["x"] * t["y"], "y"),
    Variant("mul", "in_place", "y.mul_(x)", lambda t: t["y"].mul_(t["x"]), "y"),
    Variant("mul", "augmented", "y *= x", _augmented_mul, "y"),
    Variant("sigmoid", "out_of_place", "torch.sigmoid(x)", lambda t: torch.sigmoid(t["x"])),
    Variant("sigmoid", "in_place", "x.sigmoid_()", lambda t: t["x"].sigmoid_()),
    Variant("clamp", "out_of_place", "x.clamp(-0.5, 0.5)", lambda t: t["x"].clamp(-0.5, 0.5)),
    Variant("clamp", "in_place", "x.clamp_(-0.5, 0.5)", lambda t: t["x"].clamp_(-0.5, 0.5)),
)


# Inputs are 2-D (rows x cols, contiguous). Each view variant carries a NumPy oracle for its
# values, an implementation nobody here wrote, so a wrong view or copy cannot pass unnoticed.
def _v(
    family: str, name: str, code: str, run: Callable[[Inputs], torch.Tensor], expected: Oracle
) -> Variant:
    return Variant(family, name, code, run, expected=expected, fresh_input=False)


VIEW_VARIANTS: tuple[Variant, ...] = (
    _v("view", "view", "x.view(-1)", lambda t: t["x"].view(-1), lambda a: a["x"].reshape(-1)),
    _v("view", "clone", "x.clone()", lambda t: t["x"].clone(), lambda a: a["x"].copy()),
    _v(
        "view",
        "clone_view",
        "x.clone().view(-1)",
        lambda t: t["x"].clone().view(-1),
        lambda a: a["x"].reshape(-1),
    ),
    _v(
        "reshape",
        "reshape_view",
        "x.reshape(-1)",
        lambda t: t["x"].reshape(-1),
        lambda a: a["x"].reshape(-1),
    ),
    _v(
        "reshape",
        "reshape_copy",
        "x.t().reshape(-1)",
        lambda t: t["x"].t().reshape(-1),
        lambda a: a["x"].T.reshape(-1),
    ),
    _v(
        "contiguous",
        "contiguous_noop",
        "x.contiguous()",
        lambda t: t["x"].contiguous(),
        lambda a: a["x"],
    ),
    _v(
        "contiguous",
        "contiguous_copy",
        "x.t().contiguous()",
        lambda t: t["x"].t().contiguous(),
        lambda a: np.ascontiguousarray(a["x"].T),
    ),
    _v("slice", "slice", "x[1:]", lambda t: t["x"][1:], lambda a: a["x"][1:]),
    _v(
        "slice",
        "narrow",
        "x.narrow(1, 0, cols // 2)",
        lambda t: t["x"].narrow(1, 0, t["x"].shape[1] // 2),
        lambda a: a["x"][:, : a["x"].shape[1] // 2],
    ),
    _v(
        "slice",
        "slice_clone",
        "x[1:].clone()",
        lambda t: t["x"][1:].clone(),
        lambda a: a["x"][1:].copy(),
    ),
    _v(
        "expand",
        "expand",
        "x[0].expand(rows, cols)",
        lambda t: t["x"][0].expand(t["x"].shape),
        lambda a: np.broadcast_to(a["x"][0], a["x"].shape),
    ),
    _v(
        "expand",
        "repeat",
        "x[0].repeat(rows, 1)",
        lambda t: t["x"][0].repeat(t["x"].shape[0], 1),
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


def reference(variant: Variant, inputs: Inputs) -> torch.Tensor:
    """The value a variant must produce, computed before it runs, on copies of its inputs.

    In-place families are checked against their out-of-place variant (torch); view variants
    against their NumPy oracle (on float32 copies: views and copies move values exactly).
    """
    if variant.expected is not None:
        arrays = {name: t.detach().cpu().float().numpy() for name, t in inputs.items()}
        return torch.from_numpy(np.array(variant.expected(arrays)))
    (baseline,) = (v for v in CATALOG_BY_KEY.values() if v.key == f"{variant.family}/out_of_place")
    copies = {name: tensor.detach().clone() for name, tensor in inputs.items()}
    return baseline.run(copies).clone()


def matches(output: torch.Tensor, expected: torch.Tensor) -> bool:
    """Exact equality of values and shape (no tolerance: these ops are deterministic)."""
    return tuple(output.shape) == tuple(expected.shape) and torch.equal(
        output.detach().cpu().to(expected.dtype), expected
    )
