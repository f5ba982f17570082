"""Shared fixtures: suite files written on the fly, `bench` run in this process, torch's
quantized engine restored; the CUDA marker's clean skip; the heap frozen between test files."""

from __future__ import annotations

import gc
import os
import subprocess
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

# The pytest-benchmark suite runs only when asked for by path (`pytest tests/benchmarks ...`):
# benchmarks are not unit tests, and plain `pytest` (nox -s tests) must not spend minutes timing.
# pytest never ignores a path given on its command line, so naming the folder runs it.
collect_ignore = ["benchmarks"]
# `bench doctor` saves the machine's noise floor and every run records it: tests keep theirs
# away from the user's ~/.cache (subprocesses inherit the variable)
os.environ["BENCH_NOISE_FLOOR_FILE"] = str(Path(tempfile.mkdtemp()) / "noise-floor.json")
BENCHMARKS = Path(__file__).parent / "benchmarks"


_FROZEN_AT: list[Path] = []  # the test file whose first test last froze the heap


@pytest.hookimpl(tryfirst=True)  # before the file's fixtures are made: those are not frozen
def pytest_runtest_setup(item: pytest.Item) -> None:
    """At each test file's first test, move everything alive into the garbage collector's
    permanent generation: torch, torchvision, the test modules and what earlier files imported
    (hundreds of thousands of objects). bench calls gc.collect() after every case to free what
    the case left; scanning these objects made each call take 0.15-0.3 s in this process,
    hundreds of times a session. What is alive between two files is never a later case's
    garbage, so every collect still frees all of it. Not for tests/benchmarks: what those time
    stays as a user's process runs it."""
    if BENCHMARKS in item.path.parents:
        return
    if _FROZEN_AT[-1:] != [item.path]:
        _FROZEN_AT[:] = [item.path]
        gc.collect()
        gc.freeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    # back to the collector for interpreter shutdown (nanobind reports frozen objects as leaks)
    gc.unfreeze()


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


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`bench ARGS` through `bench.cli.main` in this process: its exit status (also where
    argparse itself exits, as SystemExit), stdout and stderr, shaped like `subprocess.run`'s.

    For tests of arguments, error messages and what a run writes: a subprocess would spend
    seconds starting Python and importing torch again. Tests where the process boundary is the
    point (the console script, signals, hangs, a closed stdout, --isolate) keep
    `tests.robust_helpers.bench`."""
    from bench.cli import main

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()  # this command's output only, as a fresh process would print it
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)

    return run


@pytest.fixture
def restore_quantized_engine() -> Iterator[None]:
    """Quantized builders set torch's process-wide quantized engine; later tests get it back."""
    engine = torch.backends.quantized.engine
    yield
    torch.backends.quantized.engine = engine


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

# Three models of 3, 2 and 2 cases (lin_a, lin_b, mlp in eval and train): the shard tests' suite.
SHARD_SUITE = """\
[suite]
name = "sharded"

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
