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


def _hidden_mlp(
    in_features: int,
    hidden: tuple[int, ...],
    out_features: int,
    inplace: bool,
    batch_norm: bool,
) -> nn.Sequential:
    """Linear, [BatchNorm1d], ReLU per hidden layer, then a plain linear output layer."""
    pairs = _widths(in_features, tuple(hidden), out_features)
    layers: list[nn.Module] = [nn.Flatten()]
    for a, b in pairs[:-1]:
        layers.append(nn.Linear(a, b))
        if batch_norm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(nn.ReLU(inplace=inplace))
    layers.append(nn.Linear(*pairs[-1]))
    return nn.Sequential(*layers)


def mlp_relu(
    in_features: int = 784,
    hidden: tuple[int, ...] = (300, 100),
    out_features: int = 10,
    inplace: bool = False,
) -> nn.Sequential:
    return _hidden_mlp(in_features, hidden, out_features, inplace, batch_norm=False)


def mlp_bn(
    in_features: int = 784,
    hidden: tuple[int, ...] = (300, 100),
    out_features: int = 10,
    inplace: bool = False,
) -> nn.Sequential:
    """Batch-norm in training needs more than one sample per batch (PyTorch raises otherwise)."""
    return _hidden_mlp(in_features, hidden, out_features, inplace, batch_norm=True)
