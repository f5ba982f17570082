"""`bench ab --instructions`: each side's instructions per call, counted under valgrind after
the interleaved timing, shown beside its verdicts and gated on with `--gate instructions`.

A count does not drift with the machine, so the sides need no interleaving: each is counted in
one valgrind process of its own (its Python, its directory first on the import path, its own
suite file), exactly as `bench run --metrics instructions` counts a run. Nothing of either side
is imported into this process.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.ab.count_worker import MODULE
from bench.ab.outcome import AbRun
from bench.ab.process import bench_parent
from bench.ab.sides import Side
from bench.compare.instructions import InstructionChange, instruction_lines
from bench.durations import DEFAULT_TIMEOUT_S
from bench.measure.instructions.callgrind import (
    CALLS,
    REPEATS,
    STARTUP_S,
    TOP_FUNCTIONS,
    Interpreter,
    run_worker,
)
from bench.measure.instructions.worker import WorkerSpec
from bench.records import CaseKey, InstructionCount, instruction_verdict


@dataclass(frozen=True)
class SideCounts:
    """What the instruction pass found: per matched case, the change (both sides counted) or
    why not."""

    margin: float
    changes: Mapping[CaseKey, InstructionChange] = field(default_factory=dict)
    missing: Mapping[CaseKey, str] = field(default_factory=dict)

    def lines(self, run: AbRun) -> list[str]:
        """The report's Instructions section, and the cases it could not count."""
        labelled = [(c.label, self.changes[c.key]) for c in run.cases if c.key in self.changes]
        lines = instruction_lines(labelled, self.margin)
        if self.missing:
            lines += ["Not counted:", ""]
            lines += [f"- `{key.label}`: {why}" for key, why in self.missing.items()]
            lines.append("")
        return lines

    def regressions(self, fraction: float) -> list[CaseKey]:
        return [key for key, change in self.changes.items() if change.change > fraction]

    def record(self) -> dict[str, dict]:
        """For comparison.json: per case label, both counts and the verdict, or the reason."""
        counted = {
            key.label: {"base": c.base, "new": c.new, "change": c.change, "verdict": c.verdict}
            for key, c in self.changes.items()
        }
        return {**counted, **{key.label: {"reason": why} for key, why in self.missing.items()}}


def count_suite_under_callgrind(
    suite: Path, interpreter: Interpreter, deadline_s: float
) -> tuple[dict[CaseKey, InstructionCount], str]:
    """Every CPU model case of `suite`, loaded and counted by a worker run by `interpreter`;
    the counts by case key, and what ended the worker early ('' if nothing did)."""
    spec = WorkerSpec(
        cases=(), timeouts_s=(), calls=CALLS, repeats=REPEATS, top=TOP_FUNCTIONS, dump_base="",
        suite=str(suite),
    )  # fmt: skip
    return run_worker(spec, interpreter, deadline_s, module=MODULE)


def count_sides(
    run: AbRun, sides: Sequence[Side], margin: float, timeout_s: float | None
) -> SideCounts:
    """Count both sides' CPU cases, one valgrind process each; pair them by case key."""
    deadline_s = STARTUP_S + len(run.cases) * (timeout_s or DEFAULT_TIMEOUT_S)
    counted: list[tuple[dict[CaseKey, InstructionCount], str]] = []
    for side in sides:
        interpreter = Interpreter(
            python=side.python,
            cwd=side.directory,
            pythonpath=(str(side.directory), str(bench_parent())),
        )
        counted.append(count_suite_under_callgrind(side.suite, interpreter, deadline_s))
    (base, base_ended), (new, new_ended) = counted
    changes, missing = {}, {}
    for case in run.cases:
        before, after = base.get(case.key), new.get(case.key)
        if before and after and before.per_call is not None and after.per_call is not None:
            verdict = instruction_verdict(before.per_call, after.per_call, margin)
            changes[case.key] = InstructionChange(before.per_call, after.per_call, verdict)
            continue
        reasons = [
            f"{name}: {count.reason if count else ended or 'not counted'}"
            for name, count, ended in (("BASE", before, base_ended), ("NEW", after, new_ended))
            if count is None or count.per_call is None
        ]
        missing[case.key] = "; ".join(reasons)
    return SideCounts(margin, changes, missing)
