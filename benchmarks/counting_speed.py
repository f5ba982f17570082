"""How long `bench run --metrics params,flops` takes to count big models, beside ptflops.

For vit_h_14 at 518 (`image_size = 518`) and regnet_y_128gf at 384 (both with weights=None),
times, each in a fresh subprocess so every side pays its own imports and model build:

(a) `bench run SUITE --metrics params,flops --quiet` on a temporary suite holding both models
    (what a user runs; add `--crosscheck` with --bench-flags to include fvcore's trace);
(b) ptflops' `get_model_complexity_info` for each model, per backend (`pytorch`, `aten`).

Prints wall seconds, the ratio of (a) to the sum of (b) per backend, both tools' counts, and
the load average before and after (the machine may be shared: read the figures beside it).
It is not a test and asserts nothing. Needs ptflops (`uv pip install ptflops`).

Before timing, one untimed warm-up (a counts-only `bench run` of a tiny model, and importing
ptflops and torchvision) runs with bytecode writing allowed, so both sides start from compiled
`.pyc` files as after a normal install: with PYTHONDONTWRITEBYTECODE set and no caches, every
process recompiles torch's and torchvision's sources (about 12 s each on a loaded 2-core machine),
which would swamp what is compared.

    PYTHONPATH=. python benchmarks/counting_speed.py [--backends pytorch,aten] [--bench-flags=...]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = [
    # (name, torchvision builder, builder kwargs, square input side)
    ("vit_h_14", "vit_h_14", {"image_size": 518}, 518),
    ("regnet_y_128gf", "regnet_y_128gf", {}, 384),
]

SUITE = """[suite]
name = "counting_speed"
devices = ["cpu"]
dtypes = ["float32"]
batch_sizes = [1]
"""

MODEL_ENTRY = """
[[models]]
name = "{name}"
factory = "torchvision.models:{builder}"
input_shape = [3, {side}, {side}]
{kwargs}"""

PTFLOPS = """
import json, sys, torch, torchvision
from ptflops import get_model_complexity_info
builder, kwargs, side, backend = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
model = getattr(torchvision.models, builder)(weights=None, **kwargs).eval()
with torch.no_grad():
    macs, params = get_model_complexity_info(
        model, (3, side, side), as_strings=False, print_per_layer_stat=False, backend=backend
    )
print(json.dumps({"macs": macs, "params": params}))
"""


def _toml_kwargs(kwargs: dict[str, int]) -> str:
    if not kwargs:
        return ""
    return "kwargs = { " + ", ".join(f"{k} = {v}" for k, v in kwargs.items()) + " }\n"


# bytecode caches may be written (see the module docstring)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

WARMUP_ENTRY = """
[[models]]
name = "mnist_cnn"
factory = "bench.zoo:mnist_cnn"
input_shape = [1, 28, 28]
"""


def _timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=ENV)
    return time.perf_counter() - start, done


def time_bench(flags: list[str], entries: str = "") -> tuple[float, dict[str, dict[str, str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "suite.toml"
        entries = entries or "".join(
            MODEL_ENTRY.format(name=n, builder=b, side=s, kwargs=_toml_kwargs(k))
            for n, b, k, s in MODELS
        )
        suite.write_text(SUITE + entries, encoding="utf-8")
        out = Path(tmp) / "out"
        command = [sys.executable, "-m", "bench", "run", str(suite), "--metrics", "params,flops"]
        seconds, done = _timed([*command, "--quiet", "--out", str(out), *flags])
        if done.returncode != 0:
            sys.exit(f"bench run failed ({done.returncode}):\n{done.stderr[-2000:]}")
        rows = {}
        for results in out.glob("*/results.csv"):
            with results.open(encoding="utf-8") as handle:
                rows = {row["model"]: row for row in csv.DictReader(handle)}
    return seconds, rows


def time_ptflops(
    builder: str, kwargs: dict[str, int], side: int, backend: str
) -> tuple[float, dict]:
    command = [sys.executable, "-c", PTFLOPS, builder, json.dumps(kwargs), str(side), backend]
    seconds, done = _timed(command)
    if done.returncode != 0:
        return seconds, {"error": done.stderr.strip().splitlines()[-1:]}
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="pytorch", help="ptflops backends, comma-separated")
    parser.add_argument("--bench-flags", default="", help="extra `bench run` flags, one string")
    args = parser.parse_args()
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")

    warmup_s, _ = time_bench(args.bench_flags.split(), WARMUP_ENTRY)
    _timed([sys.executable, "-c", "import torchvision, ptflops"])
    print(f"warm-up (untimed in the figures below): {warmup_s:.1f} s")

    bench_s, rows = time_bench(args.bench_flags.split())
    print(f"\nbench run --metrics params,flops {args.bench_flags}: {bench_s:.1f} s (both models)")
    for name, *_ in MODELS:
        row = rows.get(name, {})
        print(
            f"  {name}: params {row.get('params')}, MACs {row.get('macs')}, status "
            f"{row.get('status')}, counted on {row.get('flops_counted_on')}"
        )

    for backend in args.backends.split(","):
        total = 0.0
        print(f"\nptflops backend={backend} (one fresh process per model):")
        for name, builder, kwargs, side in MODELS:
            seconds, counted = time_ptflops(builder, kwargs, side, backend)
            total += seconds
            print(f"  {name}: {seconds:.1f} s, {counted}")
        print(f"  total {total:.1f} s; bench / ptflops = {bench_s / total:.2f}x")

    load_after = os.getloadavg()
    print(f"\nload average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
