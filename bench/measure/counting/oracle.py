"""torchvision's weight metadata as an oracle: which models carry published counts, and the
builder arguments of their pretrained configuration.

torchvision's `_ops` (GMACs at the weights' crop size) and `num_params` describe the model as
built *with* weights, and its builders change some arguments when given weights (their
`_ovewrite_named_param` calls). Building with `weights=None` and the same arguments gives the
same architecture without downloading anything.
"""

from __future__ import annotations

from typing import Any

# googlenet builds with aux heads to load the checkpoint, then drops them unless asked (so its
# num_params has none); inception_v3 keeps its aux head (its num_params includes it).
PRETRAINED_ARGUMENTS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "transform_input": True, "init_weights": False},
    "inception_v3": {"aux_logits": True, "transform_input": True, "init_weights": False},
}


def default_weights(name: str) -> Any:
    from torchvision.models import get_model_weights

    return get_model_weights(name).DEFAULT


def oracle_models() -> list[str]:
    """Every classification builder whose default weights publish `_ops` and `num_params`."""
    import torchvision
    from torchvision.models import list_models

    names = []
    for name in list_models(module=torchvision.models):
        meta = default_weights(name).meta
        if "_ops" in meta and "num_params" in meta:
            names.append(name)
    return names


def builder_arguments(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments torchvision's builder uses with these weights."""
    kwargs: dict[str, Any] = {"num_classes": len(meta["categories"])}
    kwargs.update(PRETRAINED_ARGUMENTS.get(name, {}))
    if name.startswith("vit_"):  # ViT builders size the position embedding to the weights
        kwargs["image_size"] = meta["min_size"][0]
    if name.startswith("maxvit"):
        kwargs["input_size"] = meta["min_size"]
    return kwargs


def crop_size(name: str) -> int:
    """The square input side the weights were evaluated at (their `_ops` is at this size)."""
    return int(default_weights(name).transforms().crop_size[0])


def quantized_oracle_models() -> list[str]:
    """Every quantized classification builder (`quantized_resnet18`, ...) whose default weights
    publish `_ops` and `num_params`.

    For these, torchvision states the *float* model's figures: `_ops` and `num_params` equal
    those of the weights' `unquantized` counterpart (torchvision's own tests compare
    `num_params` with the unquantized weights', since `parameters()` cannot see packed weights),
    for the model as built to load the checkpoint (inception_v3 with its aux head).
    """
    import torchvision.models.quantization
    from torchvision.models import list_models

    names = []
    for name in list_models(module=torchvision.models.quantization):
        meta = default_weights(name).meta
        if "_ops" in meta and "num_params" in meta:
            names.append(name)
    return names


def quantized_builder_arguments(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The quantized builder's arguments for these weights: the float model's pretrained
    arguments, `quantize=True`, and the weights' backend (fbgemm or qnnpack) where this torch
    has it. The builder sets torch's process-wide quantized engine to that backend."""
    import torch

    kwargs = builder_arguments(name.removeprefix("quantized_"), meta)
    kwargs["quantize"] = True
    if meta.get("backend") in torch.backends.quantized.supported_engines:
        kwargs["backend"] = meta["backend"]
    return kwargs
