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
from torch import nn
from torchvision.models import get_model_builder

from bench.measure.counting.meta import META, build_on_meta
from bench.measure.counting.ops import count_ops, count_params
from bench.measure.counting.quantized import (
    incomplete_quantized_ops,
    packed_weights,
    weight_dtypes,
)
from tests.oracle import (
    builder_arguments,
    crop_size,
    default_weights,
    oracle_models,
    quantized_builder_arguments,
    quantized_oracle_models,
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


# Quantized builders: torchvision's `_ops` and `num_params` for them are the float model's (see
# quantized_oracle_models). Building quantizes for real (a calibration forward, then packing),
# so the big ones are slow.
QUANTIZED_MODELS = quantized_oracle_models()
SLOW_QUANTIZED = {"quantized_resnext101_32x8d", "quantized_resnext101_64x4d"}


def test_the_quantized_oracle_covers_torchvision_quantization() -> None:
    assert len(QUANTIZED_MODELS) >= 10  # 12 builders in torchvision 0.29
    wanted = {"quantized_resnet18", "quantized_mobilenet_v3_large", "quantized_inception_v3"}
    assert wanted <= set(QUANTIZED_MODELS)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.slow) if n in SLOW_QUANTIZED else n
        for n in QUANTIZED_MODELS
    ],
)
@pytest.mark.usefixtures("restore_quantized_engine")
def test_quantized_counts_match_torchvision_metadata(name: str) -> None:
    """The int8 model's MACs equal its float model's exactly and round to `_ops`; its params,
    read from the packed weights, are `num_params` less what folding batch norm into the
    convolutions removed (a BN's weight and bias, 2C, become the bias-free conv's bias, C)."""
    meta = default_weights(name).meta
    crop = crop_size(name)
    kwargs = quantized_builder_arguments(name, meta)
    builder = get_model_builder(name)
    float_model = build_on_meta(builder, {**kwargs, "quantize": False}).eval()
    assert count_params(float_model)[0] == meta["num_params"]
    folded = sum(m.num_features for m in float_model.modules() if isinstance(m, nn.BatchNorm2d))
    with torch.inference_mode():
        float_macs = count_ops(lambda: float_model(torch.empty(1, 3, crop, crop, device=META))).macs

    torch.manual_seed(0)
    model = builder(**kwargs).eval()
    assert packed_weights(model), "the quantized build holds no packed weights"
    assert count_params(model) == (meta["num_params"] - folded, 0)
    assert weight_dtypes(model, packed_weights(model)).startswith("qint8")
    with torch.inference_mode():
        counted = count_ops(lambda: model(torch.rand(1, 3, crop, crop)))
    assert incomplete_quantized_ops(counted.uncounted_ops) == []
    assert counted.macs == float_macs
    assert round(counted.macs / 1e9, 3) == meta["_ops"]
