"""Retired instructions per call: a CPU cost that does not drift with the machine's load.

Wall time on a shared runner drifts 16-24% between half-second windows, so it cannot resolve a
2% change; the count of instructions a call executes barely moves (0.014% over three
callgrind runs of an MLP). It misses what instructions do not show (memory stalls, other
threads, GPU work), so it is always reported beside the latency, never instead of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SOURCES = ("perf", "callgrind")
"""`perf`: the CPU's retired-instruction counter (user space, the calling thread); `callgrind`:
valgrind's simulation, where the counter is hidden (most cloud VMs)."""

DEFAULT_MARGIN = 0.01
"""The change in instructions per call beyond which a comparison says `more` or `fewer`."""

INSTRUCTION_VERDICTS = ("more", "fewer", "same")


@dataclass(frozen=True)
class InstructionCount:
    """Instructions per call of one case, or why there is no count (`per_call` None)."""

    per_call: int | None
    source: str = ""  # one of SOURCES when counted
    reason: str = ""  # why not counted, one line
    calls: int = 0  # calls per repeat the count was taken over
    repeats: tuple[int, ...] = ()  # per-call count of each repeat; per_call is their minimum
    threads: int = 1  # intra-op threads while counting (forced to one: see bench.measure)
    # the functions that executed the most instructions (self cost), per call, largest first
    top_functions: tuple[tuple[str, int], ...] = ()

    def record(self) -> dict[str, Any]:
        """What run.json keeps of it (the row has per_call and source)."""
        return {
            "per_call": self.per_call,
            "source": self.source,
            "reason": self.reason,
            "calls": self.calls,
            "repeats": list(self.repeats),
            "threads": self.threads,
            "top_functions": [list(pair) for pair in self.top_functions],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> InstructionCount:
        return cls(
            per_call=record.get("per_call"),
            source=record.get("source") or "",
            reason=record.get("reason") or "",
            calls=record.get("calls") or 0,
            repeats=tuple(record.get("repeats") or ()),
            threads=record.get("threads") or 1,
            top_functions=tuple(
                (str(name), int(count)) for name, count in record.get("top_functions") or ()
            ),
        )


def instruction_verdict(base: int, new: int, margin: float = DEFAULT_MARGIN) -> str:
    """`more` or `fewer` when NEW's count per call differs from BASE's by more than `margin`
    (a fraction), else `same`. No interval: the count is deterministic to ~0.01% with one
    thread and fixed inputs, so the margin only has to cover what the interpreter and allocator
    vary between processes."""
    if base <= 0:
        return "more" if new > base else "same"
    ratio = new / base
    if ratio > 1 + margin:
        return "more"
    if ratio < 1 / (1 + margin):
        return "fewer"
    return "same"
