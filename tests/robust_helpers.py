"""Helpers for the robustness tests: suites over tests/failing_models.py and reading run dirs."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.records import COLUMNS

FAILING = Path(__file__).resolve().parent / "failing_models.py"


def model_entry(name: str, factory: str, input_shape: str = "[4]", **extra: Any) -> str:
    """A [[models]] entry; `factory` starting with ':' names a function in failing_models.py."""
    if factory.startswith(":"):
        factory = f"{FAILING}{factory}"
    lines = [
        "[[models]]",
        f'name = "{name}"',
        f'factory = "{factory}"',
        f"input_shape = {input_shape}",
    ]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


def suite_text(*entries: str, name: str = "robust", header: str = "") -> str:
    return f'[suite]\nname = "{name}"\n{header}\n' + "\n".join(entries)


LINEAR = model_entry("linear", "torch.nn:Linear", kwargs="{ in_features = 4, out_features = 4 }")


def read_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "results.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == list(COLUMNS)
        return list(reader)


def _ctrl_c_as_a_terminal_sends_it() -> None:
    """A shell starts background jobs with SIGINT ignored, and a child inherits that: Python
    then installs no KeyboardInterrupt handler, and a test's SIGINT would do nothing (`nohup nox
    -s tests &` hung here). The child gets Ctrl-C as a user at a terminal would send it."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def bench_popen(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ctrl_c_as_a_terminal_sends_it,
    )


def bench(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )
