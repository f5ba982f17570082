"""The three MLPs of the seed notes: plain linear layers, with ReLU, with BatchNorm1d."""

from __future__ import annotations

import itertools

from torch import nn


def _widths(in_features: int, hidden: tuple[int, ...], out_features: int) -> list[tuple[int, int]]:
    sizes = [in_features, *hidden, out_features]
    return list(itertools.pairwise(sizes))


def mlp(
    in_features: int = 784, hidden: tuple[int, ...] = (300, 100), out_features: int = 10
) -> nn.Sequential:
    """Linear layers with no activation between them (the notes' first, purely linear MLP)."""
    pairs = _widths(in_features, tuple(hidden), out_features)
    return nn.Sequential(nn.Flatten(), *(nn.Linear(a, b) for a, b in pairs))


def mlp_relu(
    in_features: int = 784,
    hidden: tuple[int, ...] = (300, 100),
    out_features: int = 10,
    inplace: bool = False,
) -> nn.Sequential:
    pairs = _widths(in_features, tuple(hidden), out_features)
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in pairs[:-1]:
        layers += [nn.Linear(a, b), nn.ReLU(inplace=inplace)]
    layers.append(nn.Linear(*pairs[-1]))
    return nn.Sequential(*layers)


def mlp_bn(
    in_features: int = 784,
    hidden: tuple[int, ...] = (300, 100),
    out_features: int = 10,
    inplace: bool = False,
) -> nn.Sequential:
    pairs = _widths(in_features, tuple(hidden), out_features)
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in pairs[:-1]:
        layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU(inplace=inplace)]
    layers.append(nn.Linear(*pairs[-1]))
    return nn.Sequential(*layers)
