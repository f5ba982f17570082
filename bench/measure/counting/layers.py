"""The per-layer table (torchinfo): layer, output shape, parameters, trainable.

torchinfo's parameter counts are exact (shared modules once, frozen ones reflected); its
mult-add estimates are not (Linear on 3-D input, transposed convs), so the table carries no MACs.
Built on the meta model when there is one, so the forward pass it needs costs nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from bench.model.inputs import ModelInput
from bench.records.counts import LayerRow

LAYER_DEPTH = 3  # torchinfo's default: deep enough to see blocks, short enough to read


def layer_table(model: nn.Module, example: ModelInput | torch.Tensor) -> tuple[LayerRow, ...]:
    """One row per module down to LAYER_DEPTH; raises if torchinfo cannot run the model."""
    import torchinfo

    example = ModelInput.of(example)

    # Keyword-only inputs go in as input_data (torchinfo calls `model(**input_data)`): passed as
    # summary's own keyword arguments, an input named like one of its parameters (`x`, `mode`)
    # collided with them
    keyword_only = not example.args and bool(example.kwargs)
    with _sizes_outside_dispatch_modes(), _forward_pass_not_cached():
        stats = torchinfo.summary(
            model,
            input_data=dict(example.kwargs) if keyword_only else list(example.args),
            depth=LAYER_DEPTH,
            # None: torchinfo leaves model and input where they are, as given. A device made it
            # `model.to(device)` every parameter (a no-op move, 2,000 dispatched ops for four small
            # CNNs, beside their 550 real ones)
            device=None,
            verbose=0,
            col_names=("output_size", "num_params", "trainable"),
            **({} if keyword_only else example.kwargs),  # passed on to forward
        )
    rows = []
    for info in stats.summary_list:
        if info.depth > LAYER_DEPTH:
            continue
        shape = _shape_text(info.output_size)
        rows.append(
            LayerRow(
                depth=info.depth,
                layer=info.get_layer_name(show_var_name=True, show_depth=True),
                output_shape=shape,
                params=int(info.num_params),
                trainable=str(info.trainable),
            )
        )
    return tuple(rows)


def _shape_text(size: object) -> str:
    """`1x64x56x56`; a module with several outputs gets them comma-separated."""
    if not isinstance(size, (list, tuple)) or not size:
        return ""
    if all(isinstance(d, int) for d in size):
        return "x".join(str(d) for d in size)
    return ", ".join(_shape_text(part) for part in size)


@contextlib.contextmanager
def _forward_pass_not_cached() -> Iterator[None]:
    """torchinfo keeps every summary's layer list in a module-level dict keyed by the model's
    class name, whatever `cache_forward_pass` says, and each entry holds the modules: a measured
    model stayed alive (with its weights) until another model of its class name was summarised.
    The cache is emptied after each table; a torchinfo without it has nothing to empty."""
    try:
        yield
    finally:
        from torchinfo import torchinfo as module

        cache = getattr(module, "_cached_forward_pass", None)
        if isinstance(cache, dict):
            cache.clear()


@contextlib.contextmanager
def _sizes_outside_dispatch_modes() -> Iterator[None]:
    """torchinfo's forward hooks read each module's input and output sizes through
    `tensor.data`: four detaches a module, each dispatched through every active mode. Counted
    (the FLOP counter's modes are active when the table and the count share one forward), that
    was 2,636 dispatched ops for four small CNNs against their 550 real ones, about 23 ms a
    model. Its size reader runs with the modes set aside; it reads shapes only. Where either
    library has moved the names this relies on, the table is made as before, just slower."""
    try:
        from torch.utils._python_dispatch import _disable_current_modes
        from torchinfo.layer_info import LayerInfo

        original = LayerInfo.__dict__["calculate_size"]
        reader = original.__func__
    except (ImportError, KeyError, AttributeError):
        yield
        return

    def outside_modes(*args: Any, **kwargs: Any) -> Any:
        with _disable_current_modes():
            return reader(*args, **kwargs)

    LayerInfo.calculate_size = staticmethod(outside_modes)
    try:
        yield
    finally:
        LayerInfo.calculate_size = original
