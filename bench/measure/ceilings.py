"""Achieved ceilings: the matmul GFLOP/s and memory-copy GB/s this machine actually delivers.

Reports compare a model's achieved FLOP/s and bytes/s against these, not against a datasheet:
what matters is what torch reaches here, with this build, these threads and this noise. A matmul
of two n x n matrices does 2 n^3 floating-point operations; a copy of N bytes reads N and writes
N, so it moves 2N bytes. Both are timed by the same engine as the models (bench/timing.py), so a
CUDA ceiling is device time from CUDA events through the same seam the tests fake.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench.errors import BenchError
from bench.measure.timing.engine import Clock, Timer, TimingPolicy, measure_latency


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


MAX_CEILINGS_BYTES = 4 * 2**20  # `bench doctor --json` writes a few KiB


def read_matmul_ceilings(path: Path) -> dict[str, float]:
    """Matmul GFLOP/s by device ("cpu", "cuda:0", ...) from `bench doctor --json FILE`.

    Reports divide a case's achieved GFLOP/s by its own device's ceiling (`peak_fraction`).
    """
    try:
        with path.open("rb") as handle:  # at most a doctor file's size: /dev/zero never ends
            data = handle.read(MAX_CEILINGS_BYTES + 1)
        if len(data) > MAX_CEILINGS_BYTES:
            raise BenchError(
                f"{path}: over {MAX_CEILINGS_BYTES // 2**20} MiB; not a bench doctor JSON"
            )
        record = json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(
            f"{path}: cannot read a bench doctor JSON ({type(exc).__name__})"
        ) from None
    entries = list(record.get("ceilings") or []) if isinstance(record, dict) else []
    for gpu in (record.get("cuda") or []) if isinstance(record, dict) else []:
        entries += list(gpu.get("ceilings") or []) if isinstance(gpu, dict) else []
    ceilings = {
        str(c["device"]): float(c["value"])
        for c in entries
        if isinstance(c, dict) and c.get("name") == "matmul" and _positive_number(c.get("value"))
    }
    if not ceilings:
        raise BenchError(f"{path}: no matmul ceiling in it; write one with `bench doctor --json`")
    return ceilings


def ceiling_for(ceilings: dict[str, float], device: str) -> float | None:
    """The ceiling of a case's device; a bare "cuda" is device 0, as torch reads it."""
    return ceilings.get("cuda:0" if device == "cuda" else device)


def _positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
