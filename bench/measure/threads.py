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


NEIGHBOUR_CORES = 0.5
"""Other processes' CPU, in cores, at the start of a run from which it advises fewer threads."""


def neighbour_advice(source: Any = None, seconds: float = 0.15, sleep: Any = None) -> str | None:
    """Advice when other processes are already busy as a run starts, else None.

    The default stays every core (torch's, what the user's own script gets): measured on a
    2-core VM (benchmarks/default_threads.py, 6 interleaved rounds), two threads ran resnet18
    1.85x faster than one on a quiet machine. Beside one busy process they ran it 1.26x (b1) to
    2.3x (b8) slower than one, and a small MLP collapsed 185x in one round, because a parallel
    region waits for its preempted thread. Choosing fewer threads by itself would make two runs
    (two shards of one suite, a baseline and a change) differ in threads with the load of the
    moment, and their numbers incomparable; so the run keeps its threads, says what it saw,
    and the contention probe flags every case the neighbour slows.
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
        return None
    fewer = max(1, cores - round(busy))
    return (
        f"other processes were using {busy:.1f} of {cores} cores as the run started: with a "
        "thread on every core, a parallel region waits for its preempted threads (up to 2.3x "
        f"slower measured); quote only rows not flagged contended, or run with --threads {fewer}"
    )
