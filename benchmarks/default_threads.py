"""What the default intra-op thread count costs and risks, measured (the default's evidence).

For each model of the default suite's kind, interleaved rounds time one forward with every
core's threads (torch's default) and with one fewer, first on a quiet machine, then with one
busy neighbour process (a Python spin loop, as a CI runner's other job would be). Per round the
ratio of medians; the table prints the median ratio and its range.

    python benchmarks/default_threads.py [ROUNDS]
"""

from __future__ import annotations

import multiprocessing
import os
import statistics
import sys
import time

import torch
import torchvision

from bench.zoo import mlp_relu


def spin(stop_at: float) -> None:
    while time.time() < stop_at:
        pass


def median_ms(model: torch.nn.Module, x: torch.Tensor, threads: int, seconds: float) -> float:
    torch.set_num_threads(threads)
    times = []
    end = time.perf_counter() + seconds
    with torch.inference_mode():
        model(x)
        while time.perf_counter() < end or len(times) < 5:
            start = time.perf_counter_ns()
            model(x)
            times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times)


def rounds(model, x, cores: int, count: int) -> tuple[list[float], list[float]]:
    all_cores, one_fewer = [], []
    for r in range(count):
        pair = [(cores, all_cores), (cores - 1, one_fewer)]
        for threads, out in pair if r % 2 == 0 else pair[::-1]:
            out.append(median_ms(model, x, threads, 0.4))
    return all_cores, one_fewer


def main(count: int) -> None:
    cores = os.cpu_count() or 1
    if cores < 2:
        print("one core: nothing to choose")
        return
    torch.manual_seed(0)
    models = {
        "resnet18 b1": (torchvision.models.resnet18().eval(), torch.randn(1, 3, 224, 224)),
        "resnet18 b8": (torchvision.models.resnet18().eval(), torch.randn(8, 3, 224, 224)),
        "mlp b1": (mlp_relu(in_features=784, hidden=(512, 256)).eval(), torch.randn(1, 784)),
    }
    print(f"{cores} cores; torch {torch.__version__}; {count} interleaved rounds per cell")
    print(
        f"| model | machine | {cores} threads ms | {cores - 1} threads ms | "
        f"{cores} / {cores - 1} per round: median (min-max) |"
    )
    print("|---|---|---|---|---|")
    for name, (model, x) in models.items():
        for machine in ("quiet", "one busy neighbour"):
            neighbour = None
            if machine != "quiet":
                stop_at = time.time() + 600
                neighbour = multiprocessing.Process(target=spin, args=(stop_at,), daemon=True)
                neighbour.start()
                time.sleep(0.2)
            try:
                full, fewer = rounds(model, x, cores, count)
            finally:
                if neighbour is not None:
                    neighbour.terminate()
                    neighbour.join()
            ratios = [a / b for a, b in zip(full, fewer, strict=True)]
            print(
                f"| {name} | {machine} | {statistics.median(full):.3f} | "
                f"{statistics.median(fewer):.3f} | {statistics.median(ratios):.2f} "
                f"({min(ratios):.2f}-{max(ratios):.2f}) |",
                flush=True,
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 6)
