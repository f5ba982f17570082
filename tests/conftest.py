"""Shared fixtures: suite files written on the fly, and the CUDA marker's clean skip."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device: torch.cuda.is_available() is false")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def write_suite(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a suite file (dedented) into tmp_path and return its path."""

    def write(text: str, name: str = "suite.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


TINY_SUITE = """\
[suite]
name = "tiny"

[[models]]
name = "linear"
factory = "torch.nn:Linear"
kwargs = { in_features = 16, out_features = 4 }
input_shape = [16]
batch_sizes = [1, 2]
"""
