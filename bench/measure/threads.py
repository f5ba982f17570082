"""Thread counts and numerics flags: set only when asked, always recorded per case.

Intra-op threads change a CPU latency more than most code changes do, and torch.utils.benchmark
defaults to one thread where a plain script uses all cores, so every row records what it ran
with. Inter-op threads can only be set before torch starts its inter-op pool, so they are
recorded, not set. TF32 and cuDNN flags are read, never changed: a harness that flips them
silently (as timm's script does) reports numbers the user's own code will not see.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch


@contextlib.contextmanager
def intra_op_threads(threads: int | None) -> Iterator[None]:
    """Run the block with `threads` intra-op threads (None: leave as is), then restore."""
    if threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def thread_counts() -> tuple[int, int]:
    """(intra-op, inter-op) thread counts in effect now."""
    return torch.get_num_threads(), torch.get_num_interop_threads()


def numerics_flags() -> dict[str, Any]:
    """The flags that change CUDA numerics or kernel choice, as they are now."""
    return {
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }


@dataclass(frozen=True)
class ThreadChoice:
    """The intra-op threads a run uses when neither `--threads` nor the suite says, and why."""

    threads: int | None  # None: torch's default (every core)
    reason: str


NEIGHBOUR_CORES = 0.5
"""Other processes' CPU, in cores, at the start of a run from which it leaves their cores free."""


def default_threads(source: Any = None, seconds: float = 0.15, sleep: Any = None) -> ThreadChoice:
    """Every core, unless other processes are already busy: then one core fewer per busy core.

    Measured on a 2-core VM (benchmarks/default_threads.py, 6 interleaved rounds): on a quiet
    machine two threads ran resnet18 1.85x faster than one (what torch gives a script, and what
    the user's code sees); beside one busy process two threads ran it 1.26x (b1) to 2.3x (b8)
    slower than one, and a small MLP collapsed 185x in one round, because a parallel region
    waits for its preempted thread. So a run that starts beside a busy neighbour leaves it its
    cores, and says so; one that starts quiet keeps torch's default, and the contention probe
    flags any neighbour that arrives later.
    """
    import time

    from bench.measure.contention import ContentionProbe

    probe = ContentionProbe(1, source)
    probe.start()
    (sleep or time.sleep)(seconds)
    reading = probe.stop()
    cores = reading.cores
    busy = reading.others_cpu_s / reading.wall_s if reading.wall_s > 0 else 0.0
    if busy < NEIGHBOUR_CORES or cores < 2:
        return ThreadChoice(None, f"every core ({cores}): the machine was quiet at the start")
    threads = max(1, cores - round(busy))
    return ThreadChoice(
        threads,
        f"{threads} of {cores} cores: other processes were using {busy:.1f} core(s) at the start "
        "(a parallel region beside them waits for its preempted threads); --threads to override",
    )
