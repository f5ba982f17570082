"""The seed notes' AlexNet variant: torchvision's AlexNet layout with a 4-channel first
convolution (e.g. RGB plus a depth or infrared plane) and a 10-class head.

The notes patch a pretrained model (`features[0] = Conv2d(4, 64, 11, 4, 2)`,
`classifier[6] = Linear(4096, 10)`); here the same network is built directly, random weights.
"""

from __future__ import annotations

from torch import nn


def alexnet(
    in_channels: int = 4,
    num_classes: int = 10,
    hidden: int = 4096,
    dropout: float = 0.5,
    inplace: bool = True,
) -> nn.Sequential:
    """Five convolutions (64, 192, 384, 256, 256 channels), a 6x6 adaptive pool, three linears.

    The adaptive pool makes the classifier's input 256 * 6 * 6 whatever the image size (at least
    63x63); 224x224 is the size the layout was designed for.
    """

    def relu() -> nn.ReLU:
        return nn.ReLU(inplace=inplace)

    return nn.Sequential(
        nn.Conv2d(in_channels, 64, 11, stride=4, padding=2),
        relu(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(64, 192, 5, padding=2),
        relu(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(192, 384, 3, padding=1),
        relu(),
        nn.Conv2d(384, 256, 3, padding=1),
        relu(),
        nn.Conv2d(256, 256, 3, padding=1),
        relu(),
        nn.MaxPool2d(3, stride=2),
        nn.AdaptiveAvgPool2d(6),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(256 * 6 * 6, hidden),
        relu(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        relu(),
        nn.Linear(hidden, num_classes),
    )
