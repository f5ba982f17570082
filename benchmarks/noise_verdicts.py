"""Verdicts on a noisy machine, measured and printed (not asserted: they take minutes).

    PYTHONPATH=. python benchmarks/noise_verdicts.py aa [--runs 6] [--suite FILE]
    PYTHONPATH=. python benchmarks/noise_verdicts.py ab [--tries 3]
    PYTHONPATH=. python benchmarks/noise_verdicts.py gate [--tries 3]

- aa: the same suite run N times (`bench run`, one after another), every pair compared with
  `bench compare`'s rule: how many `faster`/`slower` verdicts (all false: nothing changed),
  how many `same`, and how long the runs took. Record the machine's noise floor first with
  `bench doctor` (compare uses it; without one the script says so).
- ab: a throwaway git repository with one model, committed twice: unchanged, then 1.15x slower
  (the forward repeats its layers 23 times instead of 20). `bench ab` BASE=HEAD~1 NEW=HEAD must
  say `slower` with the interval above 1.05, and BASE=HEAD NEW=HEAD (identical code) must never
  say `faster`/`slower`; each tried N times.
- gate: a pytest-benchmark file saved as a baseline, then run N times unchanged and N times with
  the model 1.5x slower under `--benchmark-compare --bench-gate 10`: exit codes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AA_SUITE = """\
[suite]
name = "aa"
devices = ["cpu"]

[[models]]
name = "mlp_bn"
factory = "bench.zoo:mlp_bn"
input_shape = [1, 28, 28]
batch_sizes = [1, 64]

[[models]]
name = "mnist_cnn"
factory = "bench.zoo:mnist_cnn"
input_shape = [1, 28, 28]
batch_sizes = [64]

[[models]]
name = "cifar10_net"
factory = "bench.zoo:cifar10_net"
input_shape = [3, 32, 32]
batch_sizes = [1]
"""

MODEL = """\
import torch
from torch import nn

REPEATS = {repeats}


class Stack(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256))

    def forward(self, x):
        for _ in range(REPEATS):
            x = self.layers(x)
        return x


def make():
    return Stack()
"""

AB_SUITE = """\
[suite]
name = "ab"
devices = ["cpu"]

[[models]]
name = "stack"
factory = "model.py:make"
input_shape = [256]
batch_sizes = [16]
"""


def bench(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "bench", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)


def aa(
    runs: int,
    suite_path: Path | None,
    budget: str | None,
    extra: list[str],
    keep: Path | None = None,
) -> None:
    from bench.compare import compare_runs, load_side
    from bench.compare.history import aa_floors

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        suite = suite_path or work / "aa.toml"
        if suite_path is None:
            suite.write_text(AA_SUITE)
        started = time.perf_counter()
        dirs = []
        for number in range(1, runs + 1):
            flags = [*(["--budget", budget] if budget else []), *extra]
            done = bench("run", suite, "--out", work / "runs", "--quiet", *flags)
            dirs.append(Path(done.stdout.strip().splitlines()[-1]))
            print(f"run {number}: {dirs[-1].name} (exit {done.returncode})", flush=True)
        elapsed = time.perf_counter() - started
        sides = [load_side(d) for d in dirs]
        floor = sides[0].noise_floor
        verdicts: Counter[str] = Counter()
        false_calls = []
        for (i, base), (j, new) in itertools.combinations(enumerate(sides, 1), 2):
            comparison = compare_runs(base, new, case_floors=aa_floors(base, new))
            for case in comparison.cases:
                verdicts[case.verdict] += 1
                if case.verdict in ("faster", "slower"):
                    t = case.timing
                    false_calls.append(
                        f"  runs {i}-{j} {case.base.label}: {case.verdict} "
                        f"{t.ratio:.3f} ({t.ci_low:.3f}-{t.ci_high:.3f})"
                    )
        print("median ms per run (95% CI half-width over blocks); max/min across runs:")
        for case in sides[0].cases:
            medians, widths = [], []
            for side in sides:
                match = next((c for c in side.cases if c.key == case.key), None)
                lat = _latency(match)
                if lat is not None:
                    medians.append(lat.median_ms)
                    widths.append(100 * lat.relative_half_width)
            cells = "  ".join(f"{m:.4g} (+-{w:.1f}%)" for m, w in zip(medians, widths, strict=True))
            spread = max(medians) / min(medians) if medians else float("nan")
            print(f"  {case.label}: {cells}; max/min {spread:.3f}")
        total = sum(verdicts.values())
        print(f"{runs} runs took {elapsed:.0f} s; noise floor recorded: {floor}")
        print(
            f"{total} case comparisons over {runs * (runs - 1) // 2} pairs: "
            + ", ".join(f"{verdicts[v]} {v}" for v in ("slower", "faster", "same", "inconclusive"))
        )
        print(f"false faster/slower: {len(false_calls)} ({100 * len(false_calls) / total:.1f}%)")
        print(f"same: {verdicts['same']} ({100 * verdicts['same'] / total:.0f}%)")
        print("\n".join(false_calls))


def _latency(case):  # type: ignore[no-untyped-def]
    """A SideCase's statistics, rebuilt from its raw samples as the run computed them."""
    from bench.records import LatencyStats

    if case is None or not case.samples_ms:
        return None
    return LatencyStats.from_samples(
        case.samples_ms,
        samples_per_block=case.samples_per_block,
        process_sizes=case.process_sizes,
    )


