"""The seed notes' U-Net: conv blocks, max-pool down-sampling, transposed-conv up-sampling."""

from __future__ import annotations

import torch
from torch import nn


def _double_conv(cin: int, cout: int, inplace: bool) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=inplace),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=inplace),
    )


class UNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, base: int, depth: int, inplace: bool):
        super().__init__()
        widths = [base * 2**level for level in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for width in widths:
            self.down.append(_double_conv(cin, width, inplace))
            cin = width
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList()
        self.merge = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose2d(width * 2, width, 2, stride=2))
            self.merge.append(_double_conv(width * 2, width, inplace))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for level, block in enumerate(self.down):
            x = block(x)
            if level < len(self.down) - 1:
                skips.append(x)
                x = self.pool(x)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            x = merge(torch.cat([skip, up(x)], dim=1))
        return self.head(x)


def unet(
    in_channels: int = 3, num_classes: int = 2, base: int = 16, depth: int = 3, inplace: bool = True
) -> UNet:
    """Input height and width must be divisible by 2**depth."""
    return UNet(in_channels, num_classes, base, depth, inplace)
