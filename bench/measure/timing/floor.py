"""The A/A noise floor: how much two fresh processes measuring the same work disagree.

Within one process, block medians let an interval see the drift the run went through. What a
process fixes for its whole life (where the allocator put the tensors, which kernel variant the
library picked, where the threads landed) no in-process statistic sees: on a 2-core VM a small
conv net at batch 64 read 8.0-8.5 ms in five processes and 12.1 ms in a sixth, each with a +-1%
interval, so two stored runs of unchanged code disagreed by 1.5x with confidence. `bench doctor`
measures the machine's floor the way such runs differ: PROCESSES fresh interpreters, one after
another, each timing a fixed matmul and a small conv net with the block engine; the floor is the
largest (max - min) / min of the processes' medians over the workloads. `bench compare` never
calls a change below it (bench/noise_floor.py stores it per machine).

`python -m bench.measure.timing.floor BUDGET_S` is one such process: it prints its medians as
one JSON line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import bench

WORKLOADS = ("256x256 matmul", "mnist_cnn b64 conv net")


@dataclass(frozen=True)
class ProcessSpread:
    """Each workload's median (ms) in each fresh process that ran uncontended, the number of
    processes left out because another process competed for the cores (their medians say
    what the neighbour did, not what this machine does), and the largest relative spread."""

    medians_ms: dict[str, tuple[float, ...]]
    contended_processes: int = 0

    def spread(self, workload: str) -> float:
        values = self.medians_ms[workload]
        return (max(values) - min(values)) / min(values) if len(values) >= 2 else 0.0

    @property
    def measured(self) -> bool:
        """At least two uncontended processes: a spread to speak of."""
        return all(len(v) >= 2 for v in self.medians_ms.values())

    @property
    def floor(self) -> float:
        return max((self.spread(w) for w in self.medians_ms), default=0.0)

    @property
    def widest(self) -> str:
        return max(self.medians_ms, key=self.spread)


def measure_in_processes(processes: int, budget_s: float, threads: int) -> ProcessSpread:
    """Run PROCESSES fresh interpreters one after another; a process that fails is an error."""
    root = str(Path(bench.__file__).resolve().parent.parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    medians: dict[str, list[float]] = {w: [] for w in WORKLOADS}
    contended = 0
    for _ in range(processes):
        command = [sys.executable, "-m", "bench.measure.timing.floor", str(budget_s), str(threads)]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            raise RuntimeError(f"noise floor process failed: {done.stderr.strip()[-300:]}")
        record = json.loads(done.stdout.strip().splitlines()[-1])
        if record["contended"]:
            contended += 1
            continue
        for workload in WORKLOADS:
            medians[workload].append(float(record["medians_ms"][workload]))
    return ProcessSpread({w: tuple(v) for w, v in medians.items()}, contended)


def _one_process(budget_s: float, threads: int) -> dict[str, object]:
    import torch

    from bench.measure.ceilings import matmul_workload
    from bench.measure.timing.engine import CpuTimer, TimingPolicy, measure_latency
    from bench.zoo.cnn import mnist_cnn

    torch.set_num_threads(threads)
    policy = TimingPolicy(budget_s=budget_s)
    matmul = matmul_workload("cpu", 256)
    model = mnist_cnn().eval()
    x = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(0))

    def conv() -> None:
        model(x)

    with torch.inference_mode():
        timed = {WORKLOADS[0]: matmul.fn, WORKLOADS[1]: conv}
        stats = {name: measure_latency(fn, CpuTimer(), policy) for name, fn in timed.items()}
    return {
        "medians_ms": {name: lat.median_ms for name, lat in stats.items()},
        "contended": any(lat.contended for lat in stats.values()),
    }


if __name__ == "__main__":
    print(json.dumps(_one_process(float(sys.argv[1]), int(sys.argv[2]))))
