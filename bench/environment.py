"""The environment record: everything that changes a number without changing the code.

Thread counts, TF32 and cuDNN flags are recorded as found, never changed behind the user's back.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import torch
import torchvision

import bench


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else what platform knows."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


SYS_CPU = Path("/sys/devices/system/cpu")


def cache_size_bytes(text: str) -> int | None:
    """`491520K`, `32M`, `1G` or a plain byte count, as sysfs and lscpu write them."""
    text = text.strip().upper().removesuffix("B").removesuffix("I")
    factor = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    digits = (text[:-1] if factor > 1 else text).strip()
    return int(digits) * factor if digits.isdigit() else None


def last_level_cache_bytes(root: Path = SYS_CPU) -> int | None:
    """The CPU's last-level cache in bytes, every instance of it summed (one per socket or
    core complex: a multi-threaded copy can use them all), from sysfs, else `lscpu`.

    Experiments quote a copy's bandwidth only from sizes beyond it: a copy that fits in cache
    measures the cache (a 4 MB copy read 146 GB/s beside an 8 GB/s memory ceiling). None when
    neither source answers; the report then makes no bandwidth claim and says why.
    """
    instances: dict[tuple[int, str], int] = {}
    for index in sorted(root.glob("cpu[0-9]*/cache/index[0-9]*")):
        try:
            kind = (index / "type").read_text().strip()
            level = int((index / "level").read_text())
            shared = (index / "shared_cpu_list").read_text().strip()
            size = cache_size_bytes((index / "size").read_text())
        except (OSError, ValueError):
            continue
        if kind in ("Unified", "Data") and size:
            instances[(level, shared)] = size
    if instances:
        top = max(level for level, _ in instances)
        return sum(size for (level, _), size in instances.items() if level == top)
    return _lscpu_last_level_cache()


def _lscpu_last_level_cache() -> int | None:
    try:
        done = subprocess.run(
            ["lscpu", "-B", "-C=LEVEL,TYPE,ALL-SIZE"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sizes: dict[int, int] = {}
    for line in done.stdout.splitlines()[1:] if done.returncode == 0 else []:
        fields = line.split()
        if len(fields) == 3 and fields[0].isdigit() and fields[1] in ("Unified", "Data"):
            size = cache_size_bytes(fields[2])
            if size:
                sizes[int(fields[0])] = size
    return sizes[max(sizes)] if sizes else None


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the working directory's repository, with '+dirty' when it has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = "+dirty" if status.stdout.strip() else ""
    return commit.stdout.strip() + dirty


def cuda_devices() -> list[dict[str, Any]]:
    if not torch.cuda.is_available():
        return []
    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            {
                "index": index,
                "name": props.name,
                "total_memory_bytes": props.total_memory,
                "capability": f"{props.major}.{props.minor}",
                # a copy that fits here measures the cache: no bandwidth claim below it
                "l2_cache_bytes": getattr(props, "L2_cache_size", None) or None,
            }
        )
    return devices


def capture_environment() -> dict[str, Any]:
    """A JSON-ready snapshot of versions, hardware, threads and numerics flags."""
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "bench_version": bench.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        # the CPU's last-level cache, all instances together (None: not readable here)
        "last_level_cache_bytes": last_level_cache_bytes(),
        "torch_num_threads": torch.get_num_threads(),
        "torch_num_interop_threads": torch.get_num_interop_threads(),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "cuda_devices": cuda_devices(),
        # reading it loads cuDNN (~0.1 s, a tenth of a small counts-only run); it is used only
        # with a CUDA device, so without one it is not read
        "cudnn_version": torch.backends.cudnn.version()
        if torch.cuda.is_available() and torch.backends.cudnn.is_available()
        else None,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
        # what else the machine was doing as the run began (rows carry their own readings)
        "load_avg_before_run": load_averages(),
        # the machine's A/A noise floor from `bench doctor` (None: never measured here)
        "noise_floor": _noise_floor(),
    }


def _noise_floor() -> dict[str, Any] | None:
    from dataclasses import asdict

    from bench.noise_floor import load_floor

    floor = load_floor()
    return None if floor is None else asdict(floor)


def load_averages() -> list[float] | None:
    """The 1, 5 and 15-minute load averages, or None where the platform has none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None
