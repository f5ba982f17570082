"""report.md sections about counting: the counts table, cross-check disagreements, what the
FLOP count leaves out, and the per-model layer tables (collapsed).

A pure renderer over results, like bench/report.py, which calls `counting_sections` per suite.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.records import Result
from bench.records.counts import CROSSCHECK_TOLERANCE, crosscheck_disagreement
from bench.report.summary import scale_of
from bench.report.tables import compact_table, markdown_table
from bench.units import significant

# one row per case, named by its label: model, mode and batch alone left the variants
# (precision, memory format, compile mode, cache) as rows that could not be told apart
COUNT_HEADERS = [
    "Case",
    "{}MACs",
    "fvcore {}MACs",
    "Counted on",
    "Params",
    "Trainable",
    "Buffers",
    "Size (MiB)",
    "GFLOP/s",
    "% of matmul peak",
]

COUNT_GUIDE = (
    "*MACs*: FlopCounterMode with bench's formulas (the forward for `eval`, the whole training "
    "step for `train`). *fvcore MACs*: a second counter, forward only. *Counted on*: `meta` "
    "is a shape-only copy of the model, `real` the model itself. *GFLOP/s*: FLOPs over the "
    "median latency; "
    "*% of matmul peak* needs `--peak-gflops`."
)

UNCOUNTED_SHOWN = 12  # ops per case in the coverage list; run.json has them all


def _number(value: float | None, spec: str) -> str:
    return "" if value is None else format(value, spec)


def _count_row(result: Result, macs_factor: float) -> list[str]:
    details = result.counting
    fvcore = details.fvcore_macs if details else None
    size = details.model_size_bytes if details else None
    fraction = result.peak_fraction
    return [
        f"`{result.case.label}`",
        "" if result.macs is None else significant(result.macs / macs_factor),
        "" if fvcore is None else significant(fvcore / macs_factor),
        (details.counted_on or "") if details else "",
        _number(result.params, ","),
        _number(result.trainable_params, ","),
        _number(details.buffers if details else None, ","),
        "" if size is None else significant(size / 2**20),
        significant(result.achieved_gflops_per_s),
        "" if fraction is None else significant(100 * fraction, 3),
    ]


def _first_per_model(results: Sequence[Result]) -> list[Result]:
    """One result per (model, mode): counts and coverage do not depend on device or batch."""
    seen: dict[tuple[str, str], Result] = {}
    for result in results:
        if result.counting is not None:
            seen.setdefault((result.case.model.name, result.case.mode), result)
    return list(seen.values())


def _layer_section(result: Result) -> list[str]:
    layers = result.counting.layers if result.counting else ()
    if not layers:
        return []
    rows = [[row.layer, row.output_shape, f"{row.params:,}", row.trainable] for row in layers]
    headers = ["Layer", "Output shape", "Params (with sublayers)", "Trainable"]
    table = markdown_table(rows, headers, "llrl")
    summary = f"Layers of <code>{result.case.model.name}</code> at {result.row()['input_shape']}"
    return ["<details>", f"<summary>{summary}</summary>", "", table, "", "</details>", ""]


def counting_sections(results: Sequence[Result]) -> list[str]:
    """Markdown lines for one suite's results; empty when nothing was counted."""
    counted = [r for r in results if r.counting is not None]
    if not counted:
        return []
    prefix, factor = scale_of([r.macs for r in counted])
    lines = [
        "### Counts and efficiency",
        "",
        compact_table(
            [_count_row(r, factor) for r in counted],
            [h.format(prefix) for h in COUNT_HEADERS],
            "lrrlrrrrrr",
        ),
        "",
        COUNT_GUIDE,
        "",
    ]
    disagreements = [(r, crosscheck_disagreement(r.macs, r.counting)) for r in counted]
    flagged = [(r, why) for r, why in disagreements if why]
    if flagged:
        lines += [f"**Cross-check: fvcore differs by more than {CROSSCHECK_TOLERANCE:.0%}:**", ""]
        lines += [f"- `{r.case.label}`: {why}" for r, why in flagged]
        lines.append("")
    per_model = _first_per_model(counted)
    coverage = [r for r in per_model if r.counting and r.counting.uncounted_ops]
    if coverage:
        lines += ["**Ops that ran without a FLOP formula (not in MACs), with call counts:**", ""]
        for result in coverage:
            ops = sorted(result.counting.uncounted_ops.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = ", ".join(f"`{op}` x{n}" for op, n in ops[:UNCOUNTED_SHOWN])
            more = len(ops) - UNCOUNTED_SHOWN
            tail = f", and {more} more (run.json)" if more > 0 else ""
            lines.append(f"- `{result.case.model.name}` {result.case.mode}: {shown}{tail}")
        lines.append("")
    seen_models: set[str] = set()
    for result in per_model:
        if result.case.model.name not in seen_models:
            seen_models.add(result.case.model.name)
            lines += _layer_section(result)
    return lines
