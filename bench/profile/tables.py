"""From the profiler's own aggregates to rows: per operator, per module, per allocating operator.

Operators come from `key_averages()` (grouped by input shape where asked), never a hand-written
aggregation. Only host-side operators are rows: where CUDA ran, their device time is the time
of the kernels they launched, so the kernels themselves would count twice. Module rows come from
the `module::` ranges in the event list, which covers only the active steps. Every figure is
divided by the number of active steps, so it reads "per step".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bench.profile.modules import RANGE_PREFIX
from bench.records.profiles import MemoryRow, ModuleRow, OpRow

STEP_PREFIX = "ProfilerStep"
_US_PER_MS = 1000.0


def is_operator(name: str) -> bool:
    """False for the schedule's step ranges, bench's module ranges and memory markers."""
    return not (name.startswith(STEP_PREFIX) or name.startswith(RANGE_PREFIX) or name == "[memory]")


def _is_host(event: Any) -> bool:
    return str(getattr(event, "device_type", "DeviceType.CPU")).endswith("CPU")


def step_times_ms(events: Iterable[Any]) -> list[float]:
    """Wall time of each profiled step (the schedule's `ProfilerStep#N` ranges), in order."""
    steps = [e for e in events if e.name.startswith(STEP_PREFIX) and _is_host(e)]
    steps.sort(key=lambda e: e.time_range.start)
    return [e.time_range.elapsed_us() / _US_PER_MS for e in steps]


def op_rows(
    averages: Iterable[Any], steps: int, step_ms: float, on_device: bool
) -> tuple[OpRow, ...]:
    """Every operator, most self time first (device time where CUDA ran), per step."""
    rows = []
    for avg in averages:
        if not is_operator(avg.key) or not _is_host(avg):
            continue
        self_device = avg.self_device_time_total / _US_PER_MS / steps if on_device else None
        self_cpu = avg.self_cpu_time_total / _US_PER_MS / steps
        rank_ms = self_device if self_device is not None else self_cpu
        rows.append(
            OpRow(
                name=avg.key,
                input_shapes=_shapes(avg),
                calls_per_step=avg.count / steps,
                self_cpu_ms=self_cpu,
                total_cpu_ms=avg.cpu_time_total / _US_PER_MS / steps,
                self_device_ms=self_device,
                total_device_ms=avg.device_time_total / _US_PER_MS / steps if on_device else None,
                percent_of_step=100.0 * rank_ms / step_ms if step_ms > 0 else 0.0,
            )
        )
    rows.sort(key=lambda r: (-(r.self_device_ms or r.self_cpu_ms), r.name, r.input_shapes))
    return tuple(rows)


def _shapes(avg: Any) -> str:
    shapes = getattr(avg, "input_shapes", None)
    if not shapes or not any(shapes):
        return ""
    return str([list(s) for s in shapes])


def module_rows(
    events: Iterable[Any],
    depths: Mapping[str, int],
    flops: Mapping[str, int],
    steps: int,
    step_ms: float,
    on_device: bool,
    kinds: Mapping[str, str] | None = None,
) -> tuple[ModuleRow, ...]:
    """One row per module that ran, in the model's own order (named_modules); `kinds` gives
    each row's module class."""
    cpu_us: dict[str, float] = {}
    device_us: dict[str, float] = {}
    calls: dict[str, int] = {}
    for event in events:
        if not event.name.startswith(RANGE_PREFIX) or not _is_host(event):
            continue
        name = event.name.removeprefix(RANGE_PREFIX)
        cpu_us[name] = cpu_us.get(name, 0.0) + event.time_range.elapsed_us()
        device_us[name] = device_us.get(name, 0.0) + event.device_time_total
        calls[name] = calls.get(name, 0) + 1
    rows = []
    for name, depth in depths.items():
        if name not in calls:
            continue  # declared but never called in forward (e.g. an unused head)
        cpu_ms = cpu_us[name] / _US_PER_MS / steps
        device_ms = device_us[name] / _US_PER_MS / steps if on_device else None
        shown_ms = device_ms if device_ms is not None else cpu_ms
        rows.append(
            ModuleRow(
                name=name,
                depth=depth,
                calls_per_step=calls[name] / steps,
                cpu_ms=cpu_ms,
                device_ms=device_ms,
                percent_of_step=100.0 * shown_ms / step_ms if step_ms > 0 else 0.0,
                flops=flops.get(name),
                kind=(kinds or {}).get(name, ""),
            )
        )
    return tuple(rows)


def memory_rows(events: Iterable[Any], steps: int, on_device: bool) -> tuple[MemoryRow, ...]:
    """Bytes each operator the model called allocates per step, what it calls inside included.

    The allocation itself is recorded on a leaf (`aten::empty` carries most of it), which says
    nothing about which layer's operator needed it; so each outermost operator (one whose parent
    is a module range, a step or nothing) is charged its whole subtree's net allocation (the
    profiler's inclusive memory usage: allocations minus frees inside it).
    """
    allocated: dict[str, int] = {}
    calls: dict[str, int] = {}
    for event in events:
        if not is_operator(event.name) or not _is_host(event):
            continue
        parent = event.cpu_parent
        if parent is not None and is_operator(parent.name):
            continue  # charged to its outermost operator
        nbytes = event.device_memory_usage if on_device else event.cpu_memory_usage
        allocated[event.name] = allocated.get(event.name, 0) + nbytes
        calls[event.name] = calls.get(event.name, 0) + 1
    rows = [
        MemoryRow(name, nbytes / steps, calls[name] / steps)
        for name, nbytes in allocated.items()
        if nbytes > 0
    ]
    rows.sort(key=lambda r: (-r.allocated_bytes, r.name))
    return tuple(rows)