def _repo(work: Path) -> Path:
    repo = work / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    (repo / "suite.toml").write_text(AB_SUITE)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    for repeats, message in ((20, "unchanged"), (23, "1.15x slower")):
        (repo / "model.py").write_text(MODEL.format(repeats=repeats))
        subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-qm", message], cwd=repo, check=True)
    return repo


def ab(tries: int, budget: str, threshold: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = _repo(Path(tmp))
        for label, base, new in (("1.15x slower", "HEAD~1", "HEAD"), ("unchanged", "HEAD", "HEAD")):
            for attempt in range(1, tries + 1):
                out = Path(tmp) / f"ab-{label[:4]}-{attempt}"
                started = time.perf_counter()
                done = bench(
                    "ab", "suite.toml", "--base", base, "--new", new, "--budget", budget,
                    "--threshold", threshold, "--out", out, cwd=repo,
                )  # fmt: skip
                took = time.perf_counter() - started
                rows = _ab_rows(out)
                print(f"{label} try {attempt} (exit {done.returncode}, {took:.0f} s): {rows}")
                if done.returncode not in (0, 1):
                    print(done.stderr[-2000:])


def _ab_rows(out: Path) -> str:
    path = out / "comparison.json"
    if not path.is_file():
        return "no comparison.json"
    record = json.loads(path.read_text())
    rows = []
    for case in record.get("cases", []):
        low, high = case.get("ci_low"), case.get("ci_high")
        interval = f"{low:.3f}-{high:.3f}" if low is not None and high is not None else "-"
        ratio = case.get("ratio")
        shown = f"{ratio:.3f}" if ratio is not None else "-"
        rows.append(f"{case.get('verdict')} {shown} ({interval}), {case.get('rounds')} rounds")
    return "; ".join(rows)


GATE_TEST = """\
import os

import torch
from torch import nn

REPEATS = int(os.environ.get("GATE_REPEATS", "20"))
torch.manual_seed(0)
LAYERS = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 256)).eval()
X = torch.randn(16, 256)


def forward():
    with torch.inference_mode():
        y = X
        for _ in range(REPEATS):
            y = LAYERS(y)


def test_stack(benchmark):
    benchmark(forward)
"""


def gate(tries: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "test_gate_model.py").write_text(GATE_TEST)
        storage = f"file://{work / 'storage'}"
        common = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                  "test_gate_model.py", f"--benchmark-storage={storage}"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        save = [*common, "--benchmark-save=base", "--benchmark-save-data"]
        saved = subprocess.run(save, cwd=work, env=env, capture_output=True, text=True)
        print(f"baseline saved (exit {saved.returncode})")
        for label, repeats in (("unchanged", "20"), ("1.5x slower", "30")):
            for attempt in range(1, tries + 1):
                done = subprocess.run(
                    [*common, "--benchmark-compare", "--bench-gate", "10"],
                    cwd=work, env={**env, "GATE_REPEATS": repeats},
                    capture_output=True, text=True,
                )  # fmt: skip
                last = [line for line in done.stdout.splitlines() if "bench gate" in line]
                row = [line for line in done.stdout.splitlines() if "test_stack" in line][-1:]
                print(f"{label} try {attempt}: exit {done.returncode}; {row} {last[-1:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    one = verbs.add_parser("aa")
    one.add_argument("--runs", type=int, default=6)
    one.add_argument("--suite", type=Path)
    one.add_argument("--budget")
    one.add_argument("--processes", default="1")
    one.add_argument("--keep", type=Path, help="keep the runs in this directory")
    two = verbs.add_parser("ab")
    two.add_argument("--tries", type=int, default=3)
    two.add_argument("--budget", default="6s")
    two.add_argument("--threshold", default="5", help="percent; 5: a 1.15x change must clear 1.05")
    three = verbs.add_parser("gate")
    three.add_argument("--tries", type=int, default=3)
    args = parser.parse_args()
    if args.verb == "aa":
        aa(args.runs, args.suite, args.budget, ["--processes", args.processes], args.keep)
    elif args.verb == "ab":
        ab(args.tries, args.budget, args.threshold)
    else:
        gate(args.tries)


if __name__ == "__main__":
    main()
