"""Eager against CUDA-graph replay, per case: how much of the latency is launch overhead.

A `cuda-graph` row (bench/model/graphs.py) runs the same device work as its eager twin with one
launch instead of one per kernel. The difference of the two medians is what the host costs per
call (Python, dispatch, launches not hidden behind device work); their ratio gives the verdict:

- `launch-bound`: the replay is at least GRAPH_GAIN faster and the two intervals do not overlap:
  the GPU waits on the host; CUDA graphs, `reduce-overhead`, or a larger batch pay here;
- `device-bound`: within GRAPH_GAIN, or the intervals overlap: the kernels are the limit;
- `graphs slower`: the replay is slower beyond its interval, which a correct capture should
  never be (look at the row's notes);
- `unknown`: one side has no latency (skipped, failed or not timed).

The rows are paired by case key, all but the compile mode equal, so a cold replay is compared
with a cold eager call and a bf16 one with bf16.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.records import LatencyStats, Result, intervals_overlap
from bench.records.axes import CUDA_GRAPH
from bench.report.tables import markdown_table
from bench.units import significant

GRAPH_GAIN = 1.10
"""Eager over replay at or above this (10%, ten times the default precision target) is a gain
that launch overhead explains; below it the two are within what a run's drift moves."""
VERDICTS = ("launch-bound", "device-bound", "graphs slower", "unknown")


@dataclass(frozen=True)
class GraphPair:
    """One case timed eager and from a CUDA graph."""

    label: str
    eager: LatencyStats | None
    graph: LatencyStats | None

    @property
    def ratio(self) -> float | None:
        if self.eager is None or self.graph is None or self.graph.median_ms <= 0:
            return None
        return self.eager.median_ms / self.graph.median_ms

    @property
    def saved_us(self) -> float | None:
        """Eager minus replay per call, in microseconds: the host's share of each call."""
        if self.eager is None or self.graph is None:
            return None
        return (self.eager.median_ms - self.graph.median_ms) * 1000.0

    @property
    def verdict(self) -> str:
        ratio = self.ratio
        if ratio is None or self.eager is None or self.graph is None:
            return "unknown"
        apart = not intervals_overlap(self.eager, self.graph)  # no interval: no claim
        if ratio >= GRAPH_GAIN and apart:
            return "launch-bound"
        if ratio < 1.0 and apart:
            return "graphs slower"
        return "device-bound"


def graph_pairs(results: Sequence[Result]) -> list[GraphPair]:
    """Every cuda-graph row with its eager twin (the same key, compile = eager), in run order."""
    eager = {r.case.key: r for r in results if r.case.compile == "eager"}
    pairs = []
    for r in results:
        if r.case.compile != CUDA_GRAPH:
            continue
        twin = eager.get(replace(r.case.key, compile="eager"))
        label = replace(r.case.key, compile="eager").label
        pairs.append(GraphPair(label, twin.latency if twin else None, r.latency))
    return pairs


def graphs_section(results: Sequence[Result]) -> list[str]:
    """The report's "CUDA graphs" section; empty when the run has no cuda-graph row."""
    every = graph_pairs(results)
    if not every:
        return []
    pairs = [p for p in every if p.eager is not None or p.graph is not None]
    untimed = len(every) - len(pairs)
    if not pairs:
        return ["## CUDA graphs", "", _untimed_line(untimed, everything=True), ""]
    rows = [
        (
            f"`{p.label}`",
            _ms(p.eager),
            _ms(p.graph),
            "" if p.saved_us is None else significant(p.saved_us, 3),
            "" if p.ratio is None else f"{p.ratio:.2f}x",
            p.verdict,
        )
        for p in pairs
    ]
    headers = ["case", "eager ms", "graph replay ms", "host us/call", "eager/replay", "verdict"]
    return [
        "## CUDA graphs",
        "",
        markdown_table(rows, headers),
        "",
        f"*host us/call*: eager minus replay median. *launch-bound*: the replay is at least "
        f"{GRAPH_GAIN:.2f}x faster with disjoint intervals, so the GPU waits on the host; "
        "*device-bound*: within that, the kernels are the limit.",
        "",
        *([_untimed_line(untimed, everything=False), ""] if untimed else []),
    ]


def _untimed_line(count: int, everything: bool) -> str:
    """Pairs where neither side has a latency (both skipped or failed: their rows say why) would
    be table rows of empty cells; one line says the same."""
    pairs = "1 pair" if count == 1 else f"{count} pairs"
    if everything:
        return f"No case was timed eager or replayed: {pairs} skipped or failed (rows say why)."
    return f"Left out: {pairs} timed neither eager nor replayed (their rows say why)."


def _ms(latency: LatencyStats | None) -> str:
    return "" if latency is None else significant(latency.median_ms)
