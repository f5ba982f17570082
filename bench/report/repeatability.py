"""How repeatable a figure is: the spread of one case's medians over `bench run --repeat N`.

One run's interval says how precisely that run knew its median; it says nothing about the next
run, which may land on another CPU frequency, cache layout or neighbour. Repetitions are
interleaved (every case once, then every case again), so a slow drift of the machine shows as
spread instead of hiding as a difference between cases.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.records import Result
from bench.report.tables import markdown_table


@dataclass(frozen=True)
class RepeatSpread:
    """One case's medians over its repetitions (ok rows with latency only)."""

    label: str
    medians_ms: tuple[float, ...]
    doubtful: int  # repetitions that were noisy, contended or not steady

    @property
    def median_ms(self) -> float:
        return statistics.median(self.medians_ms)

    @property
    def cv(self) -> float | None:
        """Sample standard deviation over mean of the medians; None with fewer than two."""
        if len(self.medians_ms) < 2:
            return None
        return statistics.stdev(self.medians_ms) / statistics.mean(self.medians_ms)

    @property
    def spread(self) -> float:
        """(max - min) / median of the medians."""
        return (max(self.medians_ms) - min(self.medians_ms)) / self.median_ms

    def summary(self) -> str:
        cv = "n/a" if self.cv is None else f"{100 * self.cv:.1f}%"
        line = (
            f"{self.label}: median of medians {self.median_ms:.4g} ms, CV {cv}, spread"
            f" {100 * self.spread:.1f}% over {len(self.medians_ms)} runs"
        )
        if self.doubtful:
            line += f" ({self.doubtful} noisy, contended or not steady)"
        return line


def repeat_spreads(results: Sequence[object]) -> list[RepeatSpread]:
    """One entry per repeated case, in first-seen order."""
    by_case: dict[tuple[object, ...], list[Result]] = {}
    for r in results:
        if isinstance(r, Result) and r.case.repeat is not None:
            once = replace(r.case.key, repeat=None)  # the repetitions of one case, together
            by_case.setdefault((once, r.case.backoff_from), []).append(r)
    spreads = []
    for rows in by_case.values():
        timed = [r.latency for r in rows if r.status == "ok" and r.latency is not None]
        if not timed:
            continue
        label = rows[0].case.label.rsplit(" #", 1)[0]
        spreads.append(
            RepeatSpread(
                label=label,
                medians_ms=tuple(lat.median_ms for lat in timed),
                doubtful=sum(not lat.trustworthy for lat in timed),
            )
        )
    return spreads


def repeatability_section(results: Sequence[object]) -> list[str]:
    """Markdown lines: a table of each repeated case's medians and their CV; nothing if none."""
    spreads = repeat_spreads(results)
    if not spreads:
        return []
    body = [
        [
            s.label,
            str(len(s.medians_ms)),
            f"{s.median_ms:.4g}",
            "" if s.cv is None else f"{100 * s.cv:.1f}%",
            f"{100 * s.spread:.1f}%",
            ", ".join(f"{m:.4g}" for m in s.medians_ms),
            str(s.doubtful),
        ]
        for s in spreads
    ]
    headers = ["Case", "Runs", "Median of medians (ms)", "CV", "Spread", "Medians (ms)", "Doubtful"]
    return [
        "## Repeatability",
        "",
        "Each case ran once per repetition, interleaved. *CV* is the sample standard deviation "
        "of its medians over their mean: how far the next run's median is likely to land. "
        "*Spread* is (max - min) / median; *Doubtful* counts repetitions that were noisy, "
        "contended or not steady.",
        "",
        markdown_table(body, headers, "lrrrrlr"),
        "",
    ]
