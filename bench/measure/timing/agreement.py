"""The harness against torch.utils.benchmark: same callable, same threads, interleaved rounds.

`torch.utils.benchmark.Timer.blocked_autorange` is the reference a PyTorch engineer trusts. Both
timers run the same Python callable, on the same thread count (the Timer is told it explicitly,
since its default is one thread), alternating round by round so that drift in the machine's state
(frequency, other processes) hits both equally. The figure is the median of per-round ratios
harness/reference; on a noisy machine single rounds scatter, the median of ratios does not.

On a machine shared with other busy processes the two can differ systematically for calls far
shorter than a scheduler tick: the harness's blocks are sized from the clock's cost (tens of
microseconds), the reference's last milliseconds, and a long block is far more likely to contain
a preemption. Agreement is a figure for a quiet machine; `machine noise` says whether this is one.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

# torch.utils.benchmark imports cpp_extension, which logs "No CUDA runtime is found" on a machine
# without a GPU; bench's stderr carries only bench's own messages.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
from torch import nn  # noqa: E402
from torch.utils import benchmark as torch_benchmark  # noqa: E402

from bench.measure.timing.engine import CpuTimer, TimingPolicy, measure_latency  # noqa: E402
from bench.model.variants import autocast  # noqa: E402
from bench.model.workload import make_workload  # noqa: E402

AGREEMENT_TOLERANCE = 0.03
"""Target: the harness's median within +-3% of torch.utils.benchmark's."""
OVERHEAD_LIMIT_NS = 1000.0
"""Target: at most 1 us per iteration more than torch.utils.benchmark on a no-op."""
WORKLOAD_OVERHEAD_LIMIT_NS = 200.0
"""Target: an nn.Identity model's eval workload (bench's timed forward, make_workload) at most
0.2 us per call above torch.utils.benchmark timing `model(x)` itself."""


@dataclass(frozen=True)
class Reference:
    """What torch.utils.benchmark times: a statement and its globals (default: `fn()`)."""

    stmt: str
    globals: dict[str, Any]


@dataclass(frozen=True)
class Agreement:
    name: str
    threads: int
    harness_median_ms: tuple[float, ...]
    torch_median_ms: tuple[float, ...]
    ratios: tuple[float, ...]
    median_ratio: float
    met: bool


@dataclass(frozen=True)
class Overhead:
    harness_ns: float
    torch_ns: float
    difference_ns: float
    met: bool


def torch_median_ms(
    fn: Callable[[], Any],
    min_run_time_s: float,
    threads: int,
    reference: Reference | None = None,
) -> float:
    """torch.utils.benchmark's blocked_autorange median of fn (or of `reference`), in ms."""
    if reference is None:
        reference = Reference("fn()", {"fn": fn})
    timer = torch_benchmark.Timer(
        stmt=reference.stmt, globals=reference.globals, num_threads=threads
    )
    return timer.blocked_autorange(min_run_time=min_run_time_s).median * 1e3


def harness_median_ms(fn: Callable[[], Any], budget_s: float, min_blocks: int = 10) -> float:
    policy = TimingPolicy(budget_s=budget_s, min_blocks=min_blocks)
    return measure_latency(fn, CpuTimer(), policy).median_ms


def compare(
    name: str,
    fn: Callable[[], Any],
    rounds: int,
    seconds_per_round: float,
    min_blocks: int = 10,
    reference: Reference | None = None,
) -> Agreement:
    """Interleaved rounds of the harness on fn and torch.utils.benchmark on `reference` (default:
    fn too), under the current threads."""
    threads = torch.get_num_threads()
    ours: list[float] = []
    theirs: list[float] = []
    for _ in range(rounds):
        ours.append(harness_median_ms(fn, seconds_per_round, min_blocks))
        theirs.append(torch_median_ms(fn, seconds_per_round, threads, reference))
        torch.set_num_threads(threads)  # the Timer restores it too; make sure of it
    ratios = tuple(a / b for a, b in zip(ours, theirs, strict=True))
    median_ratio = statistics.median(ratios)
    return Agreement(
        name=name,
        threads=threads,
        harness_median_ms=tuple(ours),
        torch_median_ms=tuple(theirs),
        ratios=ratios,
        median_ratio=median_ratio,
        met=abs(median_ratio - 1.0) <= AGREEMENT_TOLERANCE,
    )


def model_callable(name: str) -> Callable[[], Any]:
    """resnet18 at batch 1 (224x224) or the zoo's small MLP (784-300-100-10 with ReLU), eval."""
    torch.manual_seed(0)
    if name == "resnet18_b1":
        import torchvision

        model = torchvision.models.resnet18(weights=None).eval()
        example = torch.randn(1, 3, 224, 224)
    elif name == "mlp_b1":
        from bench.zoo import mlp_relu

        model = mlp_relu().eval()
        example = torch.randn(1, 1, 28, 28)
    else:
        raise ValueError(f"unknown cross-check model {name!r}; allowed: resnet18_b1, mlp_b1")

    def forward() -> None:
        with torch.inference_mode():
            model(example)

    return forward


def noop() -> None:
    """The cheapest callable: its time per iteration is the timer's own per-iteration cost."""


def overhead(rounds: int, seconds_per_round: float, min_blocks: int = 10) -> Overhead:
    """Per-iteration cost on a no-op, harness vs reference (medians over interleaved rounds)."""
    return overhead_of(compare("noop", noop, rounds, seconds_per_round, min_blocks))


def overhead_of(agreement: Agreement, limit_ns: float = OVERHEAD_LIMIT_NS) -> Overhead:
    """The harness's per-call excess in an agreement run: the difference of the two medians."""
    harness_ns = statistics.median(agreement.harness_median_ms) * 1e6
    torch_ns = statistics.median(agreement.torch_median_ms) * 1e6
    difference_ns = harness_ns - torch_ns
    return Overhead(harness_ns, torch_ns, difference_ns, difference_ns <= limit_ns)


def identity_workload() -> tuple[Callable[[], Any], Reference]:
    """An nn.Identity model's eval workload as `bench run` times a float32 CPU case (through
    make_workload with the case's autocast factory), and the plain `model(x)` that a user would
    hand torch.utils.benchmark. Their difference is what bench's forward path adds per call."""
    model, example = nn.Identity(), torch.zeros(1, 8)
    workload = make_workload(model, example, "eval", autocast("float32", "cpu"))
    return workload.run, Reference("model(x)", {"model": model, "x": example})


def workload_overhead(rounds: int, seconds_per_round: float, min_blocks: int = 10) -> Agreement:
    """Interleaved rounds: bench on the Identity workload, torch.utils.benchmark on `model(x)`,
    both under inference mode (the eval workload's context, entered once around the timing as
    `bench run` does)."""
    run, reference = identity_workload()
    with torch.inference_mode():
        return compare("identity_workload", run, rounds, seconds_per_round, min_blocks, reference)
