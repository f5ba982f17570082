"""Deterministic stand-ins for the host clock and the CUDA backend, to test timing on a CPU."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from types import SimpleNamespace
from typing import Any


class FakeClock:
    """A nanosecond clock that advances only when told to (or by `step_ns` per read)."""

    def __init__(self, step_ns: int = 0) -> None:
        self.now_ns = 0
        self.step_ns = step_ns

    def __call__(self) -> int:
        self.now_ns += self.step_ns
        return self.now_ns

    def advance_ms(self, ms: float) -> None:
        self.now_ns += int(ms * 1e6)


class FakeEvent:
    def __init__(self, backend: FakeCudaBackend) -> None:
        self.backend = backend
        self.recorded_at: float | None = None

    def record(self, stream: Any = None) -> None:
        self.backend.log.append(("record", stream))
        self.recorded_at = self.backend.device_time_ms

    def elapsed_time(self, end: FakeEvent) -> float:
        self.backend.log.append(("elapsed_time",))
        if self.recorded_at is None or end.recorded_at is None:
            raise RuntimeError("event read before it was recorded")
        return end.recorded_at - self.recorded_at


class FakeStream(str):
    """A stream name (compares equal to its text) that can wait on another stream."""

    backend: FakeCudaBackend

    def wait_stream(self, other: Any) -> None:
        self.backend.log.append(("wait_stream", str(self), str(other)))


class FakeGraph:
    """A captured graph: each replay logs and runs one kernel of the backend's script."""

    def __init__(self, backend: FakeCudaBackend) -> None:
        self.backend = backend
        self.captured = False

    def replay(self) -> None:
        assert self.captured, "replayed before capture"
        self.backend.log.append(("replay",))
        self.backend.run_kernel()


class FakeCudaBackend:
    """Mimics the slice of `torch.cuda` the harness uses and logs every call in order.

    Device time advances only through `run_kernel`, and allocations through `allocate`, so tests
    can check exactly what the harness measured and in which order it synchronized.
    """

    def __init__(
        self,
        kernel_ms: Iterable[float] = (),
        repeat_ms: float | None = None,
        device_names: tuple[str, ...] = ("Fake GPU",),
        l2_bytes: int | None = 50 * 2**20,
    ) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.device_time_ms = 0.0
        self.kernel_ms = list(kernel_ms)
        self.repeat_ms = repeat_ms  # kernel time once `kernel_ms` is used up (None: error)
        self.device_names = device_names
        self.allocated = 0
        self.peak = 0
        self.reserved = 0  # the caching allocator's pool: grows, never shrinks on free
        self.peak_reserved = 0
        self.allocated_total = 0  # cumulative, like "allocated_bytes.all.allocated"
        self.l2_bytes = l2_bytes  # None: the properties do not say
        self.capture_error: Exception | None = None  # raised when a capture ends

    def is_available(self) -> bool:
        return bool(self.device_names)

    def device_count(self) -> int:
        return len(self.device_names)

    def get_device_name(self, index: int = 0) -> str:
        return self.device_names[index]

    def current_stream(self, device: Any = None) -> FakeStream:
        return self._stream(f"stream:{device}")

    def _stream(self, name: str) -> FakeStream:
        stream = FakeStream(name)
        stream.backend = self
        return stream

    def Stream(self, device: Any = None) -> FakeStream:
        return self._stream(f"side:{device}")

    @contextlib.contextmanager
    def stream(self, stream: Any) -> Iterator[None]:
        self.log.append(("stream", str(stream)))
        yield
        self.log.append(("stream_end", str(stream)))

    def CUDAGraph(self) -> FakeGraph:
        return FakeGraph(self)

    @contextlib.contextmanager
    def graph(self, graph: FakeGraph) -> Iterator[None]:
        self.log.append(("capture_begin",))
        yield
        if self.capture_error is not None:
            raise self.capture_error
        graph.captured = True
        self.log.append(("capture_end",))

    def get_device_properties(self, device: Any = None) -> Any:
        properties = SimpleNamespace(name=self.device_names[0])
        if self.l2_bytes is not None:
            properties.L2_cache_size = self.l2_bytes
        return properties

    def empty_cache(self) -> None:
        self.log.append(("empty_cache",))

    def Event(self, enable_timing: bool = False) -> FakeEvent:
        assert enable_timing
        return FakeEvent(self)

    def synchronize(self, device: Any = None) -> None:
        self.log.append(("synchronize", device))

    def run_kernel(self) -> None:
        self.log.append(("kernel",))
        if self.kernel_ms or self.repeat_ms is None:
            self.device_time_ms += self.kernel_ms.pop(0)
        else:
            self.device_time_ms += self.repeat_ms

    def allocate(self, nbytes: int) -> None:
        self.allocated += nbytes
        self.allocated_total += nbytes
        self.peak = max(self.peak, self.allocated)
        self.reserved = max(self.reserved, self.allocated)
        self.peak_reserved = max(self.peak_reserved, self.reserved)

    def free(self, nbytes: int) -> None:
        self.allocated -= nbytes

    def reset_peak_memory_stats(self, device: Any = None) -> None:
        self.log.append(("reset_peak_memory_stats", device))
        self.peak = self.allocated
        self.peak_reserved = self.reserved

    def memory_allocated(self, device: Any = None) -> int:
        self.log.append(("memory_allocated", device))
        return self.allocated

    def max_memory_reserved(self, device: Any = None) -> int:
        self.log.append(("max_memory_reserved", device))
        return self.peak_reserved

    def memory_stats(self, device: Any = None) -> dict[str, int]:
        self.log.append(("memory_stats", device))
        return {"allocated_bytes.all.allocated": self.allocated_total}

    def max_memory_allocated(self, device: Any = None) -> int:
        self.log.append(("max_memory_allocated", device))
        return self.peak


