"""The oracle beyond classification: segmentation, video, optical flow and detection.

Every builder torchvision lists in each family, with every distinct published figure among its
weights, must give exactly `num_params` and MACs that round to `_ops` at three decimals. The
list comes from torchvision at test time, so a new model is checked without anyone adding it.
Segmentation, video and optical flow count on the meta device (no compute); detection cannot
(its post-processing keeps what scores above a threshold: `nonzero`, NMS), so it counts one
real forward per model under inference mode, with seeded weights and a seeded image.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torchvision.models import get_model_builder

from bench.measure.counting.meta import META, build_on_meta
from bench.measure.counting.ops import count_ops, count_params
from bench.model import INPUT_SEED
from bench.model.factory import WEIGHT_SEED
from tests.oracle import (
    FAMILIES,
    OracleConfig,
    data_dependent_reason,
    example_inputs,
    family_builder_arguments,
    family_configurations,
    pretrained_architecture,
)

CONFIGS: list[OracleConfig] = [c for family in FAMILIES for c in family_configurations(family)]
# Families whose forward runs on meta; the others need real tensors.
ON_META = {"segmentation", "video", "optical_flow"}


def _param(config: OracleConfig, checks_macs: bool) -> object:
    reason = data_dependent_reason(config.name)
    if checks_macs and reason is not None:  # excluded, with the reason, as CANNOT_MATCH is
        return pytest.param(config, id=config.id, marks=pytest.mark.skip(f"cannot match: {reason}"))
    if checks_macs and config.family not in ON_META:  # a real forward at 800x800
        return pytest.param(config, id=config.id, marks=pytest.mark.slow)
    return pytest.param(config, id=config.id)


def _build(config: OracleConfig, on_meta: bool) -> torch.nn.Module:
    factory = get_model_builder(config.name)
    kwargs = family_builder_arguments(config.name, config.meta)
    if on_meta:
        model = build_on_meta(factory, kwargs)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(WEIGHT_SEED)
            model = factory(**kwargs)
    return pretrained_architecture(config.name, model).eval()


def _seeded(generator: torch.Generator) -> Callable[[tuple[int, ...]], torch.Tensor]:
    def make(shape: tuple[int, ...]) -> torch.Tensor:
        return torch.rand(*shape, generator=generator)

    return make


def _empty(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.empty(*shape, device=META)


def test_the_oracle_covers_every_family() -> None:
    """Discovery found each family whole (torchvision 0.29: 6 segmentation, 9 video, 2 optical
    flow and 13 detection figures, 8 of them R-CNNs)."""
    found = {f: {c.name for c in CONFIGS if c.family == f} for f in FAMILIES}
    assert {"fcn_resnet50", "deeplabv3_resnet101", "lraspp_mobilenet_v3_large"} <= found[
        "segmentation"
    ]
    assert {"r3d_18", "mvit_v2_s", "s3d", "swin3d_b"} <= found["video"]
    assert {"raft_small", "raft_large"} <= found["optical_flow"]
    assert {"retinanet_resnet50_fpn", "fcos_resnet50_fpn", "ssd300_vgg16"} <= found["detection"]
    assert len(CONFIGS) >= 30
    # both swin3d_b weights publish one figure, so they are one check naming both
    assert any(c.name == "swin3d_b" and len(c.weights) == 2 for c in CONFIGS)


def test_only_the_rcnn_family_is_data_dependent() -> None:
    dependent = {c.name for c in CONFIGS if data_dependent_reason(c.name) is not None}
    assert {"fasterrcnn_resnet50_fpn", "maskrcnn_resnet50_fpn", "keypointrcnn_resnet50_fpn"} <= (
        dependent
    )
    assert all("rcnn" in name for name in dependent)
    for name in ["retinanet_resnet50_fpn", "fcos_resnet50_fpn", "ssdlite320_mobilenet_v3_large"]:
        assert data_dependent_reason(name) is None


@pytest.mark.parametrize("config", [_param(c, checks_macs=False) for c in CONFIGS])
def test_params_match_torchvision_metadata(config: OracleConfig) -> None:
    """Parameters depend on the architecture only, so every configuration is checked, R-CNNs
    included, on meta."""
    total, _ = count_params(_build(config, on_meta=True))
    assert total == config.meta["num_params"]


@pytest.mark.parametrize("config", [_param(c, checks_macs=True) for c in CONFIGS])
def test_macs_match_torchvision_metadata(config: OracleConfig) -> None:
    on_meta = config.family in ON_META
    model = _build(config, on_meta)
    generator = torch.Generator().manual_seed(INPUT_SEED)
    inputs = example_inputs(config, model, _empty if on_meta else _seeded(generator))
    with torch.inference_mode():
        counted = count_ops(lambda: model(*inputs))
    assert round(counted.macs / 1e9, 3) == config.meta["_ops"]


def test_rcnn_figures_count_the_heads_on_the_boxes_that_survived() -> None:
    """Why an R-CNN cannot match: torchvision counted fasterrcnn_mobilenet_v3_large_320_fpn with
    trained weights that put no proposal over the RPN's 0.05 score threshold, so its `_ops` is
    the convolutions alone; seeded random weights score every anchor near 0.5, and the box head
    runs on all 150 proposals."""
    config = next(c for c in CONFIGS if c.name == "fasterrcnn_mobilenet_v3_large_320_fpn")
    model = _build(config, on_meta=False)
    generator = torch.Generator().manual_seed(INPUT_SEED)
    inputs = example_inputs(config, model, _seeded(generator))
    with torch.inference_mode():
        counted = count_ops(lambda: model(*inputs))
    assert round(counted.macs_by_op["aten.convolution"] / 1e9, 3) == config.meta["_ops"]
    classes = len(config.meta["categories"])  # TwoMLPHead, then class scores and boxes
    box_head = 150 * (256 * 7 * 7 * 1024 + 1024 * 1024 + 1024 * classes + 1024 * classes * 4)
    assert counted.macs_by_op["aten.addmm"] == box_head
    assert round(counted.macs / 1e9, 3) != config.meta["_ops"]
