"""GoogLeNet: the Inception block (four parallel paths concatenated on channels) and a
GoogLeNet-style network stacked from nine of them, as in the seed notes' GoogLeNet section.

The notes give the block only ("the overall structure is left out") and call `F.relu(self.p1_1)`
without the input; this is a fresh implementation. The network follows GoogLeNet's published
layout without its auxiliary classifiers and local response normalisation.
"""

from __future__ import annotations

import torch
from torch import nn

# GoogLeNet's nine Inception blocks: (c1, (c2 reduce, c2), (c3 reduce, c3), c4), stage by stage;
# a 3x3 stride-2 max-pool follows every stage but the last.
GOOGLENET_STAGES: tuple[tuple[tuple[int, tuple[int, int], tuple[int, int], int], ...], ...] = (
    ((64, (96, 128), (16, 32), 32), (128, (128, 192), (32, 96), 64)),
    (
        (192, (96, 208), (16, 48), 64),
        (160, (112, 224), (24, 64), 64),
        (128, (128, 256), (24, 64), 64),
        (112, (144, 288), (32, 64), 64),
        (256, (160, 320), (32, 128), 128),
    ),
    ((256, (160, 320), (32, 128), 128), (384, (192, 384), (48, 128), 128)),
)


class InceptionBlock(nn.Module):
    """Four paths on the same input: 1x1; 1x1 then 3x3; 1x1 then 5x5; 3x3 max-pool then 1x1.

    Every path keeps the spatial size, so the output has c1 + c2[1] + c3[1] + c4 channels.
    """

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
        self.out_channels = c1 + c2[1] + c3[1] + c4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        paths = (self.path1, self.path2, self.path3, self.path4)
        return torch.cat([path(x) for path in paths], dim=1)


def inception_block(
    cin: int = 192,
    c1: int = 64,
    c2: tuple[int, int] = (96, 128),
    c3: tuple[int, int] = (16, 32),
    c4: int = 32,
    inplace: bool = False,
) -> InceptionBlock:
    """One Inception block; the defaults are GoogLeNet's (3a) block, for a [192, 28, 28] input."""
    return InceptionBlock(cin, c1, tuple(c2), tuple(c3), c4, inplace)  # type: ignore[arg-type]


def _scaled(channels: int, width: float) -> int:
    return max(1, round(channels * width))


def googlenet(
    in_channels: int = 3, num_classes: int = 1000, width: float = 1.0, inplace: bool = False
) -> nn.Sequential:
    """A GoogLeNet-style classifier: stem, nine Inception blocks in three stages, global pooling.

    `width` scales every channel count (0.5 halves them), for a smaller network of the same
    shape. Any input of at least 32x32 works (global average pooling before the classifier).
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")

    def ch(channels: int) -> int:
        return _scaled(channels, width)

    def relu() -> nn.ReLU:
        return nn.ReLU(inplace=inplace)

    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, ch(64), 7, stride=2, padding=3),
        relu(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.Conv2d(ch(64), ch(64), 1),
        relu(),
        nn.Conv2d(ch(64), ch(192), 3, padding=1),
        relu(),
        nn.MaxPool2d(3, stride=2, padding=1),
    ]
    cin = ch(192)
    for index, stage in enumerate(GOOGLENET_STAGES):
        for c1, c2, c3, c4 in stage:
            block = InceptionBlock(
                cin, ch(c1), (ch(c2[0]), ch(c2[1])), (ch(c3[0]), ch(c3[1])), ch(c4), inplace
            )
            layers.append(block)
            cin = block.out_channels
        if index < len(GOOGLENET_STAGES) - 1:
            layers.append(nn.MaxPool2d(3, stride=2, padding=1))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)
