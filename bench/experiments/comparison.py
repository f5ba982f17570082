"""A variant against its family's baseline, from rounds measured interleaved.

The ratio (variant / baseline, below 1: the variant is faster) is the geometric mean of the
per-round ratios of block medians, with a bootstrap interval over rounds
(bench.stats); the verdict is the harness's one rule on that interval
(bench.stats.interval_verdict). Both variants ran in the same rounds, so the drift
that moves this VM 16-24% between half-second windows moves both sides of every ratio alike and
cancels. Per-call noise does not disqualify a row any more (the interval over rounds carries it);
a variant that never settled in warmup, or a machine that other processes crowded, does: the
ratio is still shown, the verdict is `inconclusive`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

THRESHOLD = 0.05
"""A difference within 5% either way is `same`: the experiments' conclusions had no threshold of
their own, and 5% is well above what interleaved rounds resolve on this machine."""


@dataclass(frozen=True)
class PairedComparison:
    """One variant vs its baseline: the paired ratio, its 95% interval, and the verdict."""

    baseline: str  # the baseline variant's name, e.g. "out_of_place"
    rounds: int
    verdict: str  # faster, slower, same or inconclusive (the variant relative to the baseline)
    reason: str
    ratio: float | None = None  # variant / baseline; None when no ratio could be taken
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    threshold: float = THRESHOLD

    def record(self) -> dict[str, Any]:
        """Its run.json form: every field, by name."""
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> PairedComparison:
        """Back from `record()`; keys a later version may add are left out."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def sentence(self) -> str:
        """'2.10x faster (95% CI 1.95-2.30x, 120 interleaved rounds; faster)', or why not."""
        if self.ratio is None or self.ci_low is None or self.ci_high is None:
            return f"{self.verdict} ({self.reason})"
        rounds = f"{self.rounds} interleaved rounds"
        if self.ratio <= 1:
            figure = f"{1 / self.ratio:.2f}x faster"
            interval = f"{1 / self.ci_high:.2f}-{1 / self.ci_low:.2f}x"
        else:
            figure = f"{self.ratio:.2f}x slower"
            interval = f"{self.ci_low:.2f}-{self.ci_high:.2f}x"
        if self.verdict == "inconclusive":  # the verdict first: a figure alone reads as a claim
            beyond = self.ci_low > 1 + self.threshold or self.ci_high < 1 / (1 + self.threshold)
            # a doubt (a crowded machine) cannot make 1000x vanish: the direction stands, the
            # size is what cannot be trusted
            lead = (
                f"{'slower' if self.ratio > 1 else 'faster'} by an amount not to quote"
                if beyond
                else "no clear difference"
            )
            return (
                f"{lead} (inconclusive: {self.reason}); the rounds' ratio read "
                f"{figure} (95% CI {interval}, {rounds})"
            )
        return f"{figure} (95% CI {interval}, {rounds}; verdict {self.verdict}: {self.reason})"


def compare_rounds(
    baseline: str,
    variant_rounds_ms: Sequence[float],
    baseline_rounds_ms: Sequence[float],
    doubts: Sequence[str] = (),
    threshold: float = THRESHOLD,
) -> PairedComparison:
    """The variant's per-round medians against the baseline's from the same rounds.

    `doubts` (a variant not steady, a contended machine) make the verdict `inconclusive`
    whatever the interval says; the figures are kept.
    """
    # imported here: bench.compare's package imports the report, which imports this module
    from bench.stats import MIN_ROUNDS, interval_verdict, paired_ratio

    rounds = len(variant_rounds_ms)
    if rounds < MIN_ROUNDS:
        why = f"{rounds} interleaved rounds; at least {MIN_ROUNDS} are needed for an interval"
        return PairedComparison(baseline, rounds, "inconclusive", why, threshold=threshold)
    try:
        paired = paired_ratio(baseline_rounds_ms, variant_rounds_ms)
    except ValueError as exc:  # unequal rounds or impossible times: no ratio to take
        return PairedComparison(baseline, rounds, "inconclusive", str(exc), threshold=threshold)
    verdict, reason = interval_verdict(paired.ci_low, paired.ci_high, threshold)
    if doubts:
        verdict, reason = "inconclusive", "; ".join(doubts)
    return PairedComparison(
        baseline=baseline,
        rounds=paired.rounds,
        verdict=verdict,
        reason=reason,
        ratio=paired.ratio,
        ci_low=paired.ci_low,
        ci_high=paired.ci_high,
        p_value=paired.p_value,
        threshold=threshold,
    )
