"""Does a short CUDA sample read the back-to-back cost? A model made to show the pipeline fill.

`HostThenDevice` launches many tiny kernels (host-bound: the device waits for each launch), then
one large matmul (device-bound), sized so that the two parts take about the same time. Back to
back, the host launches the next call's tiny kernels while the device runs this call's matmul,
so a call costs about the larger part. A sample that starts on an empty queue (right after a
synchronize) cannot overlap them: its first call costs both parts in turn. bench's CUDA timer
queues one untimed lead call before its start event (bench.measure.timing.timers); this script
times the model interleaved, six rounds: torch.utils.benchmark, a back-to-back event loop, the
engine as it is, and the engine without the lead call.

    python benchmarks/gpu/lead_proof.py
"""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

import torch
from interleaved import WithoutLead, event_loop  # the script beside this one
from torch import nn
from torch.utils.benchmark import Timer

from bench.measure.timing.engine import DEFAULT_POLICY, CudaTimer, measure_latency

TINY = 300
SECONDS = 0.3


class HostThenDevice(nn.Module):
    def __init__(self, size: int) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.randn(size, size) / size**0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(TINY):
            x = x + 1.0
        return torch.mm(self.a, self.a).sum() + x


def part_ms(fn) -> float:
    for _ in range(5):
        fn()
    return event_loop(fn, 50)


def main() -> None:
    x = torch.zeros(1, device="cuda")
    tiny = part_ms(lambda: [x + 1.0 for _ in range(TINY)])
    sizes = [1024, 2048, 3072, 4096, 6144, 8192]
    ones = {n: torch.ones(n, n, device="cuda") for n in sizes}
    mats = {n: part_ms(lambda m=ones[n]: torch.mm(m, m)) for n in sizes}
    del ones
    size = min(sizes, key=lambda n: abs(mats[n] - tiny))
    print(f"tiny part {tiny:.3f} ms; matmul {size}: {mats[size]:.3f} ms ({mats})")
    model = HostThenDevice(size).cuda().eval()
    policy = replace(DEFAULT_POLICY, budget_s=SECONDS)
    single = replace(policy, max_clock_overhead=1.0)  # one call per sample: the worst case
    with torch.inference_mode():
        run = lambda: model(x)  # noqa: E731
        for _ in range(20):
            run()
        pace = Timer("run()", globals={"run": run}).blocked_autorange(min_run_time=0.2).median
        n = max(10, int(SECONDS / pace))
        methods = {
            "tub": lambda: (
                Timer("run()", globals={"run": run}).blocked_autorange(min_run_time=SECONDS).median
                * 1e3
            ),
            "events": lambda: event_loop(run, n),
            "engine": lambda: measure_latency(run, CudaTimer("cuda"), policy).median_ms,
            "no_lead": lambda: measure_latency(run, WithoutLead("cuda"), policy).median_ms,
            "engine_1call": lambda: measure_latency(run, CudaTimer("cuda"), single).median_ms,
            "no_lead_1call": lambda: measure_latency(run, WithoutLead("cuda"), single).median_ms,
        }
        got: dict[str, list[float]] = {k: [] for k in methods}
        names = list(methods)
        started = time.perf_counter()
        for r in range(6):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                got[name].append(methods[name]())
        one = measure_latency(run, CudaTimer("cuda"), policy)
    print(
        f"rounds took {time.perf_counter() - started:.1f} s; engine calls/sample "
        f"{one.iterations_per_sample}"
    )
    print("| method | median ms | / tub, per round: median (min-max) |")
    print("|---|---|---|")
    for name, values in got.items():
        ratios = [v / t for v, t in zip(values, got["tub"], strict=True)]
        print(
            f"| {name} | {statistics.median(values):.4f} | {statistics.median(ratios):.3f} "
            f"({min(ratios):.3f}-{max(ratios):.3f}) |"
        )


if __name__ == "__main__":
    main()
