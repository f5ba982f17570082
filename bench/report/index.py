"""index.md in a results folder: every run in it, newest first, rebuilt from the run directories.

Rebuilt from scratch each time (not appended), so a deleted or renamed run never leaves a stale
line and two runs finishing together cannot interleave their lines.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench.report.tables import markdown_table
from bench.store.readback import RunReadError, read_record
from bench.store.rundir import REPORT_MD

INDEX_MD = "index.md"


def _machine(env: dict[str, Any]) -> str:
    gpus = [d.get("name", "?") for d in env.get("cuda_devices") or [] if isinstance(d, dict)]
    cpu = f"{env.get('cpu_model', '?')} x{env.get('cpu_count', '?')}"
    host = env.get("hostname") or "?"
    return f"{host}: {cpu}" + (f", {', '.join(gpus)}" if gpus else "")


def _row(run_dir: Path) -> list[str] | None:
    try:
        record = read_record(run_dir)
    except RunReadError:
        return None
    env = record.get("environment") if isinstance(record.get("environment"), dict) else {}
    cases = [c for c in record["cases"] if isinstance(c, dict)]
    ok = sum(c.get("status") == "ok" for c in cases)
    state = "" if record.get("complete", True) else " (interrupted)"
    link = f"[{run_dir.name}]({run_dir.name}/{REPORT_MD})"
    suite = str(record.get("suite_name") or "?").replace("|", "\\|")
    return [
        str(env.get("date") or "?"),
        suite,
        _machine(env).replace("|", "\\|"),
        f"{len(cases)} ({ok} ok){state}",
        link,
    ]


def render_index(out_dir: Path) -> str:
    rows = [row for d in sorted(out_dir.iterdir()) if d.is_dir() and (row := _row(d))]
    rows.sort(key=lambda r: (r[0], r[4]), reverse=True)
    table = markdown_table(rows, ["Date (UTC)", "Suite", "Machine", "Cases", "Report"])
    return f"# bench runs in this folder\n\n{len(rows)} runs, newest first.\n\n{table}\n"


def update_index(out_dir: Path) -> Path:
    """Rewrite index.md through a temporary file of this process's own (runs finishing at once
    each rename a whole file into place; the last one lists them all)."""
    path = out_dir / INDEX_MD
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=out_dir, prefix=".index.", suffix=".tmp", delete=False
    ) as handle:
        try:
            handle.write(render_index(out_dir))
        except BaseException:
            os.unlink(handle.name)
            raise
    try:
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)  # a full disk leaves no temporary file behind
        raise
    return path
