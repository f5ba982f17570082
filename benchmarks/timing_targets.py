"""The timing targets, measured and printed (not asserted: they need a quiet machine).

    PYTHONPATH=. python benchmarks/timing_targets.py            # the real figures (~5-8 min)
    PYTHONPATH=. python benchmarks/timing_targets.py --short    # a quick check that it works

Targets:
1. agreement: the harness's median within +-3% of torch.utils.benchmark's blocked_autorange for
   resnet18 at batch 1 and a small MLP (interleaved rounds, same threads);
2. overhead: at most 1 us per iteration above torch.utils.benchmark's on a no-op;
3. repeatability: CV of resnet18 b1's median across 5 separate `bench run` processes <= 2%;
4. time to result: `bench run suites/default.toml` within 1.25x the sum of its per-case budgets.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.measure.timing.agreement import compare, model_callable, overhead
from bench.measure.timing.engine import DEFAULT_POLICY

ROOT = Path(__file__).resolve().parent.parent
RESNET18_SUITE = """\
[suite]
name = "resnet18-b1"

[[models]]
name = "resnet18"
factory = "torchvision.models:resnet18"
input_shape = [3, 224, 224]
"""


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def bench_run(suite: Path, out: Path, *extra: str) -> tuple[list[dict[str, str]], float, float]:
    """Run `bench run` in its own process: its rows, its wall time and its latency-phase time."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", str(suite), "--out", str(out), "--quiet", *extra],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"bench run failed: {done.stderr.strip()}")
    run_dir = Path(done.stdout.strip())
    cases = json.loads((run_dir / "run.json").read_text())["cases"]
    latency_s = sum(case.get("latency_measure_s") or 0.0 for case in cases)
    with (run_dir / "results.csv").open(newline="") as handle:
        return list(csv.DictReader(handle)), elapsed, latency_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="fewer, shorter rounds")
    parser.add_argument("--threads", type=int, help="intra-op threads (default: torch's)")
    parser.add_argument("--skip-suite", action="store_true", help="skip target 4")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds, seconds = (2, 0.5) if args.short else (5, 2.0)
    runs = 3 if args.short else 5
    budget = "0.5s" if args.short else f"{DEFAULT_POLICY.budget_s}s"
    threads = torch.get_num_threads()
    print(f"threads {threads}; {rounds} interleaved rounds of {seconds} s per timer")

    for name in ("resnet18_b1", "mlp_b1"):
        a = compare(name, model_callable(name), rounds, seconds)
        ratios = ", ".join(f"{r:.3f}" for r in a.ratios)
        print(
            f"1. agreement {name}: median ratio harness/torch {a.median_ratio:.3f}"
            f" (rounds {ratios}); harness {statistics.median(a.harness_median_ms):.4f} ms,"
            f" torch {statistics.median(a.torch_median_ms):.4f} ms; target +-3%: {verdict(a.met)}"
        )

    o = overhead(rounds, seconds)
    print(
        f"2. overhead on a no-op: harness {o.harness_ns:.1f} ns, torch {o.torch_ns:.1f} ns,"
        f" difference {o.difference_ns:+.1f} ns; target <= +1000 ns: {verdict(o.met)}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "resnet18.toml"
        suite.write_text(RESNET18_SUITE)
        extra = ["--metrics", "latency", "--budget", budget, "--threads", str(threads)]
        medians = [
            float(bench_run(suite, Path(tmp) / "r", *extra)[0][0]["latency_median_ms"])
            for _ in range(runs)
        ]
        cv = statistics.stdev(medians) / statistics.mean(medians)
        listed = ", ".join(f"{m:.3f}" for m in medians)
        print(
            f"3. repeatability resnet18 b1, {runs} separate runs (budget {budget}):"
            f" medians [{listed}] ms, CV {100 * cv:.2f}%; target <= 2%: {verdict(cv <= 0.02)}"
        )

        if not args.skip_suite:
            suite_args = ["--budget", budget, "--threads", str(threads)]
            rows, wall_s, latency_s = bench_run(
                ROOT / "suites" / "default.toml", Path(tmp) / "d", *suite_args
            )
            budget_sum = len(rows) * float(budget.rstrip("s"))
            ratio = wall_s / budget_sum
            print(
                f"4. time to result: default suite, {len(rows)} cases x {budget} ="
                f" {budget_sum:.1f} s of budgets, finished in {wall_s:.1f} s"
                f" ({ratio:.2f}x, process start-up included); target <= 1.25x: "
                f"{verdict(ratio <= 1.25)}; of which timing latency took {latency_s:.1f} s"
                f" ({latency_s / budget_sum:.2f}x the budgets; the rest: start-up, model builds,"
                " FLOP counting and the memory pass)"
            )


if __name__ == "__main__":
    main()
