"""The oracle nobody here wrote: torchvision's weight metadata, for every classification model.

For each classification builder whose default weights carry `_ops` (GMACs at the weights' crop
size) and `num_params`, build the model with the pretrained configuration's arguments on the
meta device (no weights, no compute) and require exact parameter counts and MACs that round to
`_ops` at three decimals. The model list comes from torchvision at test time, so a new model
in a new torchvision is checked without anyone adding it here.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torchvision
from torchvision.models import get_model_builder, get_model_weights, list_models

from bench.counting import count_ops, count_params
from bench.meta_build import META, build_on_meta

# What torchvision's builders do to their arguments when given weights (their
# `_ovewrite_named_param` calls), beyond num_classes: googlenet builds with aux heads to load
# the checkpoint, then drops them unless asked (so its num_params has none), while
# inception_v3 keeps its aux head (its num_params includes it).
PRETRAINED_ARGUMENTS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "transform_input": True, "init_weights": False},
    "inception_v3": {"aux_logits": True, "transform_input": True, "init_weights": False},
}

# Models that genuinely cannot match, with the reason. None in torchvision 0.29.1.
CANNOT_MATCH: dict[str, str] = {}


def _weights(name: str) -> Any:
    return get_model_weights(name).DEFAULT


def _oracle_models() -> list[str]:
    names = []
    for name in list_models(module=torchvision.models):
        meta = _weights(name).meta
        if "_ops" in meta and "num_params" in meta:
            names.append(name)
    return names


def _builder_arguments(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"num_classes": len(meta["categories"])}
    kwargs.update(PRETRAINED_ARGUMENTS.get(name, {}))
    if name.startswith("vit_"):  # ViT builders size the position embedding to the weights
        kwargs["image_size"] = meta["min_size"][0]
    if name.startswith("maxvit"):
        kwargs["input_size"] = meta["min_size"]
    return kwargs


ORACLE_MODELS = _oracle_models()


def test_the_oracle_covers_torchvision_classification() -> None:
    """The discovery found the whole zoo, not a handful (80 builders in torchvision 0.29)."""
    assert len(ORACLE_MODELS) >= 70
    assert {"resnet50", "vit_b_16", "regnet_y_128gf", "vit_h_14", "googlenet"} <= set(ORACLE_MODELS)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=CANNOT_MATCH[n]))
        if n in CANNOT_MATCH
        else n
        for n in ORACLE_MODELS
    ],
)
def test_counts_match_torchvision_metadata(name: str) -> None:
    weights = _weights(name)
    meta = weights.meta
    crop = weights.transforms().crop_size[0]
    model = build_on_meta(get_model_builder(name), _builder_arguments(name, meta)).eval()
    total, trainable = count_params(model)
    assert total == trainable == meta["num_params"]
    with torch.inference_mode():
        counted = count_ops(lambda: model(torch.empty(1, 3, crop, crop, device=META)))
    assert round(counted.macs / 1e9, 3) == meta["_ops"]
