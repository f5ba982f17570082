"""The instruction-count gate, end to end: repeatability, a 2% change caught, unchanged passes.

Writes a small suite (mlp_bn at b1 and b64, mnist_cnn eval and train, and `chain`, 50 blocks of
Linear(256, 256) + ReLU at b16), then, each `bench run --metrics instructions` in a fresh
process:

1. BASE, then three unchanged runs: each compared with BASE under the gate
   (`bench compare BASE NEW --gate instructions --fail-on-regression 1`): expected `same` for
   every case and exit 0; the largest per-case difference from BASE is printed (target < 0.1%).
2. A changed run where `chain` has 51 blocks (2% more work): expected `more` (+2.0%) and exit 1.

Prints each run's wall seconds and each comparison's per-case changes and exit code. It is not
a test and asserts nothing; it needs valgrind where the CPU's counter is hidden.

    PYTHONPATH=. python benchmarks/instruction_gate.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = """
import torch

def chain(blocks: int = 50) -> torch.nn.Module:
    layers = []
    for _ in range(blocks):
        layers += [torch.nn.Linear(256, 256), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)
"""

SUITE = """
[suite]
name = "instruction-gate"

[[models]]
name = "mlp_bn"
factory = "bench.zoo:mlp_bn"
input_shape = [1, 28, 28]
batch_sizes = [1, 64]

[[models]]
name = "mnist_cnn"
factory = "bench.zoo:mnist_cnn"
input_shape = [1, 28, 28]
modes = ["eval", "train"]

[[models]]
name = "chain"
factory = "models.py:chain"
kwargs = {{ blocks = {blocks} }}
input_shape = [256]
batch_sizes = [16]
"""


def run(folder: Path, blocks: int, label: str) -> Path:
    suite = folder / f"{label}.toml"
    suite.write_text(SUITE.format(blocks=blocks), encoding="utf-8")
    out = folder / label
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", str(suite), "--metrics", "instructions",
         "--out", str(out), "--quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    print(f"{label}: bench run exit {done.returncode}, {time.perf_counter() - started:.1f} s")
    if done.returncode != 0:
        print(done.stderr)
    return next(path for path in out.iterdir() if path.is_dir())


def counts(run_dir: Path) -> dict[str, int]:
    entries = (json.loads(line) for line in (run_dir / "cases.jsonl").open(encoding="utf-8"))
    return {f"{e['model']} b{e['batch_size']} {e['mode']}": e["instructions"] for e in entries}


def compare(base: Path, new: Path, label: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "compare", str(base), str(new),
         "--gate", "instructions", "--fail-on-regression", "1"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    verdicts = [line for line in done.stdout.splitlines() if line.startswith("| `")]
    print(f"{label}: compare exit {done.returncode} {done.stderr.strip()}")
    for line in verdicts:
        if "%" in line:
            print("   ", " ".join(line.split()))
    old, now = counts(base), counts(new)
    worst = max(abs(now[k] / old[k] - 1) for k in old)
    print(f"    largest per-case difference from BASE: {100 * worst:.4f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    folder = args.out or Path(tempfile.mkdtemp(prefix="instruction-gate-"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models.py").write_text(MODELS, encoding="utf-8")
    print(f"load average before: {os.getloadavg()}")
    base = run(folder, 50, "base")
    for try_number in (1, 2, 3):
        compare(base, run(folder, 50, f"unchanged{try_number}"), f"unchanged try {try_number}")
    compare(base, run(folder, 51, "more"), "chain with 51 blocks (2% more work)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
