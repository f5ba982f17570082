"""What bench's timing core adds per call, against torch.utils.benchmark, interleaved.

    PYTHONPATH=. python benchmarks/noop_overhead.py [--rounds 5] [--seconds 1.0] [--threads N]

Two figures, each from rounds that alternate bench's engine (`measure_latency`) and
`torch.utils.benchmark.Timer.blocked_autorange` so that drift hits both alike:
1. noop: both time the same empty Python function (`bench doctor`'s figure): the engine's own
   per-call cost, target <= +1 us;
2. identity workload: bench times the eval workload `bench run` builds for an nn.Identity model
   (make_workload, float32 CPU: the forward path a real case pays), torch.utils.benchmark times
   `model(x)` itself, both under inference mode: target <= +0.2 us.
Each round prints both per-call medians and bench's excess; the figure is the median excess.
A busy machine shifts single rounds by more than the targets: quote it from a quiet one.
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

from bench.measure.timing.agreement import (
    OVERHEAD_LIMIT_NS,
    WORKLOAD_OVERHEAD_LIMIT_NS,
    Agreement,
    compare,
    noop,
    workload_overhead,
)


def report(title: str, agreement: Agreement, limit_ns: float) -> None:
    print(f"== {title}")
    print(f"{'round':>5}  {'bench us':>9}  {'torch us':>9}  {'excess us':>9}")
    excess_us = []
    pairs = zip(agreement.harness_median_ms, agreement.torch_median_ms, strict=True)
    for number, (ours_ms, theirs_ms) in enumerate(pairs, start=1):
        excess_us.append((ours_ms - theirs_ms) * 1e3)
        print(
            f"{number:>5}  {ours_ms * 1e3:>9.3f}  {theirs_ms * 1e3:>9.3f}  {excess_us[-1]:>+9.3f}"
        )
    median_us = statistics.median(excess_us)
    met = "MET" if median_us * 1e3 <= limit_ns else "NOT MET"
    print(f"median excess {median_us:+.3f} us per call (target <= +{limit_ns / 1e3:g} us: {met})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per figure")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per timer per round")
    parser.add_argument("--threads", type=int, help="intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}; threads {torch.get_num_threads()}; {args.rounds} "
        f"interleaved rounds of {args.seconds:g} s per timer; "
        f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    report(
        "noop: bench's engine vs Timer on the same empty function",
        compare("noop", noop, args.rounds, args.seconds),
        OVERHEAD_LIMIT_NS,
    )
    report(
        "identity workload: bench's eval forward (make_workload) vs Timer on model(x)",
        workload_overhead(args.rounds, args.seconds),
        WORKLOAD_OVERHEAD_LIMIT_NS,
    )


if __name__ == "__main__":
    main()
