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


def torchvision_model(builder: str, **kwargs: Any) -> nn.Module:
    """`torchvision.models.get_model_builder(builder)(weights=None, [weights_backbone=None],
    **kwargs)`; kwargs may not name weights (they would download)."""
    named = sorted(set(kwargs) & set(NO_DOWNLOAD))
    if named:
        raise ValueError(f"{named[0]!r} is set to None by this adapter; nothing is downloaded")
    try:
        build = torchvision.models.get_model_builder(builder)
    except ValueError:
        raise ValueError(
            f"torchvision has no model {builder!r}; torchvision.models.list_models() lists them"
        ) from None
    return build(**random_weight_kwargs(build, kwargs))
