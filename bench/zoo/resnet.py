"""ResNet basic and bottleneck blocks (ResNet-18 to 152).

`resnet(depth=18)` matches torchvision's resnet18 layer for layer (same parameter count), which
lets tests check the zoo against an oracle nobody here wrote.
"""

from __future__ import annotations

import torch
from torch import nn

STAGES = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int, inplace: bool) -> None:
        super().__init__()
        cout = width * self.expansion
        self.body = self._body(cin, width, stride, inplace)
        self.shortcut = (
            nn.Sequential(*_conv_bn(cin, cout, 1, stride))
            if stride != 1 or cin != cout
            else nn.Identity()
        )
        self.relu = nn.ReLU(inplace=inplace)

    @classmethod
    def _body(cls, cin: int, width: int, stride: int, inplace: bool) -> nn.Sequential:
        return nn.Sequential(
            *_conv_bn(cin, width, 3, stride), nn.ReLU(inplace=inplace), *_conv_bn(width, width, 3)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(BasicBlock):
    expansion = 4

    @classmethod
    def _body(cls, cin: int, width: int, stride: int, inplace: bool) -> nn.Sequential:
        return nn.Sequential(
            *_conv_bn(cin, width, 1),
            nn.ReLU(inplace=inplace),
            *_conv_bn(width, width, 3, stride),
            nn.ReLU(inplace=inplace),
            *_conv_bn(width, width * cls.expansion, 1),
        )


def resnet(
    depth: int = 18,
    num_classes: int = 1000,
    in_channels: int = 3,
    width: int = 64,
    inplace: bool = True,
) -> nn.Sequential:
    """A ResNet of the given depth built from the blocks above (torchvision's layout).

    `width` is the first stage's width (64 in the paper); each later stage doubles it.
    """
    if depth not in STAGES:
        raise ValueError(f"depth must be one of {sorted(STAGES)}, got {depth}")
    kind, counts = STAGES[depth]
    block = BasicBlock if kind == "basic" else Bottleneck
    layers: list[nn.Module] = [
        *_conv_bn(in_channels, width, 7, 2),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    cin = width
    for stage, count in enumerate(counts):
        stage_width = width * 2**stage
        for index in range(count):
            stride = 2 if stage > 0 and index == 0 else 1
            layers.append(block(cin, stage_width, stride, inplace))
            cin = stage_width * block.expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)
