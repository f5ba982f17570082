"""report.md: a pure renderer over results and the environment record.

Numbers are shown in fixed formats and human units so two runs of the same code diff cleanly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bench.records import Result
from bench.report.counting import counting_sections
from bench.report.memory import GUIDE as MEMORY_GUIDE
from bench.report.memory import memory_section
from bench.units import human_bytes

__all__ = ["render_report"]
from bench.report.repeatability import repeatability_section
from bench.report.tables import markdown_table
from bench.report.timing import timing_section

IQR_WARNING_FRACTION = 0.10


def _fixed(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _environment_section(env: dict[str, Any]) -> list[str]:
    gpus = ", ".join(d["name"] for d in env.get("cuda_devices", [])) or "none"
    rows = [
        ("Date (UTC)", env.get("date")),
        ("Git commit", env.get("git_commit") or "not a git checkout"),
        ("torch / torchvision", f"{env.get('torch')} / {env.get('torchvision')}"),
        ("Python", env.get("python")),
        ("CPU", f"{env.get('cpu_model')} ({env.get('cpu_count')} logical cores)"),
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
    return ["## Environment", "", markdown_table(rows, ["", ""]), ""]


def _load(values: Any) -> str:
    if not isinstance(values, list) or not values:
        return "not recorded"
    return " / ".join(f"{v:.2f}" for v in values)


def _status(result: Result) -> str:
    """The status, with the reasons its median should not be compared (not steady, contended,
    noisy): the main table is where a reader looks first."""
    doubts = result.latency.doubts() if result.latency is not None else []
    return f"{result.status} ({'; '.join(doubts)})" if doubts else result.status


def _iqr_percent(result: Result) -> str:
    lat = result.latency
    if lat is None or lat.median_ms <= 0:
        return ""
    fraction = lat.iqr_ms / lat.median_ms
    flag = " ⚠" if fraction > IQR_WARNING_FRACTION else ""
    return f"{100 * fraction:.1f}%{flag}"


def _mode(result: Result) -> str:
    """eval/train, plus which build of a compare_inplace model (in_place / out_of_place)."""
    variant = result.case.inplace_variant
    return f"{result.case.mode} ({variant})" if variant else result.case.mode


def _result_row(result: Result) -> list[str]:
    lat = result.latency
    return [
        result.case.model.name.replace("|", "\\|"),  # a bare | would split the markdown cell
        _mode(result),
        result.case.device,
        result.case.dtype,
        str(result.case.batch_size),
        result.row()["input_shape"],
        _status(result),
        _fixed(None if result.params is None else result.params / 1e6, 3),
        "" if result.macs is None else f"{result.macs / 1e9:.4g}",
        _fixed(lat.median_ms if lat else None, 3),
        _iqr_percent(result),
        _fixed(lat.p90_ms if lat else None, 3),
        _fixed(result.throughput_per_s, 1),
        human_bytes(result.peak_memory_bytes),
    ]


HEADERS = [
    "Model",
    "Mode",
    "Device",
    "Dtype",
    "Batch",
    "Input",
    "Status",
    "Params (M)",
    "GMACs",
    "Median (ms)",
    "IQR/median",
    "p90 (ms)",
    "Throughput (samples/s)",
    "Peak memory",
]

READING_GUIDE = """\
How to read: *GMACs* are billions of multiply-accumulates of one forward pass over the whole
batch (torchvision's convention; FLOPs = 2 x MACs). Latency is the wall time of one forward pass
after warmup (CPU: `perf_counter_ns`; CUDA: CUDA events between device synchronizes); *Median* and
*p90* are over the timed iterations, *IQR/median* is their spread (⚠ above 10%: a noisy
measurement, compare medians with care). A status says *noisy* when IQR/median is above 10% or
the median's 95% CI half-width is above 3x the precision target; *contended* when other processes
took more than 10% of the cores the case needs while it was timed; *not steady: raise --budget*
when the budget ran out before warmup reached a steady state (its samples include the slow
start). *Peak memory* is the most memory allocated during one steady-state step, weights and
input included; the memory table breaks it down."""


def render_report(
    results: Iterable[Any],
    environment: dict[str, Any],
    title: str,
    plots: dict[tuple[str, str, str], str] | None = None,
) -> str:
    """Model results get a table per suite; experiment results a section per experiment."""
    from bench.report.experiments import experiment_sections, model_inplace_section

    everything = list(results)
    results = [r for r in everything if isinstance(r, Result)]
    experiments = [r for r in everything if not isinstance(r, Result)]
    lines = [f"# {title}", "", *_environment_section(environment)]
    for suite in sorted({r.case.suite for r in results}):
        rows = [r for r in results if r.case.suite == suite]
        ok = sum(r.status == "ok" for r in rows)
        lines += [
            f"## Suite `{suite}`",
            "",
            f"{len(rows)} cases: {ok} ok, {len(rows) - ok} not ok.",
            "",
            markdown_table([_result_row(r) for r in rows], HEADERS, "l" * 7 + "r" * 7),
            "",
        ]
        lines += memory_section(rows)
        lines += timing_section(rows)
        problems = [r for r in rows if r.status != "ok"]
        if problems:
            lines += ["**Cases that did not run:**", ""]
            lines += [f"- `{r.case.label}`: {r.status}: {r.error}" for r in problems]
            lines.append("")
        noted = [r for r in rows if r.notes]
        if noted:
            lines += ["**Notes:**", ""]
            lines += [f"- `{r.case.label}`: {note}" for r in noted for note in r.notes]
            lines.append("")
        lines += counting_sections(rows)
    lines += repeatability_section(results)
    lines += model_inplace_section(results)
    lines += experiment_sections(experiments, plots or {})
    lines += [READING_GUIDE, ""]
    if any(r.memory is not None for r in results):
        lines += [MEMORY_GUIDE, ""]
    return "\n".join(lines)
