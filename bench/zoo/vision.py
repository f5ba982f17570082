"""Any torchvision builder, guaranteed random: `weights=None` and, where the builder has one,
`weights_backbone=None`.

A suite cannot write None (TOML has no null), and several builders default to downloading a
pretrained backbone (keypointrcnn_resnet50_fpn, fasterrcnn_*, deeplabv3_*, fcn_*: ImageNet
weights for the backbone even when `weights` is None). This adapter makes "nothing is ever
downloaded" hold for every torchvision model a suite names.

Detection models (`torchvision.models.detection`) take a list of images; their transform
iterates over its input, so the harness's `[N, 3, H, W]` batch reaches them as N images, and
their output (a list of dicts of tensors) is a valid output. They run in `eval` only: training
needs targets.
"""

from __future__ import annotations

from typing import Any

import torchvision
from torch import nn

from bench.model.downloads import NO_DOWNLOAD, random_weight_kwargs


def torchvision_model(builder: str, frozen_batchnorm: bool = False, **kwargs: Any) -> nn.Module:
    """`torchvision.models.get_model_builder(builder)(weights=None, [weights_backbone=None],
    **kwargs)`; kwargs may not name weights (they would download).

    `frozen_batchnorm=True` builds the layout torchvision's pretrained detection models have:
    given weights, their builders use FrozenBatchNorm2d (statistics and affine as buffers) in
    the backbone (`model.backbone`; the whole model where there is none); without weights,
    trainable BatchNorm2d. retinanet_resnet50_fpn then counts
    the weights metadata's 34,014,999 parameters instead of 34,068,119 (ResNet-50's 53,120
    BatchNorm affine parameters become buffers); the MACs are the same either way.
    """
    named = sorted(set(kwargs) & set(NO_DOWNLOAD))
    if named:
        raise ValueError(f"{named[0]!r} is set to None by this adapter; nothing is downloaded")
    try:
        build = torchvision.models.get_model_builder(builder)
    except ValueError:
        raise ValueError(
            f"torchvision has no model {builder!r}; torchvision.models.list_models() lists them"
        ) from None
    model = build(**random_weight_kwargs(build, kwargs))
    if frozen_batchnorm:
        freeze_batchnorm(getattr(model, "backbone", model))
    return model


def _check_torchvision_kwargs(kwargs: dict[str, Any]) -> None:
    """What a suite's check can say before any model is built: the builder exists and no
    kwarg names weights. (The builder's own keyword arguments go on to the model class.)"""
    named = sorted(set(kwargs) & set(NO_DOWNLOAD))
    if named:
        raise ValueError(f"{named[0]!r} is set to None by this adapter; nothing is downloaded")
    builder = kwargs.get("builder")
    if not isinstance(builder, str):
        raise ValueError("needs builder = a torchvision model name, e.g. 'resnet18'")
    try:
        torchvision.models.get_model_builder(builder)
    except ValueError:
        raise ValueError(
            f"torchvision has no model {builder!r}; torchvision.models.list_models() lists them"
        ) from None


torchvision_model.check_kwargs = _check_torchvision_kwargs  # type: ignore[attr-defined]


def freeze_batchnorm(module: nn.Module) -> None:
    """Replace every BatchNorm2d (affine, with running statistics) under `module` by a
    FrozenBatchNorm2d holding the same numbers, on the same device (meta included), as
    torchvision's detection builders do to the backbone when given weights."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.BatchNorm2d and child.affine and child.track_running_stats:
                frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
                frozen = frozen.to(child.weight.device)
                if not child.weight.is_meta:
                    frozen.weight.copy_(child.weight.detach())
                    frozen.bias.copy_(child.bias.detach())
                    frozen.running_mean.copy_(child.running_mean)
                    frozen.running_var.copy_(child.running_var)
                setattr(parent, name, frozen)
