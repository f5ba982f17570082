"""ResNet basic and bottleneck blocks (ResNet-18 to 152) and a GoogLeNet Inception block.

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


def resnet(depth: int = 18, num_classes: int = 1000, inplace: bool = True) -> nn.Sequential:
    """A ResNet of the given depth built from the blocks above (torchvision's layout)."""
    if depth not in STAGES:
        raise ValueError(f"depth must be one of {sorted(STAGES)}, got {depth}")
    kind, counts = STAGES[depth]
    block = BasicBlock if kind == "basic" else Bottleneck
    layers: list[nn.Module] = [
        *_conv_bn(3, 64, 7, 2),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    cin = 64
    for stage, count in enumerate(counts):
        width = 64 * 2**stage
        for index in range(count):
            stride = 2 if stage > 0 and index == 0 else 1
            layers.append(block(cin, width, stride, inplace))
            cin = width * block.expansion
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


class InceptionBlock(nn.Module):
    """GoogLeNet's Inception module: four parallel paths concatenated on channels."""

    def __init__(
        self,
        cin: int = 192,
        c1: int = 64,
        c2: tuple[int, int] = (96, 128),
        c3: tuple[int, int] = (16, 32),
        c4: int = 32,
        inplace: bool = False,
    ) -> None:
        super().__init__()

        def relu() -> nn.ReLU:
            return nn.ReLU(inplace=inplace)

        self.path1 = nn.Sequential(nn.Conv2d(cin, c1, 1), relu())
        self.path2 = nn.Sequential(
            nn.Conv2d(cin, c2[0], 1), relu(), nn.Conv2d(c2[0], c2[1], 3, padding=1), relu()
        )
        self.path3 = nn.Sequential(
            nn.Conv2d(cin, c3[0], 1), relu(), nn.Conv2d(c3[0], c3[1], 5, padding=2), relu()
        )
        self.path4 = nn.Sequential(
            nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(cin, c4, 1), relu()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        paths = (self.path1, self.path2, self.path3, self.path4)
        return torch.cat([path(x) for path in paths], dim=1)


def inception_block(cin: int = 192, inplace: bool = False) -> InceptionBlock:
    """GoogLeNet's inception (3a) block for a [cin, 28, 28] input."""
    return InceptionBlock(cin=cin, inplace=inplace)
