"""Build a model on the `meta` device, where tensors have shapes and dtypes but no data.

Counting on meta costs no compute and no memory, so counting vit_h_14 or regnet_y_128gf takes
a fraction of a second. Two ways, tried in order:

1. `with torch.device("meta")`: every factory call in the builder makes meta tensors. Fails for
   builders that compute with tensors and read the result back (regnet computes its stage widths
   with `torch` ops and `.tolist()`s them: "Cannot copy out of meta tensor").
2. Build with ordinary tensors, but move each parameter and buffer to meta the moment a module
   registers it (the `init_empty_weights` trick from Hugging Face accelerate). Weight
   initialisation then runs on meta and costs nothing; other tensor arithmetic is real.

Callers fall back to the real model when neither works or the forward fails on meta (a model
that reads data, e.g. `.item()` for control flow), and record which one was counted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

META = torch.device("meta")


@contextlib.contextmanager
def _register_on_meta() -> Iterator[None]:
    """Patch `nn.Module.register_parameter/register_buffer` to move tensors to meta."""
    original_parameter = nn.Module.register_parameter
    original_buffer = nn.Module.register_buffer

    def register_parameter(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        original_parameter(module, name, param)
        if param is not None:
            kwargs = dict(param.__dict__)
            moved = type(param)(param.to(META), requires_grad=param.requires_grad)
            moved.__dict__.update(kwargs)
            module._parameters[name] = moved

    def register_buffer(
        module: nn.Module, name: str, tensor: torch.Tensor | None, persistent: bool = True
    ) -> None:
        original_buffer(module, name, tensor, persistent)
        if tensor is not None:
            module._buffers[name] = tensor.to(META)

    nn.Module.register_parameter = register_parameter  # type: ignore[method-assign]
    nn.Module.register_buffer = register_buffer  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = original_parameter  # type: ignore[method-assign]
        nn.Module.register_buffer = original_buffer  # type: ignore[method-assign]


def build_on_meta(factory: Callable[..., Any], kwargs: dict[str, Any]) -> nn.Module:
    """The factory's model with every parameter and buffer on meta; raises if it cannot be."""
    try:
        with META:
            model = factory(**kwargs)
    except Exception:  # builders that read tensor values back: try the registration route
        with _register_on_meta():
            model = factory(**kwargs)
    if not isinstance(model, nn.Module):
        raise TypeError(f"factory returned {type(model).__name__}, not a torch.nn.Module")
    stray = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if not t.is_meta]
    if stray:
        raise RuntimeError(f"tensors not on meta after building: {', '.join(stray[:3])}")
    return model
