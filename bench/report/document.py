"""report.md: a pure renderer over results and the environment record.

Layout, for a reader at a glance: the machine in one line, warnings, one row per case (how big,
how much work, how fast, how much memory), plots; then the details, each collapsed in a
`<details>` section: environment, timing precision, memory breakdown, counting coverage,
per-layer tables, notes and the full reading guide. Fixed formats, so identical runs diff clean.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bench.records import Result
from bench.report.counting import counting_sections
from bench.report.graphs import graphs_section
from bench.report.instructions import instructions_section
from bench.report.memory import GUIDE as MEMORY_GUIDE
from bench.report.memory import memory_section
from bench.report.repeatability import repeatability_section
from bench.report.summary import SUMMARY_GUIDE, summary_table, warnings
from bench.report.tables import free_text, markdown_table
from bench.report.timing import timing_section
from bench.units import human_bytes

__all__ = ["human_bytes", "render_report"]


def _environment_rows(env: dict[str, Any]) -> list[tuple[str, Any]]:
    gpus = ", ".join(d["name"] for d in env.get("cuda_devices", [])) or "none"
    return [
        ("Date (UTC)", env.get("date")),
        ("Git commit", env.get("git_commit") or "not a git checkout"),
        ("torch / torchvision", f"{env.get('torch')} / {env.get('torchvision')}"),
        ("Python", env.get("python")),
        ("CPU", f"{env.get('cpu_model')} ({env.get('cpu_count')} logical cores)"),
        ("CPU last-level cache (all instances)", _cache(env.get("last_level_cache_bytes"))),
        (
            "Threads (intra-op / inter-op)",
            f"{env.get('torch_num_threads')} / {env.get('torch_num_interop_threads')}",
        ),
        ("CUDA devices", gpus),
        (
            "cuDNN benchmark / TF32 matmul / TF32 cuDNN",
            f"{env.get('cudnn_benchmark')} / {env.get('tf32_matmul')} / {env.get('tf32_cudnn')}",
        ),
        ("Platform", env.get("platform")),
        ("Load average before the run (1 / 5 / 15 min)", _load(env.get("load_avg_before_run"))),
    ]


def _cache(size: Any) -> str:
    """Experiments claim a copy bandwidth only beyond it; older records did not note it."""
    return human_bytes(size) if isinstance(size, int) and size > 0 else "not recorded"


def _load(values: Any) -> str:
    if not isinstance(values, list) or not values:
        return "not recorded"
    return " / ".join(f"{v:.2f}" for v in values)


def _machine_line(env: dict[str, Any], results: list[Result]) -> str:
    """The threads the cases ran with (`--threads` may differ from torch's default at start)."""
    gpus = ", ".join(d["name"] for d in env.get("cuda_devices", [])) or "no GPU"
    commit = (env.get("git_commit") or "no git")[:12]
    used = sorted({(r.threads, r.interop_threads) for r in results if r.threads is not None})
    threads = (
        ", ".join(f"{intra}/{inter}" for intra, inter in used)
        if used
        else f"{env.get('torch_num_threads')}/{env.get('torch_num_interop_threads')}"
    )
    return (
        f"{env.get('cpu_model')} ({env.get('cpu_count')} logical cores), {gpus} · "
        f"torch {env.get('torch')} · threads (intra/inter-op) {threads} · {env.get('date')} · "
        f"commit {commit}"
    )


def _cache_lines(rows: list[Result]) -> list[str]:
    """Which cache state the suite's latencies were timed with (none: nothing was timed)."""
    states = {r.case.cache for r in rows if r.latency is not None}
    if not states:
        return []
    if states == {"warm"}:
        text = (
            "Latency with a warm cache: calls back to back (`--cache cold` flushes the "
            "last-level cache, a GPU's L2, before each call)."
        )
    elif states == {"cold"}:
        text = (
            "Latency with a cold cache: the device's last-level cache (a GPU's L2) flushed "
            "before each timed call, outside the timed region."
        )
    else:
        text = (
            "Rows labelled `cache=cold` were timed with the device's last-level cache flushed "
            "before each call; the others back to back (warm)."
        )
    return [textwrap.fill(text, 100, break_on_hyphens=False), ""]


def _collapsed(summary: str, body: list[str]) -> list[str]:
    if not body:
        return []
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "</details>", ""]


def _strip_heading(lines: list[str]) -> list[str]:
    """Sections render their own bold title; inside <details> the summary line says it."""
    if lines and lines[0].startswith("**") and lines[0].endswith(":**"):
        return lines[2:]
    return lines


