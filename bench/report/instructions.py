"""The report's instruction-count details: each case's count, how it was taken, and the
functions that executed most of it, so a change in the count can be traced to a function."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from bench.records import Result
from bench.report.tables import free_text, markdown_table

NAME_LIMIT = 90  # a demangled C++ template name runs to hundreds of characters
SHOWN_FUNCTIONS = 5

GUIDE = (
    "Instructions are retired instructions per call on one intra-op thread (the minimum over "
    "the repeats), from the CPU's counter (`perf`) or valgrind's simulation (`callgrind`): they "
    "do not drift with the machine's load as time does, so a small change shows in them, but "
    "they miss what costs time without instructions (memory stalls, other threads, GPU work). "
    "Read them beside the latency, never instead of it. Under callgrind, torch, oneDNN and MKL "
    "run their SSE4 kernels (valgrind emulates AVX2's fused multiply-add very slowly): compare "
    "callgrind counts with callgrind counts. The functions are each one's own instructions per "
    "call (callgrind only)."
)


def instructions_section(results: Sequence[Result]) -> list[str]:
    """The collapsed section's body; [] when no case asked for instructions."""
    asked = [r for r in results if r.instructions is not None]
    if not asked:
        return []
    rows = []
    for result in asked:
        count = result.instructions
        assert count is not None  # filtered above
        if count.per_call is None:
            rows.append([f"`{result.case.label}`", "", "", "", free_text(count.reason)])
            continue
        top = "; ".join(
            f"{free_text(_short(name))} {share / count.per_call:.0%}"
            for name, share in count.top_functions[:SHOWN_FUNCTIONS]
        )
        repeats = ", ".join(f"{value:,}" for value in count.repeats)
        rows.append([f"`{result.case.label}`", f"{count.per_call:,}", count.source, repeats, top])
    table = markdown_table(
        rows, ["Case", "Instructions/call", "Source", "Repeats", "Top functions"], "lrlll"
    )
    return [table, "", textwrap.fill(GUIDE, 100, break_on_hyphens=False), ""]


def _short(name: str) -> str:
    """A C++ function without its parameter list (`void at::native::cpu_max_pool<float,
    false>` for the whole signature), its library kept, within NAME_LIMIT."""
    function, bracket, library = name.rpartition(" [")
    if not bracket:
        function, library = name, ""
    function = function.replace("(anonymous namespace)", "{anon}").split("(", 1)[0].strip()
    if len(function) > NAME_LIMIT:
        function = function[: NAME_LIMIT - 3] + "..."
    return f"{function} [{library}" if library else function
