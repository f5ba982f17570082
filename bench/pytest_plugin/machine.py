"""machine_info for saved benchmarks: the GPU and torch that made them, and the compare check.

pytest-benchmark's machine_info describes the CPU and Python only, and its machine id (the
folder `--benchmark-compare` looks in) has no GPU in it, so a baseline from an A100 would be
compared silently with a run on an H100. bench adds the torch build, CUDA/cuDNN versions, the GPU
names, count and driver; comparing against a baseline whose GPU or torch differs warns loudly,
naming both.

pytest-benchmark also warns "machine_info is different" on any change, and one field changes on
its own: `cpu.hz_actual`, the clock speed read at that instant (it moves with frequency scaling
between two runs on the same machine). Those readings are dropped from both sides before
pytest-benchmark compares, so the warning keeps its meaning: the machine really differs.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

# momentary readings of the same machine, not properties of it
VOLATILE_CPU_KEYS = ("hz_actual", "hz_actual_friendly")
# a baseline from another value of any of these is not comparable, and says so loudly
HARDWARE_KEYS = ("gpus", "torch_version", "cuda_version", "cudnn_version")


def torch_machine_info(cuda: Any = None, driver: Any = None) -> dict[str, Any]:
    """torch, CUDA and cuDNN versions, GPU names and count, the driver (None where absent)."""
    import torch

    if cuda is None:
        cuda = torch.cuda
    gpus = (
        [cuda.get_device_name(i) for i in range(cuda.device_count())] if cuda.is_available() else []
    )
    if driver is None:
        from bench.doctor import cuda_driver_version

        driver = cuda_driver_version
    return {
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version()
        if torch.backends.cudnn.is_available()
        else None,
        "gpu_count": len(gpus),
        "gpus": gpus,
        "gpu_driver": driver() if gpus else None,
    }


def drop_volatile(machine_info: MutableMapping[str, Any]) -> None:
    """Remove the CPU clock's momentary readings (in place) before two machine_infos compare."""
    cpu = machine_info.get("cpu")
    if isinstance(cpu, MutableMapping):
        for key in VOLATILE_CPU_KEYS:
            cpu.pop(key, None)


def _shown(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) if value else "no GPU"
    return "not recorded" if value is None else str(value)


def hardware_differences(current: Mapping[str, Any], saved: Mapping[str, Any]) -> list[str]:
    """One line per GPU/torch/CUDA/cuDNN field that differs, naming both values."""
    if not any(key in saved for key in HARDWARE_KEYS):
        return [
            "the baseline has no GPU or torch record (saved without bench's plugin); "
            f"this run: GPUs {_shown(current.get('gpus'))}, "
            f"torch {_shown(current.get('torch_version'))}"
        ]
    lines = []
    for key in HARDWARE_KEYS:
        now, then = current.get(key), saved.get(key)
        if now != then:
            label = "GPUs" if key == "gpus" else key.replace("_version", "").replace("_", " ")
            lines.append(f"{label}: this run {_shown(now)} vs baseline {_shown(then)}")
    return lines


def mismatch_message(differences: list[str], location: str) -> str:
    return (
        "BASELINE FROM A DIFFERENT MACHINE: the timings compared are not comparable.\n"
        + "\n".join(f"  {line}" for line in differences)
        + f"\n  baseline storage: {location}"
        + "\n  Keep one baseline per machine: --benchmark-storage=.benchmarks/<machine-name>"
    )
