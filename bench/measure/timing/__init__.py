"""Latency: timers (CPU clock, CUDA events with synchronize), and the engine that warms up to a
steady state, sizes blocks to the clock's cost and samples until the median's interval is tight.

`agreement` (the cross-check against `torch.utils.benchmark`, used by `bench doctor`) is
imported on demand: it pulls in torch.utils.benchmark.
"""

from bench.measure.timing.engine import (
    DEFAULT_POLICY,
    EXPERIMENT_POLICY,
    QUICK_POLICY,
    TimingPolicy,
    Warmup,
    measure_latency,
    warm_up,
)
from bench.measure.timing.timers import BlockTiming, Clock, CpuTimer, CudaTimer, Timer

__all__ = [
    "DEFAULT_POLICY",
    "EXPERIMENT_POLICY",
    "QUICK_POLICY",
    "BlockTiming",
    "Clock",
    "CpuTimer",
    "CudaTimer",
    "Timer",
    "TimingPolicy",
    "Warmup",
    "measure_latency",
    "warm_up",
]
