"""Read a callgrind dump: the total instructions and each function's own (self) share.

The dump is written with `--compress-strings=no --compress-pos=no`, so every name is spelt out
where it is used and every position is absolute. A cost line after `calls=` is the callee's
inclusive cost: it belongs to the callee, so it is not added to the caller's self cost (which
is how callgrind_annotate's exclusive view counts).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Dump:
    """One dump: every instruction collected, and the self cost of each function."""

    total: int
    by_function: Counter[str]

    def top(self, count: int, calls: int = 1) -> tuple[tuple[str, int], ...]:
        """The `count` functions with the largest self cost, per call, largest first."""
        return tuple(
            (name, round(cost / calls)) for name, cost in self.by_function.most_common(count)
        )


def read_dump(path: Path) -> Dump:
    return parse_dump(path.read_text(encoding="utf-8", errors="replace"))


def parse_dump(text: str) -> Dump:
    """The totals line when the dump has one, else the sum of the self costs."""
    positions = 1
    total: int | None = None
    obj = function = ""
    after_call = False
    costs: Counter[str] = Counter()
    for line in text.splitlines():
        if not line:
            continue
        head = line[0]
        if head.isdigit() or head in "+-*":
            if after_call:  # the callee's inclusive cost, not this function's own
                after_call = False
                continue
            fields = line.split()
            if len(fields) > positions:
                costs[f"{function} [{obj}]" if obj else function] += int(fields[positions])
        elif line.startswith("fn="):
            function = line[3:]
        elif line.startswith("ob="):
            obj = os.path.basename(line[3:])
        elif line.startswith("calls="):
            after_call = True
        elif line.startswith("positions:"):
            positions = len(line.split()) - 1
        elif line.startswith(("totals:", "summary:")):
            total = int(line.split()[1])
    return Dump(total=sum(costs.values()) if total is None else total, by_function=costs)
