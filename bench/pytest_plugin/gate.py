"""The noise-aware regression gate, `--bench-gate PCT`: this run's benchmarks against the saved
run pytest-benchmark loaded for `--benchmark-compare`.

pytest-benchmark's own `--benchmark-compare-fail=median:10%` compares two medians as if they
were exact. On a shared machine whose speed drifts 20-30% from one run to the next, that fails
unchanged code. This gate judges each benchmark by bench's verdict rule (`compare_samples`) on
both sides' raw rounds, grouped into blocks of consecutive rounds (rounds milliseconds apart
share the machine's momentary state, so they are not independent samples), and fails only a
case whose ratio interval lies wholly above 1 + PCT. What it cannot judge it says, with its own
exit code, rather than passing in silence.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.cli.arguments import EXIT_CASE_FAILED, EXIT_OK, EXIT_UNJUDGED
from bench.compare.instructions import DEFAULT_MARGIN, InstructionChange, instruction_change
from bench.compare.sources import benchmark_has_samples, side_case_of_benchmark
from bench.compare.verdicts import DEFAULT_THRESHOLD, SampleComparison, compare_samples
from bench.noise_floor import load_floor
from bench.stats import suspects_reason


@dataclass(frozen=True)
class GateCase:
    """One benchmark of this run that the baseline also has, and its verdict."""

    name: str
    timing: SampleComparison
    instructions: InstructionChange | None = None  # both sides counted (--bench-instructions)

    def more_instructions(self, fraction: float) -> bool:
        return self.instructions is not None and self.instructions.change > fraction

    def regressed(self, threshold: float) -> bool:
        """Confidently slower: the verdict rule says `slower` and the whole interval of the
        ratio lies above 1 + threshold. A median past the threshold is not enough."""
        low = self.timing.ci_low
        return self.timing.verdict == "slower" and low is not None and low > 1 + threshold


@dataclass(frozen=True)
class GateOutcome:
    """What the gate made of one session: judged cases, and this run's benchmarks the baseline
    lacks (a renamed test, or a baseline from another rootdir, pairs with nothing)."""

    threshold: float
    baseline: str
    cases: tuple[GateCase, ...]
    unmatched: tuple[str, ...]
    noise_floor: float = 0.0  # this machine's A/A floor (bench doctor); no change below it fails
    time_gate: bool = True  # --bench-gate: time decides the exit status (else it is only shown)
    instruction_threshold: float | None = None  # --bench-gate-instructions

    @property
    def regressions(self) -> tuple[GateCase, ...]:
        """The benchmarks that fail a gate asked for: confidently slower, or more instructions."""
        called = max(self.threshold, self.noise_floor)
        slower = [c for c in self.cases if self.time_gate and c.regressed(called)]
        more = [
            c
            for c in self.cases
            if self.instruction_threshold is not None
            and c.more_instructions(self.instruction_threshold)
        ]
        return tuple(dict.fromkeys([*slower, *more]))

    def unjudged(self, allow_inconclusive: bool) -> str:
        """Why the gate could not judge this run ('' when it could): nothing matched, or
        (unless allowed) every match was inconclusive, which a pass would hide; for the
        instruction gate, no benchmark counted on both sides."""
        if not self.cases:
            ran = "no benchmark ran" if not self.unmatched else "no benchmark matched the baseline"
            return f"{ran}; nothing was judged"
        limit = 1 + self.threshold  # the floor widens what is called slower, not what clears
        if (
            self.time_gate
            and not allow_inconclusive
            and all(
                c.timing.verdict == "inconclusive" and not c.timing.clears(limit)
                for c in self.cases
            )
        ):
            return "every benchmark was inconclusive (--bench-gate-allow-inconclusive passes this)"
        suspects = suspects_reason(
            [
                (c.name, c.timing.ratio, c.timing.reason)
                for c in self.cases
                if c.timing.verdict == "inconclusive"
                and c.timing.ratio is not None
                and c.timing.ratio > 1 + max(self.threshold, self.noise_floor)
            ]
        )
        if self.time_gate and not allow_inconclusive and suspects:
            return f"{suspects} (--bench-gate-allow-inconclusive passes this)"
        if self.instruction_threshold is not None and all(
            c.instructions is None for c in self.cases
        ):
            return "no benchmark has instruction counts on both sides (--bench-instructions)"
        return ""

    def exit_code(self, allow_inconclusive: bool) -> int:
        """1 on a regression, else 3 when nothing could be judged, else 0."""
        if self.regressions:
            return EXIT_CASE_FAILED
        return EXIT_UNJUDGED if self.unjudged(allow_inconclusive) else EXIT_OK


def judge_pair(
    base: Mapping[str, Any], new: Mapping[str, Any], threshold: float, noise_floor: float = 0.0
) -> SampleComparison:
    """One benchmark's verdict from the two pytest-benchmark rows (seconds in `stats.data`)."""
    if not benchmark_has_samples(base):
        why = "baseline has no raw samples: save it with --benchmark-save-data"
        return SampleComparison("inconclusive", why)
    base_case = side_case_of_benchmark(base)  # its rounds in blocks (bench/compare/sources.py)
    new_case = side_case_of_benchmark(new)
    return compare_samples(base_case, new_case, threshold, noise_floor)


