"""Figures for the memory pass: the memory checks and how long the memory pass adds to a case.

    PYTHONPATH=. python benchmarks/memory_pass.py [SUITE]   (default: suites/default.toml)

Prints (1) the 32 MiB clone's peak over three runs, (2) in-place vs out-of-place ReLU train-step
peaks for mnist_cnn, cifar10_net and a frozen-stem channels-last CNN, (3) the memory pass's wall
time for every case of SUITE, alone and after a latency pass, against the case's step time,
(4) the profiler's overhead on one step.
Bytes are deterministic; the times depend on the machine's load: quote them from a quiet one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

from bench.measure.case import RunOptions, measure_case
from bench.measure.memory.step import measure_memory
from bench.measure.timing.engine import QUICK_POLICY
from bench.model.workload import make_workload
from bench.records import MemoryStats
from bench.report.memory import human_bytes
from bench.suite.load import expand, load_suite
from bench.zoo import cifar10_net, mnist_cnn

MIB = 1024 * 1024


class CloneThenSum(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone().sum()


def frozen_stem(inplace: bool) -> nn.Module:
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(inplace=inplace),
        nn.MaxPool2d(4),
        nn.Flatten(),
        nn.Linear(16 * 8 * 8, 10),
    )
    model[0].requires_grad_(False)
    return model.to(memory_format=torch.channels_last)


def memory_of(model: nn.Module, example: torch.Tensor, mode: str) -> MemoryStats:
    workload = make_workload(model, example, mode)
    with workload.context():
        return measure_memory(workload, model, [example], example.device)


def main(suite_path: Path) -> None:
    print("== 32 MiB clone (eval), three runs")
    x = torch.randn(32 * MIB // 4)
    for run in range(3):
        s = memory_of(CloneThenSum(), x, "eval")
        print(
            f"run {run}: peak {s.peak_allocated_bytes} B, resident {s.resident_bytes} B, "
            f"activation peak {s.activation_peak_bytes} B "
            f"(32 MiB + {s.activation_peak_bytes - 32 * MIB} B), pass {s.pass_s:.3f} s"
        )

    print("\n== in-place ReLU, train step (peak allocated; activation peak)")
    variants = [
        ("mnist_cnn b8", lambda i: mnist_cnn(inplace=i), (8, 1, 28, 28), False),
        ("mnist_cnn b64", lambda i: mnist_cnn(inplace=i), (64, 1, 28, 28), False),
        ("cifar10_net b64", lambda i: cifar10_net(inplace=i), (64, 3, 32, 32), False),
        ("frozen-stem CNN b4", frozen_stem, (4, 3, 32, 32), True),
    ]
    for name, build, shape, channels_last in variants:
        peaks = []
        for inplace in (False, True):
            torch.manual_seed(0)
            example = torch.randn(*shape)
            if channels_last:
                example = example.contiguous(memory_format=torch.channels_last)
            peaks.append(memory_of(build(inplace), example, "train"))
        out, inp = peaks
        print(
            f"{name}: out-of-place {out.peak_allocated_bytes} ({out.activation_peak_bytes}), "
            f"in-place {inp.peak_allocated_bytes} ({inp.activation_peak_bytes}), "
            f"saving {out.peak_allocated_bytes - inp.peak_allocated_bytes} B"
        )

    print(f"\n== memory pass time per case, {suite_path}")
    print("alone: metrics = memory; after latency: metrics = latency,memory with --quick timing;")
    print("overhead = pass - 2 x median step (the pass runs a warm-up step and the measured one)")
    alone = RunOptions(metrics=frozenset({"memory"}))
    after = RunOptions(metrics=frozenset({"latency", "memory"}), timing=QUICK_POLICY)
    for case in expand(load_suite(suite_path)):
        first = measure_case(case, alone)
        second = measure_case(case, after)
        if first.memory is None or second.memory is None or second.latency is None:
            print(f"{case.label}: {first.status} {first.error} {second.error}")
            continue
        memory = second.memory
        step_s = second.latency.median_ms / 1e3
        print(
            f"{case.label}: pass alone {first.memory.pass_s:.3f} s, after latency "
            f"{memory.pass_s:.3f} s, step {step_s:.3f} s, "
            f"overhead {memory.pass_s - 2 * step_s:+.3f} s; "
            f"weights {human_bytes(memory.param_bytes + memory.buffer_bytes)}, "
            f"peak {human_bytes(memory.peak_allocated_bytes)}, "
            f"activation peak {human_bytes(memory.activation_peak_bytes)}"
        )


def profiler_overhead() -> None:
    """Profiled step vs plain step, interleaved so machine load hits both alike."""
    import statistics
    import time

    import torchvision

    from bench.measure.memory.probes import cpu_allocation_peak

    print("\n== profiler overhead on the measured step (median of 7, interleaved)")
    for name, build, shape, mode in [
        ("resnet18 b1 eval", torchvision.models.resnet18, (1, 3, 224, 224), "eval"),
        ("resnet18 b8 train", torchvision.models.resnet18, (8, 3, 224, 224), "train"),
        ("mnist_cnn b64 train", mnist_cnn, (64, 1, 28, 28), "train"),
    ]:
        torch.manual_seed(0)
        model, example = build(), torch.randn(*shape)
        workload = make_workload(model, example, mode)
        plain, profiled = [], []
        with workload.context():
            for _ in range(8):
                for timed, wrap in ((plain, lambda f: f()), (profiled, cpu_allocation_peak)):
                    if workload.setup is not None:
                        workload.setup()
                    started = time.perf_counter()
                    wrap(workload.run)
                    timed.append(time.perf_counter() - started)
        plain_s, profiled_s = statistics.median(plain[1:]), statistics.median(profiled[1:])
        print(
            f"{name}: plain {plain_s * 1e3:.1f} ms, profiled {profiled_s * 1e3:.1f} ms "
            f"(x{profiled_s / plain_s:.2f})"
        )


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("suites/default.toml"))
    profiler_overhead()
