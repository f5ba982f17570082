"""report.md's memory section: what the peak consists of, in human units, per case.

A pure renderer like report.py; it lives apart so the main table stays one screen wide.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.records import MemoryStats, Result
from bench.report.tables import compact_table
from bench.units import human_bytes

HEADERS = [
    "Case",
    "Weights",
    "Resident",
    "Peak allocated",
    "Activation peak",
    "Peak reserved",
    "RSS high-water",
    "Pass (s)",
]

GUIDE = """\
Which peak is which: *Weights* are the parameters and buffers, by dtype. *Resident* is what was
live before the measured step: weights, input and, in train mode, the optimizer's state (SGD
momentum) and any gradients kept between steps. *Peak allocated* is the most memory held during
one steady-state step, measured after a warm-up step (eval: a forward pass; train: forward,
backward and optimizer step), resident state included; it is `peak_memory_bytes` in results.csv
(CUDA: `torch.cuda.max_memory_allocated`; CPU: replayed from the profiler's allocation and free
records, exact and repeatable). *Activation peak* = Peak allocated - Resident: what the step
needs on top of its state (activations, workspaces and, in training, the fresh gradients); this is
what grows with the batch size. *Peak reserved* (CUDA only) is the caching allocator's pool, what
the device really had to hold. *RSS high-water* is the whole process's resident set over the
measured step (interpreter and libraries included): coarse, for orientation only. *Pass* is the
wall time the memory pass added to the case."""


def weights_cell(memory: MemoryStats) -> str:
    """E.g. `float32 44.6 MiB`: one entry per dtype, so mixed precision shows what is what."""
    totals: dict[str, int] = {}
    for by_dtype in (memory.param_bytes_by_dtype, memory.buffer_bytes_by_dtype):
        for dtype, nbytes in by_dtype.items():
            totals[dtype] = totals.get(dtype, 0) + nbytes
    return ", ".join(f"{dtype} {human_bytes(n)}" for dtype, n in sorted(totals.items())) or "none"


def memory_section(results: Iterable[Result]) -> list[str]:
    """Lines of the section, or none when no case measured memory."""
    rows = [
        [
            f"`{r.case.label}`",
            weights_cell(r.memory),
            human_bytes(r.memory.resident_bytes),
            human_bytes(r.memory.peak_allocated_bytes),
            human_bytes(r.memory.activation_peak_bytes),
            human_bytes(r.memory.peak_reserved_bytes),
            human_bytes(r.memory.rss_peak_bytes),
            "" if r.memory.pass_s is None else f"{r.memory.pass_s:.2f}",
        ]
        for r in results
        if r.memory is not None
    ]
    if not rows:
        return []
    table = compact_table(rows, HEADERS, "l" + "r" * 7)
    return ["**Memory:**", "", table, ""]
