"""What else the machine did while a case was timed: other processes' CPU time and the load.

A benchmark beside a busy process reads 10-15x slower and looks as clean as a quiet one (tight
IQR, tight CI): the competitor slows every sample alike. Only the machine can say so. The probe
snapshots, at the start and end of a timed phase, the system-wide busy CPU time (user, nice,
system, irq, softirq and hypervisor steal, from /proc/stat through psutil) and this process's own
CPU time; the difference is what other processes (and the hypervisor) took. It also reads the
1-minute load average, which lags by a minute and is recorded for the reader, not judged.

The CPU-time source is a parameter, so tests drive the probe with scripted readings.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Protocol

import psutil

from bench.records.latency import Contention

BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")
"""/proc/stat fields that are some process's (or the hypervisor's) use of a CPU; guest time is
already inside user and nice, idle and iowait are nobody's."""


@dataclass(frozen=True)
class CpuReading:
    """One snapshot: wall seconds (monotonic), system-wide busy CPU seconds, this process's."""

    wall_s: float
    system_busy_s: float
    process_s: float


class CpuSource(Protocol):
    cores: int

    def read(self) -> CpuReading: ...

    def load_avg(self) -> float | None: ...


class PsutilSource:
    """The real machine: psutil's system and process CPU times, os.getloadavg()."""

    def __init__(self) -> None:
        self.cores = psutil.cpu_count() or os.cpu_count() or 1
        self._process = psutil.Process()

    def read(self) -> CpuReading:
        system = psutil.cpu_times()
        own = self._process.cpu_times()
        return CpuReading(
            wall_s=time.monotonic(),
            system_busy_s=sum(getattr(system, name, 0.0) for name in BUSY_FIELDS),
            process_s=own.user + own.system,
        )

    def load_avg(self) -> float | None:
        try:
            return os.getloadavg()[0]
        except OSError:  # not available on this platform
            return None


class ContentionProbe:
    """Brackets a timed phase: `start()` before it, `stop()` after, a Contention reading back.

    `cores_needed` is what the case runs on: its intra-op threads on the CPU, one host thread for
    a CUDA case (the launches).
    """

    def __init__(self, cores_needed: int, source: CpuSource | None = None) -> None:
        self.source = PsutilSource() if source is None else source
        self.cores_needed = max(1, min(cores_needed, self.source.cores))
        self._start: CpuReading | None = None

    def start(self) -> None:
        self._start = self.source.read()

    def stop(self) -> Contention:
        if self._start is None:
            raise RuntimeError("ContentionProbe.stop() before start()")
        end = self.source.read()
        begin, self._start = self._start, None
        others_s = (end.system_busy_s - begin.system_busy_s) - (end.process_s - begin.process_s)
        return Contention(
            wall_s=end.wall_s - begin.wall_s,
            others_cpu_s=max(others_s, 0.0),
            cores=self.source.cores,
            cores_needed=self.cores_needed,
            load_avg=self.source.load_avg(),
        )


def default_probe() -> ContentionProbe:
    """A probe for a CPU case on torch's current intra-op thread count."""
    import torch

    return ContentionProbe(torch.get_num_threads())
