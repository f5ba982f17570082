"""The comparison as markdown: warnings first, then verdicts (regressions on top), then details."""

from __future__ import annotations

from bench.compare.instructions import instruction_lines
from bench.compare.sources import SideCase
from bench.compare.verdicts import CONFIDENCE, MIN_BLOCKS, CaseComparison, Comparison
from bench.report.tables import markdown_table
from bench.units import significant

_ORDER = {"slower": 0, "faster": 1, "inconclusive": 2, "same": 3}


def _exact(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _change(old: int | None, new: int | None) -> str:
    if old is None or new is None:
        return "measured on one side only"
    delta = new - old
    percent = f" ({100 * delta / old:+.2f}%)" if old else ""
    return f"{delta:+,}{percent}"


def _side_line(name: str, comparison: Comparison) -> str:
    side = comparison.base if name == "BASE" else comparison.new
    return f"- {name}: `{side.source}` ({side.kind} `{side.title}`, {side.date})"


def _ratio_cell(case: CaseComparison) -> str:
    timing = case.timing
    if timing.ratio is None:
        return ""
    return f"{significant(timing.ratio, 3)}x"


def _interval_cell(case: CaseComparison) -> str:
    timing = case.timing
    if timing.ci_low is None or timing.ci_high is None:
        return ""
    return f"{significant(timing.ci_low, 3)} - {significant(timing.ci_high, 3)}"


def _p_cell(case: CaseComparison) -> str:
    p_value = case.timing.p_value
    if p_value is None:
        return ""
    return "<0.001" if p_value < 0.001 else f"{p_value:.3f}"


def _verdict_rows(cases: list[CaseComparison]) -> list[list[str]]:
    ordered = sorted(enumerate(cases), key=lambda item: (_ORDER[item[1].verdict], item[0]))
    return [
        [
            f"`{case.base.label}`",
            significant(case.timing.base_median_ms),
            significant(case.timing.new_median_ms),
            _ratio_cell(case),
            _interval_cell(case),
            _p_cell(case),
            f"**{case.verdict}**" if case.verdict in ("slower", "faster") else case.verdict,
            case.timing.reason,
        ]
        for _, case in ordered
    ]


def _case_list(title: str, cases: tuple[SideCase, ...]) -> list[str]:
    if not cases:
        return []
    return [f"**{title}** ({len(cases)}):", "", *[f"- `{c.label}`" for c in cases], ""]


def rule_footnote(comparison: Comparison) -> str:
    """The rule the verdicts applied, in the words and figures of this comparison."""
    t = comparison.threshold
    floor = comparison.noise_floor
    called = max(t, floor or 0.0)
    if floor is None:
        floor_text = (
            "No A/A noise floor was recorded for these runs (`bench doctor` measures one): "
            "between-run drift is not accounted for, so prefer `bench ab`."
        )
    else:
        measured = comparison.noise_floor_source or "`bench doctor`"
        floor_text = (
            f"This machine's A/A noise floor (the spread of repeated measurements of the same "
            f"work, from {measured}) is {100 * floor:.1f}%: no change below it is called."
        )
    if comparison.case_floors:
        widest_key = max(comparison.case_floors, key=lambda k: comparison.case_floors[k].fraction)
        widest = comparison.case_floors[widest_key]
        floor_text += (
            f" A/A history: {len(comparison.case_floors)} case(s) also have a floor of their own,"
            " the spread of their medians over other runs of the same code on this hardware in"
            f" the same results folder (widest: `{widest_key.label}`,"
            f" {100 * widest.fraction:.0f}% over {widest.runs} other run(s)); d is the largest"
            " of the three."
        )
    return (
        f"NEW/BASE is the ratio of the medians of block medians (above 1: slower); its "
        f"{CONFIDENCE:.0%} CI [lo, hi] is a bootstrap over blocks. `slower` when lo > "
        f"{significant(1 + called, 4)}, `faster` when hi < {significant(1 / (1 + called), 4)}; "
        f"`same` when the whole CI lies within [{significant(1 / (1 + t), 4)}, "
        f"{significant(1 + t, 4)}] (threshold {100 * t:g}%); otherwise `inconclusive`, and "
        "always when either side errored, is noisy, contended, drifting or not steady, has "
        f"fewer than {MIN_BLOCKS} blocks, or holds impossible samples (but a contended or "
        "throttled BASE keeps `slower`, and such a NEW `faster`: load only slows the side it "
        f"hits). {floor_text} The U test "
        "(Mann-Whitney on block medians) is shown, not used."
    )


def render_comparison(comparison: Comparison, refused_devices: str = "") -> str:
    """The whole comparison; `refused_devices` (set with --force) is repeated as a warning."""
    counts = comparison.counts()
    lines = [
        "# bench compare",
        "",
        _side_line("BASE", comparison),
        _side_line("NEW", comparison),
        "",
    ]
    warnings = []
    base, new = comparison.base, comparison.new
    if base.kind == new.kind == "run" and base.title != new.title:
        warnings.append(
            f"different suites: `{base.title}` (BASE) vs `{new.title}` (NEW); only the cases "
            "both define are compared"
        )
    if refused_devices:
        warnings.append(f"different hardware, compared with --force: {refused_devices}")
    warnings += [
        f"{n} differs: {old} (BASE) vs {new} (NEW)"
        for n, old, new in comparison.environment_differences()
    ]
    pairs: dict[tuple[str, str], list[str]] = {}
    for c in comparison.cases:  # threads shape timing only: counts-only rows are not named
        if c.base.threads != c.new.threads and c.base.samples_ms and c.new.samples_ms:
            pairs.setdefault((c.base.threads, c.new.threads), []).append(c.base.label)
    for (old, new), labels in pairs.items():
        shown = ", ".join(f"`{label}`" for label in labels[:3])
        more = f" and {len(labels) - 3} more" if len(labels) > 3 else ""
        warnings.append(
            f"threads (intra/inter-op) the cases ran with: {old or '?'} (BASE) vs {new or '?'} "
            f"(NEW) in {len(labels)} of {len(comparison.cases)} cases: {shown}{more}"
        )
    for side, run in (("BASE", comparison.base), ("NEW", comparison.new)):
        warnings += [
            f"{side} repeats case `{label}`: only its first row is used" for label in run.duplicates
        ]
    if warnings:
        lines += ["## Warnings", "", *[f"- {w}" for w in warnings], ""]
    summary = ", ".join(f"{counts[v]} {v}" for v in ("slower", "faster", "same", "inconclusive"))
    lines += [
        f"**{len(comparison.cases)} cases matched: {summary}.** "
        f"{len(comparison.added)} added, {len(comparison.removed)} removed.",
        "",
    ]
    if comparison.cases:
        lines += [
            "## Latency",
            "",
            markdown_table(
                _verdict_rows(list(comparison.cases)),
                [
                    "Case",
                    "BASE median (ms)",
                    "NEW median (ms)",
                    "NEW/BASE",
                    f"{CONFIDENCE:.0%} CI",
                    "U test p",
                    "Verdict",
                    "Why",
                ],
                "lrrrrrll",
            ),
            "",
            rule_footnote(comparison),
            "",
        ]
    lines += instruction_lines(
        [(c.base.label, c.instructions) for c in comparison.cases if c.instructions is not None],
        comparison.instruction_margin,
    )
    changed = [(c, change) for c in comparison.cases for change in c.exact_changes()]
    if changed:
        rows = [
            [f"`{c.base.label}`", name, _exact(old), _exact(new), _change(old, new)]
            for c, (name, old, new) in changed
        ]
        lines += [
            "## Params, MACs and peak memory",
            "",
            markdown_table(rows, ["Case", "Figure", "BASE", "NEW", "Change"], "llrrr"),
            "",
        ]
    elif comparison.cases:
        lines += ["Params, MACs and peak memory: identical in every matched case.", ""]
    lines += _case_list("Added in NEW", comparison.added)
    lines += _case_list("Removed from BASE", comparison.removed)
    return "\n".join(lines).rstrip("\n") + "\n"
