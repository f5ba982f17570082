"""Instructions per call beside the latency verdict: `more`, `fewer` or `same`.

A count is deterministic to ~0.01% on one thread with fixed inputs (callgrind, three runs of an
MLP), so no interval is needed: a change beyond the margin (1% unless told) is real work added
or removed. It is shown beside the timing verdict and never replaces it: instructions miss
memory stalls, other threads and GPU work, which cost time without retiring instructions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.compare.sources import SideCase
from bench.records import DEFAULT_MARGIN, instruction_verdict
from bench.report.tables import markdown_table

__all__ = ["DEFAULT_MARGIN", "InstructionChange", "instruction_change"]


@dataclass(frozen=True)
class InstructionChange:
    """Both sides' instructions per call and the verdict at the comparison's margin."""

    base: int
    new: int
    verdict: str

    @property
    def change(self) -> float:
        """NEW over BASE, minus one: +0.02 is 2% more instructions per call."""
        return self.new / self.base - 1 if self.base > 0 else 0.0


def instruction_change(base: SideCase, new: SideCase, margin: float) -> InstructionChange | None:
    """None unless both sides counted the case."""
    if base.instructions is None or new.instructions is None:
        return None
    return InstructionChange(
        base.instructions,
        new.instructions,
        instruction_verdict(base.instructions, new.instructions, margin),
    )


def instruction_lines(
    labelled: Sequence[tuple[str, InstructionChange]], margin: float
) -> list[str]:
    """The comparison's Instructions section; [] when no case has counts on both sides."""
    if not labelled:
        return []
    rows = [
        [f"`{label}`", f"{c.base:,}", f"{c.new:,}", f"{100 * c.change:+.2f}%", c.verdict]
        for label, c in labelled
    ]
    tally = {v: sum(c.verdict == v for _, c in labelled) for v in ("more", "fewer", "same")}
    return [
        "## Instructions",
        "",
        f"**{len(labelled)} cases counted on both sides: "
        + ", ".join(f"{n} {v}" for v, n in tally.items())
        + ".**",
        "",
        markdown_table(
            rows, ["Case", "BASE per call", "NEW per call", "Change", "Verdict"], "lrrrl"
        ),
        "",
        f"Retired instructions per call on one intra-op thread (the minimum over repeats). "
        f"`more`/`fewer` when NEW differs from BASE by more than {100 * margin:g}% "
        "(--instruction-margin), else `same`. Beside the latency verdict, never instead of it: "
        "instructions miss memory stalls, other threads and GPU work.",
        "",
    ]
