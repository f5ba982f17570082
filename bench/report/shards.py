"""The section a merged run's report opens with: which machine ran which shard, and what is
missing. Rendered from the merged run's record (run.json's `merged_from`), so `bench report`
rebuilds it like every other section."""

from __future__ import annotations

from typing import Any

from bench.records import CaseKey
from bench.report.tables import markdown_table

HEADERS = [
    "Shard",
    "Run directory",
    "Host",
    "CPU",
    "GPUs",
    "torch / CUDA",
    "Threads (intra / inter)",
    "Date (UTC)",
    "Git commit",
    "Rows",
    "Finished",
]


def _shard_row(shard: dict[str, Any]) -> list[str]:
    env = shard.get("environment") or {}
    gpus = ", ".join(d.get("name", "?") for d in env.get("cuda_devices") or []) or "none"
    threads = "; ".join(f"{a} / {b}" for a, b in shard.get("threads") or [])
    label = shard.get("shard") or {}
    return [
        f"{label.get('index')}/{label.get('count')}",
        str(shard.get("run_dir")),
        str(env.get("hostname")),
        f"{env.get('cpu_model')} ({env.get('cpu_count')} cores)",
        gpus,
        f"{env.get('torch')} / {env.get('cuda_version')}",
        threads,
        str(env.get("date")),
        str(env.get("git_commit")),
        str(shard.get("rows")),
        "yes" if shard.get("complete") else "no",
    ]


def shards_section(record: dict[str, Any]) -> list[str]:
    """report.md lines for a merged run (none for any other run)."""
    shards = record.get("merged_from") or []
    if not shards:
        return []
    rows = [_shard_row(shard) for shard in shards]
    lines = ["## Shards and their machines", "", markdown_table(rows, HEADERS), ""]
    if len({(s.get("environment") or {}).get("cpu_model") for s in shards}) > 1:
        lines += [
            "**The shards ran on different CPU models:** CPU latencies of different shards "
            "are not comparable with each other.",
            "",
        ]
    forced = record.get("forced") or []
    if forced:
        lines += ["**Merged with --force despite:**", ""]
        lines += [f"- {reason}" for reason in forced] + [""]
    missing_shards = record.get("missing_shards") or []
    missing_cases = [CaseKey.from_json(k) for k in record.get("missing_cases") or []]
    if missing_shards or missing_cases:
        count = (shards[0].get("shard") or {}).get("count")
        total = len(record.get("suite_cases") or [])
        line = f"**Missing:** {len(missing_cases)} of {total} cases"
        if missing_shards:
            line += f"; shards {', '.join(f'{i}/{count}' for i in missing_shards)} were not given"
        lines += [line, ""]
        lines += [f"- `{key.label}`" for key in missing_cases] + [""]
    lines.append("Failing cases' tracebacks are in each shard's run.log.")
    return [*lines, ""]
