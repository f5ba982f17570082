"""bench's CUDA sampling beside torch.utils.benchmark and a back-to-back event loop, interleaved.

On a host whose speed drifts (the launch-bound cases moved 1.5x between stages of one script on
the H200 machine), figures taken one after another compare the windows, not the methods. Here
every method takes its turn in each round (rotated order) on the same model object, and the
ratio is taken per round: bench engine / tub and events / tub.

    python benchmarks/gpu/interleaved.py SUITE.toml [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import replace

import torch
from torch.utils.benchmark import Timer

from bench.measure.timing.engine import DEFAULT_POLICY, CudaTimer, measure_latency
from bench.model.factory import build_model
from bench.model.inputs import make_input
from bench.model.variants import autocast
from bench.model.workload import make_workload
from bench.suite import expand, load_suite

WANTED = [
    ("resnet50", "float32", 1),
    ("resnet50", "float32", 32),
    ("resnet50", "bfloat16", 32),
    ("resnet50", "bfloat16", 1),
    ("mlp_bn", "float32", 1),
]
SECONDS = 0.25


def tub(fn) -> float:
    torch.cuda.synchronize()
    return Timer("fn()", globals={"fn": fn}).blocked_autorange(min_run_time=SECONDS).median * 1e3


def events(fn, per_call_ms: float) -> float:
    """A back-to-back loop of about SECONDS between two CUDA events, per call."""
    return event_loop(fn, max(10, int(SECONDS * 1e3 / per_call_ms)))


def event_loop(fn, n: int) -> float:
    """n calls back to back between two CUDA events, per call (ms)."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    for _ in range(n):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / n


class WithoutLead(CudaTimer):
    """The timer as it was before the lead call: each block starts on an empty queue."""

    def time_block(self, fn, iterations, lead=None):
        return super().time_block(fn, iterations, None)


def engine(fn, device, timer_type=CudaTimer) -> float:
    policy = replace(DEFAULT_POLICY, budget_s=SECONDS)
    return measure_latency(fn, timer_type(device), policy).median_ms


def main(suite_path: str, rounds: int) -> None:
    cases = {
        (c.model.name, c.dtype, c.batch_size): c
        for c in expand(load_suite(suite_path))
        if c.mode == "eval" and c.compile == "eager"
    }
    print(
        "| case | tub ms | engine ms | events ms | engine/tub per round: median (min-max) "
        "| events/tub median | engine without lead ms | without lead/tub (min-max) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for key in WANTED:
        if key in cases:
            compare(key, cases[key], rounds)


def compare(key: tuple[str, str, int], case, rounds: int) -> None:
    torch.manual_seed(0)
    model, example = build_model(case), make_input(case)
    work = make_workload(model, example, case.mode, autocast(case.dtype, case.device))
    device = torch.device(case.device)
    got: dict[str, list[float]] = {"tub": [], "engine": [], "events": [], "no_lead": []}
    with work.context():
        for _ in range(20):
            work.run()
        pace = tub(work.run)
        methods = {
            "tub": lambda: tub(work.run),
            "engine": lambda: engine(work.run, device),
            "events": lambda: events(work.run, pace),
            "no_lead": lambda: engine(work.run, device, WithoutLead),
        }
        names = list(methods)
        for r in range(rounds):
            for name in names[r % 4 :] + names[: r % 4]:
                got[name].append(methods[name]())
    ratios = [e / t for e, t in zip(got["engine"], got["tub"], strict=True)]
    ev = [e / t for e, t in zip(got["events"], got["tub"], strict=True)]
    old = [e / t for e, t in zip(got["no_lead"], got["tub"], strict=True)]
    med = {k: statistics.median(v) for k, v in got.items()}
    print(
        f"| {key[0]} {key[1]} b{key[2]} | {med['tub']:.4g} | {med['engine']:.4g} | "
        f"{med['events']:.4g} | {statistics.median(ratios):.3f} ({min(ratios):.3f}-"
        f"{max(ratios):.3f}) | {statistics.median(ev):.3f} | {med['no_lead']:.4g} | "
        f"{statistics.median(old):.3f} ({min(old):.3f}-{max(old):.3f}) |",
        flush=True,
    )
    torch.cuda.empty_cache()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 6)