class FakeCudaMemory:
    """Mimics `torch.cuda.memory`'s history recorder: logs calls, writes a stand-in snapshot."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []

    def _record_memory_history(self, enabled: Any = "all", **kwargs: Any) -> None:
        self.log.append(("record_memory_history", enabled, kwargs))

    def _dump_snapshot(self, filename: str) -> None:
        self.log.append(("dump_snapshot", filename))
        with open(filename, "wb") as handle:
            handle.write(b"fake snapshot")


class FixedCallTimer:
    """A CPU timer that really calls fn but reports `call_ms` per call and no clock cost, so
    whatever runs around the timing, the latency it measures is exact and blocks are 1 call."""

    def __init__(self, call_ms: float = 0.005) -> None:
        self.call_ms = call_ms

    def time_block(self, fn: Any, iterations: int, lead: Any = None) -> Any:
        from bench.measure.timing import BlockTiming

        for _ in range(iterations):
            fn()
        return BlockTiming(elapsed_ms=self.call_ms * iterations)

    def overhead_ns(self) -> float:
        return 0.0


class FakeCpuSource:
    """Scripted CPU-time readings for the contention probe: every `read()` advances the wall by
    `wall_per_read_s`, this process's CPU by `own_per_read_s` and other processes' CPU by
    `others_per_read_s`, so a probe's start/stop pair sees exactly those differences.
    `threads_per_read_s` scripts foreign threads of this process the same way (name -> CPU
    seconds per read; thread ids 101, 102, ... in that order); their time is this process's."""

    def __init__(
        self,
        cores: int,
        others_per_read_s: float,
        own_per_read_s: float = 0.0,
        wall_per_read_s: float = 1.0,
        load: float | None = 0.5,
        threads_per_read_s: dict[str, float] | None = None,
    ) -> None:
        self.cores = cores
        self.others_per_read_s = others_per_read_s
        self.own_per_read_s = own_per_read_s
        self.wall_per_read_s = wall_per_read_s
        self.load = load
        self.threads_per_read_s = dict(threads_per_read_s or {})
        self.reads = 0

    def read(self) -> Any:
        from bench.measure.contention import CpuReading, ThreadTime

        self.reads += 1
        threads = tuple(
            ThreadTime(101 + index, name, self.reads * per_read_s)
            for index, (name, per_read_s) in enumerate(self.threads_per_read_s.items())
        )
        own = self.reads * self.own_per_read_s + sum(t.cpu_s for t in threads)
        return CpuReading(
            wall_s=self.reads * self.wall_per_read_s,
            system_busy_s=own + self.reads * self.others_per_read_s,
            process_s=own,
            foreign_threads=threads,
        )

    def load_avg(self) -> float | None:
        return self.load


class PipelinedDevice:
    """A host and a GPU with a queue between them, for what a CUDA timer reads of a model whose
    launch and device times are close. Each model `call()` costs `launch_ms` of host time, then
    queues `kernel_ms` of device work, which starts once the device is free and the launch is
    done. An event completes when the device reaches it; `synchronize` waits for the queue.
    Back to back, a call then costs max(launch_ms, kernel_ms), as in a real loop."""

    def __init__(self, launch_ms: float, kernel_ms: float) -> None:
        self.clock = FakeClock()
        self.launch_ms = launch_ms
        self.kernel_ms = kernel_ms
        self.device_free_ms = 0.0

    def host_ms(self) -> float:
        return self.clock.now_ns / 1e6

    def call(self) -> None:
        self.clock.advance_ms(self.launch_ms)
        self.device_free_ms = max(self.device_free_ms, self.host_ms()) + self.kernel_ms

    def current_stream(self, device: Any) -> None:
        return None

    def Event(self, enable_timing: bool = False) -> PipelinedEvent:
        return PipelinedEvent(self)

    def synchronize(self, device: Any = None) -> None:
        self.clock.advance_ms(max(0.0, self.device_free_ms - self.host_ms()))


class PipelinedEvent:
    def __init__(self, device: PipelinedDevice) -> None:
        self.device = device
        self.at_ms = 0.0

    def record(self, stream: Any = None) -> None:
        self.at_ms = max(self.device.device_free_ms, self.device.host_ms())
        self.device.device_free_ms = self.at_ms

    def elapsed_time(self, end: PipelinedEvent) -> float:
        return end.at_ms - self.at_ms
