"""The memory pass's record: peak, resident state and what the step added on top."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MemoryStats:
    """One memory pass: a warm step, then the measured step's peak and what it consists of.

    `resident_bytes` is what was live before the measured step (weights, buffers, input and, in
    train mode, optimizer state and any gradients), so `peak_allocated_bytes - resident_bytes`
    is what the step itself needs on top: activations, workspaces and, in training, gradients.
    """

    peak_allocated_bytes: int
    resident_bytes: int
    source: str  # "profiler" (CPU allocation events) or "cuda-allocator"
    peak_reserved_bytes: int | None = None  # CUDA caching allocator's pool; None on CPU
    param_bytes_by_dtype: Mapping[str, int] = field(default_factory=dict)
    buffer_bytes_by_dtype: Mapping[str, int] = field(default_factory=dict)
    resident_by_kind: Mapping[str, int] = field(default_factory=dict)
    rss_peak_bytes: int | None = None  # process RSS high-water over an unprofiled step
    pass_s: float | None = None  # wall time of the whole memory pass

    @property
    def activation_peak_bytes(self) -> int:
        return self.peak_allocated_bytes - self.resident_bytes

    @property
    def param_bytes(self) -> int:
        return sum(self.param_bytes_by_dtype.values())

    @property
    def buffer_bytes(self) -> int:
        return sum(self.buffer_bytes_by_dtype.values())

    def detail(self) -> dict[str, Any]:
        """The run.json record: every figure, by dtype and by kind of resident state."""
        return {
            "source": self.source,
            "peak_allocated_bytes": self.peak_allocated_bytes,
            "peak_reserved_bytes": self.peak_reserved_bytes,
            "resident_bytes": self.resident_bytes,
            "activation_peak_bytes": self.activation_peak_bytes,
            "param_bytes_by_dtype": dict(self.param_bytes_by_dtype),
            "buffer_bytes_by_dtype": dict(self.buffer_bytes_by_dtype),
            "resident_by_kind": dict(self.resident_by_kind),
            "rss_peak_bytes": self.rss_peak_bytes,
            "pass_s": self.pass_s,
        }
