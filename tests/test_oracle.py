"""The oracle nobody here wrote: torchvision's weight metadata, for every classification model.

For each classification builder whose default weights carry `_ops` (GMACs at the weights' crop
size) and `num_params`, build the model with the pretrained configuration's arguments on the
meta device (no weights, no compute) and require exact parameter counts and MACs that round to
`_ops` at three decimals. The model list comes from torchvision at test time, so a new model
in a new torchvision is checked without anyone adding it here.
"""

from __future__ import annotations

import pytest
import torch
from torchvision.models import get_model_builder

from bench.measure.counting.meta import META, build_on_meta
from bench.measure.counting.ops import count_ops, count_params
from bench.measure.counting.oracle import (
    builder_arguments,
    crop_size,
    default_weights,
    oracle_models,
)

# Models that genuinely cannot match, with the reason. None in torchvision 0.29.1.
CANNOT_MATCH: dict[str, str] = {}

ORACLE_MODELS = oracle_models()


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
    meta = default_weights(name).meta
    crop = crop_size(name)
    model = build_on_meta(get_model_builder(name), builder_arguments(name, meta)).eval()
    total, trainable = count_params(model)
    assert total == trainable == meta["num_params"]
    with torch.inference_mode():
        counted = count_ops(lambda: model(torch.empty(1, 3, crop, crop, device=META)))
    assert round(counted.macs / 1e9, 3) == meta["_ops"]
