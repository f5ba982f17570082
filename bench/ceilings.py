"""Achieved ceilings: the matmul GFLOP/s and memory-copy GB/s this machine actually delivers.

Reports compare a model's achieved FLOP/s and bytes/s against these, not against a datasheet:
what matters is what torch reaches here, with this build, these threads and this noise. A matmul
of two n x n matrices does 2 n^3 floating-point operations; a copy of N bytes reads N and writes
N, so it moves 2N bytes. Both are timed by the same engine as the models (bench/timing.py), so a
CUDA ceiling is device time from CUDA events through the same seam the tests fake.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.timing import Clock, Timer, TimingPolicy, measure_latency


@dataclass(frozen=True)
class CeilingWorkload:
    """A call that does a known amount of work: `work` FLOPs or bytes per call."""

    name: str
    unit: str
    work: float
    fn: Callable[[], Any]
    detail: str


@dataclass(frozen=True)
class Ceiling:
    name: str
    device: str
    unit: str
    value: float
    median_ms: float
    detail: str


def matmul_workload(device: str, n: int, dtype: torch.dtype = torch.float32) -> CeilingWorkload:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=generator, dtype=dtype).to(device)
    b = torch.randn(n, n, generator=generator, dtype=dtype).to(device)
    out = torch.empty(n, n, dtype=dtype, device=device)

    def matmul() -> None:
        torch.mm(a, b, out=out)

    return CeilingWorkload(
        "matmul", "GFLOP/s", 2.0 * n**3, matmul, f"{n}x{n} @ {n}x{n} {str(dtype)[6:]}"
    )


def copy_workload(device: str, nbytes: int) -> CeilingWorkload:
    source = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    target = torch.empty_like(source)

    def copy() -> None:
        target.copy_(source)

    return CeilingWorkload("copy", "GB/s", 2.0 * source.nbytes, copy, f"{source.nbytes >> 20} MiB")


def measure_ceiling(
    workload: CeilingWorkload,
    timer: Timer,
    device: str,
    policy: TimingPolicy,
    clock: Clock = time.perf_counter_ns,
) -> Ceiling:
    """Work per second from the engine's median (giga-units: 1e9 FLOP/s or 1e9 bytes/s)."""
    stats = measure_latency(workload.fn, timer, policy, clock)
    value = workload.work / (stats.median_ms / 1e3) / 1e9 if stats.median_ms > 0 else 0.0
    return Ceiling(workload.name, device, workload.unit, value, stats.median_ms, workload.detail)
