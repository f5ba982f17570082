"""Counts against exact hand values and against torchvision's own weight metadata."""

import pytest
import torch
import torchvision
from torch import nn

from bench import zoo
from bench.counting import count_macs, count_params


def forward(model: nn.Module, example: torch.Tensor) -> int:
    """MACs of one inference forward pass."""
    with torch.inference_mode():
        return count_macs(lambda: model(example))


def test_linear_params_exact() -> None:
    assert count_params(nn.Linear(10, 5)) == (55, 55)


def test_frozen_layers_are_not_trainable() -> None:
    model = nn.Sequential(nn.Linear(10, 5), nn.Linear(5, 2))
    for parameter in model[0].parameters():
        parameter.requires_grad_(False)
    assert count_params(model) == (55 + 12, 12)


def test_shared_parameters_count_once() -> None:
    layer = nn.Linear(4, 4)
    assert count_params(nn.Sequential(layer, layer)) == (20, 20)


class MatMul(nn.Module):
    def __init__(self, k: int, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(k, n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight


def test_matmul_macs_are_m_n_k() -> None:
    m, k, n = 7, 11, 13
    macs = forward(MatMul(k, n), torch.randn(m, k))
    assert macs == m * n * k  # FLOPs = 2 * M * N * K


def test_linear_macs_scale_with_batch() -> None:
    assert forward(nn.Linear(10, 5), torch.randn(8, 10)) == 8 * 10 * 5


# (builder, weights enum, builder kwargs of the pretrained configuration)
ORACLE = [
    ("resnet18", "ResNet18_Weights", {}),
    ("resnet50", "ResNet50_Weights", {}),
    ("mobilenet_v3_small", "MobileNet_V3_Small_Weights", {}),
    ("squeezenet1_1", "SqueezeNet1_1_Weights", {}),
    ("googlenet", "GoogLeNet_Weights", {"aux_logits": False, "init_weights": False}),
]


@pytest.mark.parametrize(("builder", "weights", "kwargs"), ORACLE, ids=[o[0] for o in ORACLE])
def test_counts_match_torchvision_metadata(builder: str, weights: str, kwargs: dict) -> None:
    meta = getattr(torchvision.models, weights).IMAGENET1K_V1.meta
    crop = getattr(torchvision.models, weights).IMAGENET1K_V1.transforms().crop_size[0]
    model = getattr(torchvision.models, builder)(weights=None, **kwargs).eval()
    total, trainable = count_params(model)
    assert total == trainable == meta["num_params"]
    macs = forward(model, torch.randn(1, 3, crop, crop))
    assert round(macs / 1e9, 3) == meta["_ops"]


def test_resnet18_is_exactly_the_issue_figure() -> None:
    model = torchvision.models.resnet18(weights=None).eval()
    assert count_params(model) == (11_689_512, 11_689_512)
    assert round(forward(model, torch.randn(1, 3, 224, 224)) / 1e9, 3) == 1.814


def test_zoo_resnet_matches_torchvision_layout() -> None:
    for depth, builder in ((18, "resnet18"), (50, "resnet50")):
        ours = zoo.resnet(depth=depth)
        theirs = getattr(torchvision.models, builder)(weights=None)
        assert count_params(ours) == count_params(theirs)


def test_training_step_counts_forward_and_backward() -> None:
    """Backward of a linear layer is two matmuls (input and weight gradients): 3x the forward."""
    layer = nn.Linear(10, 5, bias=False)
    x = torch.randn(8, 10, requires_grad=True)
    assert count_macs(lambda: layer(x).sum().backward()) == 3 * 8 * 10 * 5
