"""What else competed while a case was timed: other processes' CPU time, foreign threads of
this process, and the load.

A benchmark beside a busy process reads 10-15x slower and looks as clean as a quiet one (tight
IQR, tight CI): the competitor slows every sample alike. Only the machine can say so. The probe
snapshots, at the start and end of a timed phase, the system-wide busy CPU time (user, nice,
system, irq, softirq and hypervisor steal, from /proc/stat through psutil) and this process's own
CPU time; the difference is what other processes (and the hypervisor) took. It also reads the
1-minute load average, which lags by a minute and is recorded for the reader, not judged.

The competitor can also live in the measured process: a model that starts a busy Python thread
(a prefetcher, a forgotten spin loop) slows every later case in the run, worse than another
process would, since that thread takes the interpreter lock from the measuring thread. So the
probe also reads the CPU time of each *foreign* thread of this process. The rule:

    foreign = every thread started through Python's `threading` module, except the thread that
    measures (the one calling start() and stop()) and threads bench starts itself (their names
    begin with BENCH_THREAD_PREFIX).

Threads without a Python `threading.Thread` (torch's intra-op and inter-op pools, OpenMP and
BLAS workers, CUDA's driver threads, autograd's device threads, even where they once ran a line
of Python) are the case's own work and never count. They cannot be told apart from a native
thread a model started: they carry the process's name, and the OpenMP pool is replaced by new
threads whenever the intra-op thread count changes, so a "threads that existed at start-up" list
would call torch's own workers foreign. A busy native thread started by a model is therefore
not named here; it still slows the case, and shows only as a slower median.

The CPU-time source is a parameter, so tests drive the probe with scripted readings.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from bench.records.latency import Contention

BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq", "steal")
"""/proc/stat fields that are some process's (or the hypervisor's) use of a CPU; guest time is
already inside user and nice, idle and iowait are nobody's."""


BENCH_THREAD_PREFIX = "bench-"
"""Threads bench starts itself are named with this prefix, so the probe never counts them."""


@dataclass(frozen=True)
class ThreadTime:
    """A foreign thread of this process (see the module doc) and its CPU seconds so far."""

    tid: int
    name: str
    cpu_s: float


@dataclass(frozen=True)
class CpuReading:
    """One snapshot: wall seconds (monotonic), system-wide busy CPU seconds, this process's,
    and the CPU seconds of each foreign thread of this process."""

    wall_s: float
    system_busy_s: float
    process_s: float
    foreign_threads: tuple[ThreadTime, ...] = ()


class CpuSource(Protocol):
    cores: int

    def read(self) -> CpuReading: ...

    def load_avg(self) -> float | None: ...


class PsutilSource:
    """The real machine: psutil's system and process CPU times, os.getloadavg()."""

    def __init__(self) -> None:
        import psutil  # here, not at module level: a counts-only run never probes (~0.1 s)

        self._psutil = psutil
        self.cores = psutil.cpu_count() or os.cpu_count() or 1
        self._process = psutil.Process()

    def read(self) -> CpuReading:
        """Called by the measuring thread: every other Python thread is foreign."""
        system = self._psutil.cpu_times()
        own = self._process.cpu_times()
        return CpuReading(
            wall_s=time.monotonic(),
            system_busy_s=sum(getattr(system, name, 0.0) for name in BUSY_FIELDS),
            process_s=own.user + own.system,
            foreign_threads=self._foreign_threads(),
        )

    def _foreign_threads(self) -> tuple[ThreadTime, ...]:
        names = foreign_thread_names()
        if not names:
            return ()  # the common case: no per-thread read at all
        try:
            times = self._process.threads()
        except (self._psutil.Error, OSError):  # per-thread times not readable here
            return ()
        return tuple(
            ThreadTime(t.id, names[t.id], t.user_time + t.system_time)
            for t in times
            if t.id in names
        )

    def load_avg(self) -> float | None:
        try:
            return os.getloadavg()[0]
        except OSError:  # not available on this platform
            return None


def foreign_thread_names() -> dict[int, str]:
    """Native id -> name of every foreign thread alive now, seen from the calling thread."""
    me = threading.get_native_id()
    return {
        thread.native_id: thread.name
        for thread in threading.enumerate()
        if thread.native_id is not None
        and thread.native_id != me
        # a _DummyThread is a native thread (autograd's, a pool's) that merely ran Python
        and not isinstance(thread, threading._DummyThread)
        and not thread.name.startswith(BENCH_THREAD_PREFIX)
    }


class ContentionProbe:
    """Brackets a timed phase: `start()` before it, `stop()` after, a Contention reading back.
    Both must be called from the thread that does the measured work.

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
        threads = foreign_cpu(begin.foreign_threads, end.foreign_threads)
        return Contention(
            wall_s=end.wall_s - begin.wall_s,
            others_cpu_s=max(others_s, 0.0),
            cores=self.source.cores,
            cores_needed=self.cores_needed,
            load_avg=self.source.load_avg(),
            foreign_threads_cpu_s=sum((cpu_s for _, cpu_s in threads), 0.0),
            foreign_threads=tuple(label for label, _ in threads),
        )


def foreign_cpu(
    begin: tuple[ThreadTime, ...], end: tuple[ThreadTime, ...]
) -> list[tuple[str, float]]:
    """("name (tid N)", CPU seconds) of each foreign thread that used CPU between the two
    readings, the busiest first. A thread born during the phase counts from zero; one that ended
    during it is gone from `end`, its CPU time lost with it (the kernel keeps no per-thread time
    for a dead thread)."""
    before = {t.tid: t.cpu_s for t in begin}
    used = []
    for thread in end:
        cpu_s = thread.cpu_s - before.get(thread.tid, 0.0)
        if cpu_s > 0:
            used.append((f"{thread.name} (tid {thread.tid})", cpu_s))
    return sorted(used, key=lambda item: -item[1])


def default_probe() -> ContentionProbe:
    """A probe for a CPU case on torch's current intra-op thread count."""
    import torch

    return ContentionProbe(torch.get_num_threads())
