"""Cold-cache timing (`cache = "cold"`): flush the last-level cache before each timed call.

Back-to-back calls find their weights and activations in cache: a GPU's L2 (tens of
megabytes on a data-center part) holds all of a small model's working set, so a warm figure is
what a serving loop that runs one model sees, and a cold one what a pipeline that runs other
work between calls sees. Triton's `do_bench` and nvbench flush L2 before every call for that reason.

The flush writes a buffer of FLUSH_MULTIPLE times the cache's size, outside the timed region:
it runs as the timing engine's `setup`, which precedes every timed call and forces one call per
sample; on CUDA it is queued before the block's start event, so the device has finished it
before the timed work starts. Sizes come from the device (`L2_cache_size` of the CUDA device's
properties; the CPU's largest cache level in sysfs), else a stated fallback (Triton's 256 MB).

On CUDA the buffer is zeroed (a memset kernel, whose writes allocate in L2, as Triton does).
On the CPU it is incremented instead: glibc's memset switches to non-temporal stores for
buffers this large, which bypass the cache and would evict nothing.

The buffer lives only while the case is timed (`release`), so the memory pass never counts it.
The CUDA backend and the buffer maker are parameters: tests drive a fake device with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.units import human_bytes

FLUSH_MULTIPLE = 2
FALLBACK_CACHE_BYTES = 256 * 2**20
"""Triton's flush size, for a device that does not say its cache size."""
MIN_FLUSH_BYTES = 2**20
CPU_CACHE_ROOT = Path("/sys/devices/system/cpu/cpu0/cache")

MakeBuffer = Callable[[int], Any]
"""Allocates a byte buffer of the given size on the case's device."""


@dataclass(frozen=True)
class CacheFlush:
    """What a cold case flushes: the cache's size (None: unknown, the fallback was used), the
    buffer written before each timed call, and how to write it."""

    device: str
    cache_bytes: int | None
    buffer_bytes: int
    flush: Callable[[], Any]
    release: Callable[[], None]

    def note(self) -> str:
        """The row's note: what was flushed, so a reader knows what `cold` meant here."""
        cache = "L2" if self.device.startswith("cuda") else "last-level cache"
        known = (
            f"{human_bytes(self.cache_bytes)} {cache}"
            if self.cache_bytes is not None
            else f"{cache} of unknown size (assumed {human_bytes(FALLBACK_CACHE_BYTES)})"
        )
        return (
            f"cache cold: {human_bytes(self.buffer_bytes)} written before each timed call to "
            f"flush the {known}; one call per sample, the flush outside the timed region"
        )


def buffer_bytes_for(cache_bytes: int | None) -> int:
    """FLUSH_MULTIPLE times the cache (the fallback when unknown), at least MIN_FLUSH_BYTES."""
    size = FALLBACK_CACHE_BYTES if cache_bytes is None else cache_bytes
    return max(FLUSH_MULTIPLE * size, MIN_FLUSH_BYTES)


def cuda_l2_bytes(device: Any, backend: Any) -> int | None:
    """The CUDA device's L2 size in bytes, None when its properties do not say."""
    size = getattr(backend.get_device_properties(device), "L2_cache_size", None)
    return int(size) if isinstance(size, int) and size > 0 else None


def cpu_last_level_cache_bytes(root: Path = CPU_CACHE_ROOT) -> int | None:
    """The largest cache level's size from sysfs (`index*/level` and `size`, e.g. `32768K`);
    None where sysfs does not say (not Linux, a container hiding it)."""
    best: tuple[int, int] | None = None
    for index in sorted(root.glob("index*")):
        try:
            level = int((index / "level").read_text().strip())
            size = _sysfs_size((index / "size").read_text().strip())
        except (OSError, ValueError):
            continue
        if size is not None and (best is None or (level, size) > best):
            best = (level, size)
    return None if best is None else best[1]


def _sysfs_size(text: str) -> int | None:
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    if text and text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text) if text else None


def cache_flush(
    device: str,
    backend: Any = None,
    make_buffer: MakeBuffer | None = None,
    cpu_cache_root: Path | None = None,
) -> CacheFlush:
    """The flush for a case on `device` (`cpu`, `cuda`, `cuda:N`); the CPU's cache size is read
    under `cpu_cache_root` (default CPU_CACHE_ROOT)."""
    on_cuda = device.startswith("cuda")
    if backend is None and on_cuda:
        import torch

        backend = torch.cuda
    if on_cuda:
        cache_bytes = cuda_l2_bytes(device, backend)
    else:
        cache_bytes = cpu_last_level_cache_bytes(cpu_cache_root or CPU_CACHE_ROOT)
    size = buffer_bytes_for(cache_bytes)
    if make_buffer is None:
        make_buffer = _torch_buffer(device)
    holder = [make_buffer(size)]

    def flush() -> None:
        if on_cuda:
            holder[0].zero_()
        else:
            holder[0].add_(1)

    def release() -> None:
        holder.clear()
        if on_cuda:
            backend.empty_cache()  # the pool it grew would otherwise show as reserved memory

    return CacheFlush(device, cache_bytes, size, flush, release)


def _torch_buffer(device: str) -> MakeBuffer:
    def make(size: int) -> Any:
        import torch

        return torch.zeros(size, dtype=torch.uint8, device=device)

    return make


def with_flush(
    setup: Callable[[], Any] | None, flush: Callable[[], Any] | None
) -> Callable[[], Any] | None:
    """The setup a timed call needs: the workload's own (zeroing gradients), then the flush,
    last, so nothing but the timed call runs between it and the start of the timing."""
    if flush is None:
        return setup
    if setup is None:
        return flush

    def setup_then_flush() -> None:
        setup()
        flush()

    return setup_then_flush
