"""Where bench's CUDA figure departs from torch.utils.benchmark's, stage by stage.

For each case: the model and input built by bench, then tub's median after each step bench
takes before timing (counting, the checked forward, the warnings recorder with the old "always"
filter and with the new one), then bench's own engine, then the whole measure_case. Each line is
one stage; the ratio is to the first tub reading. Memory: the allocator's big live blocks and
their streams, and bench's memory pass beside a hand reading.

    python benchmarks/gpu/diag.py SUITE.toml
"""

from __future__ import annotations

import sys
import time
import warnings

import torch
from torch.utils.benchmark import Timer

from bench.measure.case import RunOptions, _checked_forward, measure_case
from bench.measure.counting.probe import count_case
from bench.measure.memory.step import measure_memory
from bench.measure.timing.engine import CpuTimer, CudaTimer, TimingPolicy, measure_latency
from bench.model.factory import build_model
from bench.model.inputs import make_input
from bench.model.variants import autocast
from bench.model.workload import make_workload
from bench.records import METRICS
from bench.suite import expand, load_suite

WANTED = [("resnet50", "bfloat16", 32), ("resnet50", "float32", 1), ("mlp_bn", "float32", 1)]


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def tub(fn) -> float:
    sync()
    t = Timer("fn()", globals={"fn": fn}).blocked_autorange(min_run_time=0.5)
    return t.median * 1e3


def launch_ms(fn, n: int = 20) -> float:
    """Host time per call with no synchronize inside: the launch (CPU) cost."""
    sync()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    host = (time.perf_counter() - start) / n * 1e3
    sync()
    return host


def big_blocks(label: str) -> None:
    if not torch.cuda.is_available():
        return
    rows = []
    for seg in torch.cuda.memory_snapshot():
        for block in seg["blocks"]:
            if block["state"] == "active_allocated" and block["size"] >= 8 * 2**20:
                rows.append((block["size"], seg.get("stream")))
    print(
        f"    {label}: allocated {torch.cuda.memory_allocated():,} B; blocks >= 8 MiB "
        f"(size, stream): {sorted(rows)}"
    )


def main(suite_path: str) -> None:
    cases = {
        (c.model.name, c.dtype, c.batch_size): c
        for c in expand(load_suite(suite_path))
        if c.mode == "eval" and c.compile == "eager"
    }
    for key in WANTED:
        if key not in cases:
            print(key, "not in suite")
            continue
        diagnose(key, cases[key])


def diagnose(key, case) -> None:
    print(f"## {key}")
    device = torch.device(case.device)
    torch.manual_seed(0)
    model = build_model(case)
    example = make_input(case)
    ctx = autocast(case.dtype, case.device)
    work = make_workload(model, example, case.mode, ctx)
    base = None

    def stage(label: str) -> None:
        nonlocal base
        with work.context():
            for _ in range(10):
                work.run()
            ms = tub(work.run)
            host = launch_ms(work.run)
        base = base or ms
        print(f"  {label:44s} tub {ms:8.4f} ms  x{ms / base:5.3f}  launch {host:7.4f} ms/call")

    stage("fresh (bench build, inference_mode)")
    big_blocks("fresh")
    count_case(case, model, example, METRICS, None)
    work = make_workload(model, example, case.mode, ctx)
    stage("after count_case (fvcore cross-check)")
    _checked_forward(model, example, case)
    stage("after checked forward")
    for action in ("always", "default"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter(action)
            stage(f"warnings recorded, filter {action!r}")
        texts = sorted({str(w.message)[:90] for w in caught})
        print(f"    {len(caught)} warning records: {texts[:3]}")
    with work.context():
        timer = CudaTimer(device) if device.type == "cuda" else CpuTimer()
        for label in ("bench engine, 1 s",):
            lat = measure_latency(work.run, timer, TimingPolicy(budget_s=1.0))
            print(
                f"  {label:44s} median {lat.median_ms:8.4f} ms  x{lat.median_ms / base:5.3f} "
                f"calls/sample {lat.iterations_per_sample} blocks {lat.blocks} "
                f"wall {lat.wall_median_ms}"
            )
        sync()
        big_blocks("before memory pass")
        mem = measure_memory(work, model, example.tensors(), device)
        big_blocks("after memory pass")
        hand = None
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            work.run()
            sync()
            hand = torch.cuda.max_memory_allocated()
        print(
            f"    memory pass peak {mem.peak_allocated_bytes:,} resident "
            f"{mem.resident_bytes:,}; by hand after empty_cache {hand}"
        )
    result = measure_case(case, RunOptions(metrics=frozenset({"latency", "memory"}), budget_s=1.0))
    lat = result.latency
    print(
        f"  {'measure_case (this tree), 1 s':44s} median "
        f"{lat.median_ms if lat else float('nan'):8.4f} ms  x"
        f"{(lat.median_ms / base) if lat else float('nan'):5.3f} status {result.status} "
        f"peak {result.peak_memory_bytes} notes {[n[:80] for n in result.notes]}"
    )
    big_blocks("after measure_case")
    if device.type == "cuda":
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main(sys.argv[1])