def _trusted_words(rows: Sequence[Result]) -> str:
    """How many timed rows carry no doubt (steady, not noisy, drifting, contended or throttled):
    the latencies to quote, counted where a reader looks first."""
    timed = [r.latency for r in rows if r.latency is not None]
    if not timed:
        return ""
    trusted = sum(latency.trustworthy for latency in timed)
    return (
        f" Latencies to quote: {trusted} of {len(timed)} timed (not flagged noisy, drifting, "
        "contended, throttled or not steady)."
    )


def _unplotted_models(results: Sequence[Result], plots: Mapping[str, str]) -> list[str]:
    """Timed models without a plot of their own (plot captions start with the model's name)."""
    timed = dict.fromkeys(r.case.model.name for r in results if r.latency is not None)
    return [name for name in timed if not any(c.startswith(f"{name}: ") for c in plots)]


def render_report(
    results: Iterable[Any],
    environment: dict[str, Any],
    title: str,
    plots: dict[tuple[str, str, str], str] | None = None,
    model_plots: Mapping[str, str] | None = None,
    front: Sequence[str] = (),
    back: Sequence[str] = (),
) -> str:
    """Model results get a table per suite; experiment results a section per experiment.
    `front` lines go right after the machine line (a merged run's shard table: the reader must
    see which machines before any number), `back` lines at the end (a run's profiles)."""
    from bench.report.experiments import experiment_sections, model_inplace_section

    everything = list(results)
    results = [r for r in everything if isinstance(r, Result)]
    experiments = [r for r in everything if not isinstance(r, Result)]
    lines = [f"# {title}", "", _machine_line(environment, results), "", *front]
    problems = warnings(results)
    problems += [
        f"**{r.status}** `{r.case.label}`: {free_text(r.error)}"
        for r in experiments
        if r.status != "ok"
    ]
    lines += ["## Warnings", ""]
    lines += [f"- {p}" for p in problems] if problems else ["None."]
    lines.append("")
    suites = sorted({r.case.suite for r in results})
    for suite in suites:
        rows = [r for r in results if r.case.suite == suite]
        ok = sum(r.status == "ok" for r in rows)
        lines += [
            f"## Suite `{suite}`",
            "",
            f"{len(rows)} cases: {ok} ok, {len(rows) - ok} not ok.{_trusted_words(rows)}",
            "",
            summary_table(rows),
            "",
            textwrap.fill(SUMMARY_GUIDE, 100, break_on_hyphens=False),
            "",
            *_cache_lines(rows),
        ]
    if model_plots:
        lines += ["## Plots", ""]
        for caption, path in model_plots.items():
            lines += [f"[![{caption}]({path})]({path})", ""]
        unplotted = _unplotted_models(results, model_plots)
        if unplotted:
            names = ", ".join(f"`{name}`" for name in unplotted)
            lines += [
                f"No plot for {names}: each was timed at one batch size (or sequence length) "
                "only, and a line needs two.",
                "",
            ]
    lines += repeatability_section(results)
    lines += graphs_section(results)
    lines += model_inplace_section(results)
    lines += experiment_sections(experiments, plots or {}, environment)
    lines += ["## Details", ""]
    lines += _collapsed(
        "Environment", [markdown_table(_environment_rows(environment), ["", ""]), ""]
    )
    for suite in suites:
        rows = [r for r in results if r.case.suite == suite]
        prefix = f"`{suite}`: " if len(suites) > 1 else ""
        lines += _collapsed(f"{prefix}Timing precision", _strip_heading(timing_section(rows)))
        memory = _strip_heading(memory_section(rows))
        if memory:
            memory += [MEMORY_GUIDE, ""]
        lines += _collapsed(f"{prefix}Memory breakdown", memory)
        counting = counting_sections(rows)
        layers_at = next((i for i, x in enumerate(counting) if x == "<details>"), len(counting))
        lines += _collapsed(f"{prefix}Counting coverage", counting[2:layers_at])
        lines += counting[layers_at:]  # per-layer tables, each collapsed already
        lines += _collapsed(f"{prefix}Instructions", instructions_section(rows))
        noted = [f"- `{r.case.label}`: {free_text(note)}" for r in rows for note in r.notes]
        lines += _collapsed(f"{prefix}Notes", [*noted, ""] if noted else [])
    if back:
        lines += ["", *back]
    return "\n".join(lines).rstrip("\n") + "\n"
