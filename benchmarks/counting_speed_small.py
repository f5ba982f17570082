"""Counts-only speed on small models: `bench run --metrics params,flops` against ptflops
counting the same 10 models in one process, interleaved round by round.

The 10: resnet18, mobilenet_v3_small, squeezenet1_1, shufflenet_v2_x0_5, mnasnet0_5, alexnet
(torchvision, weights=None, 224 px) and the zoo's mlp_bn, mnist_cnn, cifar10_net, unet. Each
side is one fresh process that imports what it needs, builds every model and counts it (ptflops
with its `aten` backend, the exact one). One untimed warm-up of each side first, with bytecode
caches allowed (see benchmarks/counting_speed.py: otherwise both sides recompile torch's sources,
about 4 s, which swamps what is compared). Prints each round's seconds and ratio, and the
median ratio; asserts nothing. Needs ptflops importable (e.g. `uv pip install ptflops`).

    PYTHONPATH=. python benchmarks/counting_speed_small.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TORCHVISION = ["resnet18", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x0_5",
               "mnasnet0_5", "alexnet"]  # fmt: skip
ZOO = [("mlp_bn", "", (1, 28, 28)), ("mnist_cnn", "", (1, 28, 28)),
       ("cifar10_net", "", (3, 32, 32)), ("unet", "base=16, depth=3", (3, 128, 128))]  # fmt: skip

PTFLOPS = f"""
import torch, torchvision
from ptflops import get_model_complexity_info
from bench import zoo
models = [(lambda n=n: getattr(torchvision.models, n)(weights=None), (3, 224, 224))
          for n in {TORCHVISION!r}]
models += [(lambda n=n, k=k: eval(f"zoo.{{n}}({{k}})"), s) for n, k, s in {ZOO!r}]
for make, shape in models:
    get_model_complexity_info(make().eval(), shape, as_strings=False,
                              print_per_layer_stat=False, backend="aten")
"""


def suite_text() -> str:
    lines = ['[suite]\nname = "small10"\n']
    for name in TORCHVISION:
        lines.append(f'[[models]]\nname = "{name}"\nfactory = "torchvision.models:{name}"\n'
                     "input_shape = [3, 224, 224]\n")  # fmt: skip
    for name, kwargs, shape in ZOO:
        entry = f'[[models]]\nname = "{name}"\nfactory = "bench.zoo:{name}"\n'
        entry += f"input_shape = {list(shape)}\n"
        if kwargs:
            entry += "kwargs = { " + kwargs.replace("=", " = ") + " }\n"
        lines.append(entry)
    return "\n".join(lines)


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=ENV)
    if done.returncode != 0:
        sys.exit(f"{command[:4]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "small10.toml"
        suite.write_text(suite_text(), encoding="utf-8")
        bench = [sys.executable, "-m", "bench", "run", str(suite), "--metrics", "params,flops",
                 "--quiet", "--out", str(Path(tmp) / "out")]  # fmt: skip
        ptflops = [sys.executable, "-c", PTFLOPS]
        print(f"load average before: {os.getloadavg()}")
        timed(bench), timed(ptflops)  # warm-up: bytecode caches, page cache
        ratios = []
        for round_number in range(1, args.rounds + 1):
            bench_s, ptflops_s = timed(bench), timed(ptflops)
            ratios.append(bench_s / ptflops_s)
            print(f"round {round_number}: bench {bench_s:.2f} s, ptflops {ptflops_s:.2f} s, "
                  f"bench/ptflops {ratios[-1]:.2f}x")  # fmt: skip
        print(f"median bench/ptflops: {statistics.median(ratios):.2f}x")
        print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
