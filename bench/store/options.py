"""A run's options as its record keeps them (RunOptions.record in bench/measure/case.py), read
back without torch: the flags that give them again (--resume's advice) and the report's line."""

from __future__ import annotations

from typing import Any

from bench.records import DEFAULT_METRICS


def option_flags(options: dict[str, Any]) -> list[str]:
    """`bench run` flags that give these recorded options (defaults left out)."""
    flags = []
    metrics = options.get("metrics")
    if isinstance(metrics, list) and sorted(metrics) != sorted(DEFAULT_METRICS):
        flags.append(f"--metrics {','.join(metrics)}")
    for name, flag, unit in (
        ("budget_s", "--budget", "s"),
        ("precision", "--precision", ""),
        ("threads", "--threads", ""),
        ("timeout_s", "--timeout", "s"),
        ("cache", "--cache", ""),
    ):
        if options.get(name) is not None:
            flags.append(f"{flag} {options[name]:g}{unit}" if unit else f"{flag} {options[name]}")
    if (options.get("processes") or 1) > 1:
        flags.append(f"--processes {options['processes']}")
    if options.get("crosscheck") is not None:
        flags.append("--crosscheck" if options["crosscheck"] else "--no-crosscheck")
    for name, flag in (
        ("quick", "--quick"),
        ("cuda_graphs", "--cuda-graphs"),
        ("allow_partial_counts", "--allow-partial-counts"),
        ("isolate", "--isolate"),
        ("oom_backoff", "--oom-backoff"),
    ):
        if options.get(name):
            flags.append(flag)
    return flags


def options_lines(record: dict[str, Any]) -> list[str]:
    """The report's lines on how the run was made: a smoke-test banner for --quick, the options
    as flags, and what the machine looked like as it started (other processes on the cores);
    nothing for a run recorded before options were kept."""
    options = record.get("options")
    if not isinstance(options, dict):
        return []
    lines = []
    if options.get("quick"):
        lines += [
            "> **Smoke test (`--quick`)**: one warmup call and a few samples per case. These "
            "latencies show that the cases run, not how fast they run: do not quote or compare "
            "them.",
            "",
        ]
    flags = option_flags(options)
    shown = " ".join(f"`{flag}`" for flag in flags) if flags else "the defaults"
    lines += [f"Run options: {shown}.", ""]
    note = record.get("start_note")
    if isinstance(note, str) and note:  # the machine was busy as the run started
        lines += [f"> **Machine at the start:** {note}", ""]
    return lines