def judge_benchmarks(
    baseline: Iterable[Mapping[str, Any]],
    current: Iterable[Mapping[str, Any]],
    threshold: float,
    baseline_name: str = "",
    noise_floor: float = 0.0,
    time_gate: bool = True,
    instruction_threshold: float | None = None,
) -> GateOutcome:
    """Pair this run's rows with the baseline's by case key, as `bench compare` pairs files,
    and judge each pair (instructions too, where both rows counted them)."""
    by_key = {side_case_of_benchmark(row).key: row for row in baseline}
    cases, unmatched = [], []
    for row in current:
        name = str(row.get("name") or row.get("fullname") or "?")
        new_case = side_case_of_benchmark(row)
        base = by_key.get(new_case.key)
        if base is None:
            unmatched.append(name)
            continue
        change = instruction_change(side_case_of_benchmark(base), new_case, DEFAULT_MARGIN)
        cases.append(GateCase(name, judge_pair(base, row, threshold, noise_floor), change))
    return GateOutcome(
        threshold,
        baseline_name,
        tuple(cases),
        tuple(unmatched),
        noise_floor,
        time_gate,
        instruction_threshold,
    )


def judge_session(
    benchmarksession: Any,
    threshold: float = DEFAULT_THRESHOLD,
    time_gate: bool = True,
    instruction_threshold: float | None = None,
) -> GateOutcome:
    """Judge pytest-benchmark's session: `compared_mapping` ({saved file: {fullname: row}}, one
    file for a plain `--benchmark-compare`, the newest taken when an ID matched several) and
    `benchmarks` (this run's, each with its rounds in seconds; those that errored are left out,
    as pytest-benchmark leaves them out of its JSON)."""
    saved = list(benchmarksession.compared_mapping.items())
    baseline_name, baseline = saved[-1] if saved else ("", {})
    ran = [b for b in benchmarksession.benchmarks if b and not b.has_error]
    current = [b.as_dict(include_data=True) for b in ran]
    floor = load_floor()
    return judge_benchmarks(
        baseline.values(),
        current,
        threshold,
        str(baseline_name),
        noise_floor=floor.fraction if floor is not None else 0.0,
        time_gate=time_gate,
        instruction_threshold=instruction_threshold,
    )


HEADER = ("benchmark", "baseline", "current", "ratio", "95% CI", "verdict", "reason")
INSTRUCTIONS = "instructions"  # a last column, only when some benchmark has counts on both sides


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g} ms"


def _row(case: GateCase) -> tuple[str, ...]:
    timing = case.timing
    ratio = "-" if timing.ratio is None else f"{timing.ratio:.3f}"
    interval = (
        "-"
        if timing.ci_low is None or timing.ci_high is None
        else f"{timing.ci_low:.3f}-{timing.ci_high:.3f}"
    )
    medians = (_ms(timing.base_median_ms), _ms(timing.new_median_ms))
    return (case.name, *medians, ratio, interval, timing.verdict, timing.reason)


def _instructions_cell(case: GateCase) -> str:
    counted = case.instructions
    return "-" if counted is None else f"{100 * counted.change:+.2f}% {counted.verdict}"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def rule_line(threshold: float, noise_floor: float = 0.0) -> str:
    """The gate's rule in one line, printed under every table so a reader of the CI log knows
    what `slower` meant."""
    called = max(threshold, noise_floor)
    floor = (
        f" (this machine's A/A noise floor, {noise_floor * 100:.1f}%, is above the gate's "
        f"{threshold * 100:g}%)"
        if noise_floor > threshold
        else ""
    )
    return (
        f"rule: slower (exit 1) when the 95% interval of median current / baseline, over blocks "
        f"of consecutive rounds, lies wholly above {1 + called:.3g} (+{called * 100:g}%){floor}; "
        "exit 3 when nothing matched the baseline, all were inconclusive, or an inconclusive one "
        "is past that by its median"
    )


def verdict_line(outcome: GateOutcome, allow_inconclusive: bool) -> str:
    """The gate's outcome in one line: what failed, or why nothing was judged, or a pass."""
    pct = f"+{outcome.threshold * 100:g}%"
    asked = [f"confidently slower than {pct}"] if outcome.time_gate else []
    if outcome.instruction_threshold is not None:
        asked.append(f"more than {outcome.instruction_threshold * 100:g}% more instructions")
    if outcome.regressions:
        names = ", ".join(c.name for c in outcome.regressions)
        return f"bench gate FAILED: {' or '.join(asked)}: {names}"
    why = outcome.unjudged(allow_inconclusive)
    if why:
        return f"bench gate COULD NOT JUDGE (exit {EXIT_UNJUDGED}): {why}"
    allowed = [c.name for c in outcome.cases if c.timing.verdict == "inconclusive"]
    unjudged = (
        f" ({len(allowed)} inconclusive, not judged: {', '.join(allowed[:3])}"
        f"{' and more' if len(allowed) > 3 else ''})"
        if allowed and outcome.time_gate
        else ""
    )
    return f"bench gate passed: no benchmark {' or '.join(asked)}{unjudged}"


def summary_lines(outcome: GateOutcome, allow_inconclusive: bool) -> list[str]:
    """The terminal summary: the baseline, one row per judged benchmark, the unmatched ones,
    the rule, and the outcome (last, where a CI log's reader looks)."""
    lines = [f"baseline: {outcome.baseline}"] if outcome.baseline else []
    if outcome.cases:
        rows = [HEADER, *(_row(c) for c in outcome.cases)]
        if any(c.instructions is not None for c in outcome.cases):
            cells = [INSTRUCTIONS, *(_instructions_cell(c) for c in outcome.cases)]
            rows = [(*row, cell) for row, cell in zip(rows, cells, strict=True)]
        lines += _table(rows)
    if outcome.unmatched:
        lines.append(f"not in the baseline (not judged): {', '.join(outcome.unmatched)}")
    rule = rule_line(outcome.threshold, outcome.noise_floor)
    return [*lines, rule, verdict_line(outcome, allow_inconclusive)]
