"""What a long sweep costs per case at its end against its start: the run's own bookkeeping
(record, CSV, log) must not grow with the number of cases already written.

Runs `bench run` on a generated suite: one small MLP whose sequence length sweeps N values
(`dims`), `--metrics params,flops` (no timing, so each case is cheap and bookkeeping shows), then
reads the per-case timestamps of run.log and prints the mean seconds per case over the first and
the last `--window` cases, and their ratio.

    PYTHONPATH=. python benchmarks/sweep_record_cost.py [--values 1500] [--window 100]
        [--descending]

A case's own work grows a little with its sequence length; `--descending` sweeps the values
from the largest down, so a ratio that only reflects the workload flips below 1, while a
bookkeeping cost that grows with the cases written stays above it in both directions.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import re
import tempfile
import time
from pathlib import Path

from bench.cli import main

SUITE = """\
[suite]
name = "sweep"

[[models]]
name = "mlp"
factory = "torch.nn:Linear"
kwargs = {{ in_features = 8, out_features = 8 }}
inputs = [{{ shape = ["seq", 8] }}]
dims = {{ seq = [{values}] }}
batch_sizes = [1]
"""
STAMP = re.compile(r"^(\S+Z) \[(\d+)/(\d+)\]")


def case_times(run_log: Path) -> list[datetime.datetime]:
    """When each case's line was written, in case order."""
    times = []
    for line in run_log.read_text(encoding="utf-8").splitlines():
        match = STAMP.match(line)
        if match:
            times.append(datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S.%fZ"))
    return times


def main_(values: int, window: int, descending: bool) -> None:
    swept = range(values, 0, -1) if descending else range(1, values + 1)
    with tempfile.TemporaryDirectory() as folder:
        suite = Path(folder) / "sweep.toml"
        suite.write_text(SUITE.format(values=", ".join(str(v) for v in swept)))
        start = time.perf_counter()
        code = main(["run", str(suite), "--metrics", "params,flops", "--out", f"{folder}/r"])
        wall = time.perf_counter() - start
        (run_dir,) = Path(folder, "r").glob("*-sweep")
        times = case_times(run_dir / "run.log")
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    first = sum(gaps[:window]) / window
    last = sum(gaps[-window:]) / window
    print(f"exit {code}; {len(times)} cases in {wall:.1f} s")
    print(f"first {window} cases: {1000 * first:.1f} ms/case")
    print(f"last {window} cases:  {1000 * last:.1f} ms/case")
    print(f"end / start: {last / first:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=1500)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--descending", action="store_true")
    args = parser.parse_args()
    main_(args.values, args.window, args.descending)
