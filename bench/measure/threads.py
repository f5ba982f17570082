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
