"""VGG built from a configuration list, the way the VGG paper (and torchvision) describe it.

A configuration is a list of output channel counts for 3x3 convolutions, with "M" for a 2x2
max-pool. The named configurations are the paper's A, B, D and E (VGG-11, 13, 16, 19).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

VGG_CONFIGS: dict[int, tuple[int | str, ...]] = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (
        *(64, 64, "M", 128, 128, "M"),
        *(256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
    ),
}


def vgg(
    config: int | Sequence[int | str] = 16,
    in_channels: int = 3,
    num_classes: int = 1000,
    batch_norm: bool = False,
    hidden: int = 4096,
    pool_size: int = 7,
    dropout: float = 0.5,
    inplace: bool = True,
) -> nn.Sequential:
    """`config` is a depth (11, 13, 16, 19) or a list such as [64, "M", 128, "M"].

    The features end in an adaptive pool to `pool_size` x `pool_size`, so the classifier's input
    is `last_channels * pool_size**2` whatever the image size.
    """
    if isinstance(config, int):
        if config not in VGG_CONFIGS:
            raise ValueError(f"config must be one of {sorted(VGG_CONFIGS)} or a list, got {config}")
        config = VGG_CONFIGS[config]
    if not config or not any(isinstance(item, int) for item in config):
        raise ValueError("config needs at least one convolution width")
    layers: list[nn.Module] = []
    cin = in_channels
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        if isinstance(item, bool) or not isinstance(item, int) or item <= 0:
            raise ValueError(f"config entries are positive widths or 'M', got {item!r}")
        layers.append(nn.Conv2d(cin, item, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=inplace))
        cin = item
    layers += [
        nn.AdaptiveAvgPool2d(pool_size),
        nn.Flatten(),
        nn.Linear(cin * pool_size * pool_size, hidden),
        nn.ReLU(inplace=inplace),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=inplace),
        nn.Dropout(dropout),
        nn.Linear(hidden, num_classes),
    ]
    return nn.Sequential(*layers)
