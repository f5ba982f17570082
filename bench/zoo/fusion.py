"""A model with two positional inputs: an image and a feature vector (late fusion).

`forward(image, features)`: a small CNN embeds the image, a linear layer the features, and a
classifier reads both. In a suite it takes `inputs = [{ shape = [3, 32, 32] }, { shape = [16] }]`.
"""

from __future__ import annotations

import torch
from torch import nn


class ImageAndFeatures(nn.Module):
    def __init__(self, in_channels: int, features: int, width: int, num_classes: int) -> None:
        super().__init__()
        self.image = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.features = nn.Sequential(nn.Linear(features, width), nn.ReLU())
        self.classifier = nn.Linear(2 * width, num_classes)

    def forward(self, image: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.cat([self.image(image), self.features(features)], dim=1))


def image_and_features(
    in_channels: int = 3, features: int = 16, width: int = 32, num_classes: int = 10
) -> ImageAndFeatures:
    """Conv3x3(in_channels -> width) + global pool on the image, Linear(features -> width) on the
    vector, Linear(2 * width -> num_classes) on both."""
    return ImageAndFeatures(in_channels, features, width, num_classes)
