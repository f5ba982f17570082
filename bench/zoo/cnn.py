"""Small image classifiers from the seed notes: the MNIST CNN and the CIFAR-10 network."""

from __future__ import annotations

from torch import nn


def mnist_cnn(num_classes: int = 10, inplace: bool = False) -> nn.Sequential:
    """Two conv+pool stages and two linear layers, for 1x28x28 inputs."""
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128),
        nn.ReLU(inplace=inplace),
        nn.Linear(128, num_classes),
    )


def cifar10_net(num_classes: int = 10, inplace: bool = False) -> nn.Sequential:
    """The classic CIFAR-10 tutorial network (LeNet-like), for 3x32x32 inputs."""
    return nn.Sequential(
        nn.Conv2d(3, 6, kernel_size=5),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(inplace=inplace),
        nn.Linear(120, 84),
        nn.ReLU(inplace=inplace),
        nn.Linear(84, num_classes),
    )
