"""The torch code of every catalog variant, by its key (`family/name`).

The catalog (bench.experiments.catalog) names each variant and shows its code; this is that
code, written once as small functions: each is the expression the catalog's `code` shows, so a
row's timing is the cost of exactly that expression. A catalog variant finds its function here
on its first run; nothing else imports this module, so nothing else imports torch for it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Inputs = dict[str, torch.Tensor]  # the catalog's `Inputs`: the prepared tensors, by name


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


KERNELS: dict[str, Callable[[Inputs], torch.Tensor]] = {
    "relu/out_of_place": lambda t: torch.relu(t["x"]),
    "relu/in_place": lambda t: t["x"].relu_(),
    "add/out_of_place": lambda t: t["x"] + t["y"],
    "add/in_place": lambda t: t["y"].add_(t["x"]),
    "add/augmented": _augmented_add,
    "add/out_param": _add_out,
    "add/slice_assign": _slice_assign,
    "mul/out_of_place": lambda t: t["x"] * t["y"],
    "mul/in_place": lambda t: t["y"].mul_(t["x"]),
    "mul/augmented": _augmented_mul,
    "sigmoid/out_of_place": lambda t: torch.sigmoid(t["x"]),
    "sigmoid/in_place": lambda t: t["x"].sigmoid_(),
    "clamp/out_of_place": lambda t: t["x"].clamp(-0.5, 0.5),
    "clamp/in_place": lambda t: t["x"].clamp_(-0.5, 0.5),
    "view/view": lambda t: t["x"].view(-1),
    "view/clone": lambda t: t["x"].clone(),
    "view/clone_view": lambda t: t["x"].clone().view(-1),
    "reshape/reshape_view": lambda t: t["x"].reshape(-1),
    "reshape/reshape_copy": lambda t: t["x"].t().reshape(-1),
    "contiguous/contiguous_noop": lambda t: t["x"].contiguous(),
    "contiguous/contiguous_copy": lambda t: t["x"].t().contiguous(),
    "slice/slice": lambda t: t["x"][1:],
    "slice/narrow": lambda t: t["x"].narrow(1, 0, t["x"].shape[1] // 2),
    "slice/slice_clone": lambda t: t["x"][1:].clone(),
    "expand/expand": lambda t: t["x"][0].expand(t["x"].shape),
    "expand/repeat": lambda t: t["x"][0].repeat(t["x"].shape[0], 1),
}
