"""Shared fixtures: suite files written on the fly, and the CUDA marker's clean skip."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

# The pytest-benchmark suite runs only when asked for by path (`pytest tests/benchmarks ...`):
# benchmarks are not unit tests, and plain `pytest` (nox -s tests) must not spend minutes timing.
# pytest never ignores a path given on its command line, so naming the folder runs it.
collect_ignore = ["benchmarks"]


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


# Three models of unequal case counts (3, 2 and 2 cases): enough to show how shards split a
# suite, shared by the partition and the merge tests.
SHARDED_MODELS = """\
[[models]]
name = "lin_a"
factory = "torch.nn:Linear"
kwargs = { in_features = 16, out_features = 4 }
input_shape = [16]
batch_sizes = [1, 2, 4]

[[models]]
name = "lin_b"
factory = "torch.nn:Linear"
kwargs = { in_features = 8, out_features = 8 }
input_shape = [8]
batch_sizes = [1, 2]

[[models]]
name = "mlp"
factory = "bench.zoo:mlp"
input_shape = [1, 28, 28]
modes = ["eval", "train"]
"""


def save_record(run_dir: Path, record: dict) -> None:
    """Write a (test-edited) run record back the way bench stores it: run.json's header and
    one cases.jsonl line per case."""
    from bench.store.rundir import CASES_JSONL, entry_line, write_header

    write_header(run_dir, record)
    lines = "".join(entry_line(entry) for entry in record.get("cases") or [])
    (run_dir / CASES_JSONL).write_text(lines, encoding="utf-8")
