"""This machine's A/A noise floor: the smallest change two runs made at different times can show.

Within one run, block medians let the interval see the drift the run went through; they cannot
see what the machine does between runs (whole runs of one suite shift 20-30% on a 2-core cloud
VM). `bench doctor` measures that spread directly (repeated whole measurements of one fixed
matmul, (max - min) / median of their medians) and saves it here, per machine; every later run
records it in its environment, and `bench compare` never calls a change below it. The file is
`$BENCH_NOISE_FLOOR_FILE`, else `$XDG_CACHE_HOME/bench/noise-floor.json` (`~/.cache/...`).
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError


@dataclass(frozen=True)
class NoiseFloor:
    fraction: float  # (max - min) / median of repeated whole measurements
    workload: str
    repeats: int
    date: str
    quick: bool = False  # from `bench doctor --quick`: fewer, shorter measurements


def floor_file() -> Path:
    given = os.environ.get("BENCH_NOISE_FLOOR_FILE")
    if given:
        return Path(given)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "bench" / "noise-floor.json"


def machine_id() -> str:
    """Host name, processor and core count: a floor belongs to the machine it was measured on."""
    return f"{platform.node()}|{platform.processor() or platform.machine()}|{os.cpu_count()}"


def _read(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def save_floor(floor: NoiseFloor) -> Path:
    """Record this machine's floor (other machines' entries in the file are kept)."""
    path = floor_file()
    record = _read(path)
    machines = record.get("machines") if isinstance(record.get("machines"), dict) else {}
    machines[machine_id()] = asdict(floor)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"machines": machines}, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"cannot write the noise floor to {path}: {exc.strerror or exc}") from None
    return path


def load_floor() -> NoiseFloor | None:
    """This machine's saved floor, or None (never measured, or the file is unreadable)."""
    machines = _read(floor_file()).get("machines")
    entry = machines.get(machine_id()) if isinstance(machines, dict) else None
    if not isinstance(entry, dict):
        return None
    try:
        return NoiseFloor(**entry)
    except TypeError:
        return None
