"""The profile CSV files, every row of every table (report.md's section, with the top rows
only, is bench.report.profiles); pure functions of CaseProfile records."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from bench.records.profiles import CaseProfile
from bench.report.profiles import MEMORY_CSV, MODULES_CSV, OPS_CSV
from bench.store.rundir import write_atomic

OPS_COLUMNS = (
    "case", "operator", "input_shapes", "calls_per_step", "self_cpu_ms", "total_cpu_ms",
    "self_device_ms", "total_device_ms", "percent_of_step",
)  # fmt: skip
MODULES_COLUMNS = (
    "case", "module", "depth", "calls_per_step", "cpu_ms", "device_ms", "percent_of_step",
    "flops", "gflops_per_s", "module_type",
)  # fmt: skip
MEMORY_COLUMNS = ("case", "operator", "allocated_bytes_per_step", "calls_per_step")


def _csv_text(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            ["" if v is None else f"{v:.6g}" if isinstance(v, float) else v for v in row]
        )
    return buffer.getvalue()


def write_profile_csvs(profiles: Sequence[CaseProfile], run_dir: Path) -> None:
    """profile_ops.csv, profile_modules.csv and profile_memory.csv, one row per table row."""
    ok = [p for p in profiles if p.status == "ok"]
    ops = [
        (p.label, r.name, r.input_shapes, r.calls_per_step, r.self_cpu_ms, r.total_cpu_ms,
         r.self_device_ms, r.total_device_ms, r.percent_of_step)
        for p in ok for r in p.ops
    ]  # fmt: skip
    modules = [
        (p.label, r.name, r.depth, r.calls_per_step, r.cpu_ms, r.device_ms, r.percent_of_step,
         r.flops, r.gflops_per_s, r.kind)
        for p in ok for r in p.modules
    ]  # fmt: skip
    memory = [(p.label, r.name, r.allocated_bytes, r.calls_per_step) for p in ok for r in p.memory]
    # whole files or none (a full disk left a 0-byte CSV and a traceback): one error line
    write_atomic(run_dir / OPS_CSV, _csv_text(OPS_COLUMNS, ops))
    write_atomic(run_dir / MODULES_CSV, _csv_text(MODULES_COLUMNS, modules))
    write_atomic(run_dir / MEMORY_CSV, _csv_text(MEMORY_COLUMNS, memory))
