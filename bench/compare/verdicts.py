"""Per-case verdicts from raw samples: `faster`, `slower`, `same` or `inconclusive`.

The ratio r is NEW's median over BASE's (above 1: slower), each median taken over the side's
block medians: consecutive samples share the machine's state, so the block (a run of samples
spread over the case's budget) is the unit. r's 95% interval [lo, hi] comes from a seeded
percentile bootstrap over blocks (each side resampled on its own, the medians' ratio taken each
time). With t the threshold and d the larger of t and the machine's A/A noise floor:

- `slower` when lo > 1 + d; `faster` when hi < 1 / (1 + d);
- `same` when the whole interval lies inside [1 / (1 + t), 1 + t];
- `inconclusive` otherwise, and always when either side errored, is noisy, contended, drifting
  or not steady, has fewer than MIN_BLOCKS blocks, or holds impossible samples (zero, negative,
  not finite); except that a contended or throttled BASE keeps a `slower`, and such a NEW a
  `faster`: load only slows the side it hits, so it can hide such a change, never invent it.

Two stored runs were made at different times, and a whole run on a shared machine shifts by more
than any in-run interval shows (20-30% on a 2-core VM): the noise floor, the spread `bench
doctor` measured between repeated whole measurements on this machine (recorded in each run's
environment), is the smallest change ever called. `bench ab` interleaves the two sides instead
and needs no floor. A Mann-Whitney U test on the block medians is reported beside the interval.
Two identical sets of samples (a run compared with itself) are `same` without further test.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.stats import mannwhitneyu

from bench.compare.history import CaseFloor
from bench.compare.instructions import DEFAULT_MARGIN, InstructionChange, instruction_change
from bench.compare.sources import CaseKey, RunSamples, SideCase
from bench.stats import (
    VERDICTS,
    hierarchical_medians,
    interval_verdict,
    suspects_reason,
)

DEFAULT_THRESHOLD = 0.10
ALPHA = 0.05
CONFIDENCE = 0.95
RESAMPLES = 2000
MIN_BLOCKS = 6  # the fewest blocks whose median has a 95% interval (bench/stats.py)
SEED = 20240601  # fixed: the same two runs always get the same interval
_CHUNK_VALUES = 2_000_000  # bootstrap in chunks so thousands of samples stay within memory


@dataclass(frozen=True)
class SampleComparison:
    """The statistics of one case's two sample sets."""

    verdict: str
    reason: str
    base_median_ms: float | None = None
    new_median_ms: float | None = None
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    # the verdict is the interval rule's own, not one forced to inconclusive (a flagged side,
    # too few blocks, impossible samples): the interval can be trusted
    judged: bool = False

    def clears(self, limit: float) -> bool:
        """Whether this case is confidently not slower than `limit` (a ratio such as 1.10): a
        gate's one-sided question. An `inconclusive` whose trusted interval ends below the
        limit (8% faster, interval 0.90-0.94 against a 10% threshold) answers it: no."""
        return self.judged and self.ci_high is not None and self.ci_high <= limit


@dataclass(frozen=True)
class CaseComparison:
    """One matched case: its timing verdict and its exact figures on both sides."""

    base: SideCase
    new: SideCase
    timing: SampleComparison
    instructions: InstructionChange | None = None  # when both sides counted them

    @property
    def key(self) -> CaseKey:
        return self.base.key

    @property
    def verdict(self) -> str:
        return self.timing.verdict

    def exact_changes(self) -> list[tuple[str, int | None, int | None]]:
        """Params, MACs and peak memory are deterministic: any difference is a real change."""
        pairs = [
            ("params", self.base.params, self.new.params),
            ("MACs", self.base.macs, self.new.macs),
            ("peak memory (bytes)", self.base.peak_memory_bytes, self.new.peak_memory_bytes),
        ]
        return [(name, old, new) for name, old, new in pairs if old != new]


@dataclass(frozen=True)
class Comparison:
    base: RunSamples
    new: RunSamples
    threshold: float
    cases: tuple[CaseComparison, ...]
    added: tuple[SideCase, ...]
    removed: tuple[SideCase, ...]
    noise_floor: float | None = None  # the larger side's A/A floor; None: neither measured one
    noise_floor_source: str = ""  # how that side's floor was measured (sources.floor_source)
    # per case, the spread of other runs of the same code (bench/compare/history.py)
    case_floors: Mapping[CaseKey, CaseFloor] = field(default_factory=dict)
    instruction_margin: float = DEFAULT_MARGIN  # beyond it, instructions are more/fewer

    def environment_differences(self) -> list[tuple[str, str, str]]:
        names = [n for n in self.base.environment if n in self.new.environment]
        return [
            (n, self.base.environment[n], self.new.environment[n])
            for n in names
            if self.base.environment[n] != self.new.environment[n]
        ]

    def counts(self) -> dict[str, int]:
        return {v: sum(c.verdict == v for c in self.cases) for v in VERDICTS}


def _side_medians(
    values: Sequence[float] | list[list[float]], rng: np.random.Generator
) -> np.ndarray:
    if values and isinstance(values[0], list):
        return hierarchical_medians(values, RESAMPLES, rng)  # type: ignore[arg-type]
    return _medians(np.asarray(values, dtype=float), rng)


def _medians(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    rows_per_chunk = max(1, _CHUNK_VALUES // len(samples))
    medians = []
    for start in range(0, RESAMPLES, rows_per_chunk):
        rows = min(rows_per_chunk, RESAMPLES - start)
        picks = rng.integers(0, len(samples), size=(rows, len(samples)))
        medians.append(np.median(samples[picks], axis=1))
    return np.concatenate(medians)


def bootstrap_ratio_ci(
    base: Sequence[float] | list[list[float]],
    new: Sequence[float] | list[list[float]],
    seed: int = SEED,
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(new) / median(base). A side given as a list of
    groups (one per worker process) is resampled hierarchically: processes, then blocks."""
    rng = np.random.default_rng(seed)
    base_medians = _side_medians(base, rng)
    new_medians = _side_medians(new, rng)
    ratios = new_medians / base_medians
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)


def _flag_reason(base: SideCase, new: SideCase, verdict: str = "") -> str:
    """Why a verdict on these two sides cannot stand ('' when it can). Contention and throttling
    only ever slow the side they hit: a contended BASE can hide a slowdown, never invent one, so
    it does not undo a `slower` (nor a contended NEW a `faster`): the change is, if anything,
    larger than measured."""
    for side, case in (("BASE", base), ("NEW", new)):
        only_against = (side, verdict) in (("BASE", "slower"), ("NEW", "faster"))
        if case.contended and not only_against:
            return f"{side} ran contended"
        if case.throttled and not only_against:
            return f"{side} ran throttled (GPU clock below 75% of its default)"
        if case.steady is False:
            return f"{side} did not reach a steady state before sampling"
        if case.noisy:
            return f"{side} is noisy"
        if case.drifting:
            return f"{side} drifted during its run (its halves disagree)"
    return ""


def _resampled(groups: list[list[float]]) -> list[float] | list[list[float]]:
    """What the bootstrap resamples: the blocks, or with processes the groups of them."""
    return groups if len(groups) > 1 else groups[0]


def compare_samples(
    base: SideCase,
    new: SideCase,
    threshold: float = DEFAULT_THRESHOLD,
    noise_floor: float = 0.0,
) -> SampleComparison:
    """The verdict on one case's latency, with the figures behind it (module doc's rule)."""
    for side, case in (("BASE", base), ("NEW", new)):
        if case.status != "ok" or not case.samples_ms:
            why = f"{side} is {case.status}" if case.status != "ok" else f"{side} has no samples"
            return SampleComparison("inconclusive", why)
        if not all(math.isfinite(v) and v > 0 for v in case.samples_ms):
            # a latency of 0 or less (a broken clock, an edited file) has no ratio to take
            why = f"{side} has impossible samples (zero, negative or not finite)"
            return SampleComparison("inconclusive", why)
    if base.shape and new.shape and base.shape != new.shape:
        return SampleComparison("inconclusive", f"input shape {base.shape} vs {new.shape}")
    base_groups, new_groups = base.block_groups(), new.block_groups()
    base_blocks = [b for group in base_groups for b in group]
    new_blocks = [b for group in new_groups for b in group]
    base_median = float(np.median(base_blocks))
    new_median = float(np.median(new_blocks))
    ratio = new_median / base_median
    if sorted(base.samples_ms) == sorted(new.samples_ms):
        return SampleComparison(
            "same", "identical samples", base_median, new_median, ratio, ratio, ratio, 1.0, True
        )
    for side, blocks in (("BASE", base_blocks), ("NEW", new_blocks)):
        if len(blocks) < MIN_BLOCKS:
            why = f"{side} has {len(blocks)} blocks; an interval needs {MIN_BLOCKS}"
            return SampleComparison("inconclusive", why, base_median, new_median, ratio)
    low, high = bootstrap_ratio_ci(_resampled(base_groups), _resampled(new_groups))
    p_value = float(mannwhitneyu(base_blocks, new_blocks, alternative="two-sided").pvalue)
    figures = (base_median, new_median, ratio, low, high, p_value)
    verdict, why = interval_verdict(low, high, threshold, noise_floor)
    flagged = _flag_reason(base, new, verdict)
    if flagged:
        return SampleComparison("inconclusive", flagged, *figures)
    slowed = _slowed_side(base, new)
    if slowed:  # the verdict stands against it; say so beside the rule's reason
        why = f"{why}; {slowed}, which can only have shrunk the change"
    return SampleComparison(verdict, why, *figures, judged=True)


def _slowed_side(base: SideCase, new: SideCase) -> str:
    for side, case in (("BASE", base), ("NEW", new)):
        if case.contended or case.throttled:
            return f"{side} ran {'contended' if case.contended else 'throttled'}"
    return ""


def compare_runs(
    base: RunSamples,
    new: RunSamples,
    threshold: float = DEFAULT_THRESHOLD,
    case_floors: Mapping[CaseKey, CaseFloor] | None = None,
    instruction_margin: float = DEFAULT_MARGIN,
) -> Comparison:
    """Match cases by key (in BASE's run order) and judge each; list added and removed ones.

    The noise floor is the larger of the two runs' recorded floors (a change must stand out on
    both machines' days), raised per case to its A/A floor from other runs of the same code
    (`case_floors`, from bench/compare/history.py) where that is larger."""
    sides = [side for side in (base, new) if side.noise_floor is not None]
    source = max(sides, key=lambda side: side.noise_floor or 0.0) if sides else None
    floor = source.noise_floor if source is not None else None
    history = dict(case_floors or {})
    new_by_key = {c.key: c for c in new.cases}
    base_keys = {c.key for c in base.cases}
    matched = tuple(
        CaseComparison(
            b,
            new_by_key[b.key],
            _judged(b, new_by_key[b.key], threshold, floor, history),
            instruction_change(b, new_by_key[b.key], instruction_margin),
        )
        for b in base.cases
        if b.key in new_by_key
    )
    return Comparison(
        base=base,
        new=new,
        threshold=threshold,
        cases=matched,
        added=tuple(c for c in new.cases if c.key not in base_keys),
        removed=tuple(c for c in base.cases if c.key not in new_by_key),
        noise_floor=floor,
        noise_floor_source=source.noise_floor_source if source is not None else "",
        case_floors=history,
        instruction_margin=instruction_margin,
    )


def _judged(
    base: SideCase,
    new: SideCase,
    threshold: float,
    machine_floor: float | None,
    history: Mapping[CaseKey, CaseFloor],
) -> SampleComparison:
    """compare_samples under the larger of the machine's floor and the case's A/A floor, with
    the reason naming the A/A history when that is what held a verdict back."""
    case_floor = history.get(base.key)
    floor = max(machine_floor or 0.0, case_floor.fraction if case_floor else 0.0)
    result = compare_samples(base, new, threshold, floor)
    if case_floor is None or case_floor.fraction <= (machine_floor or 0.0):
        return result
    if result.verdict == "inconclusive" and "noise floor" in result.reason:
        why = (
            f"beyond threshold but within the {100 * case_floor.fraction:.0f}% that "
            f"{case_floor.runs} other run(s) of the same code differ by"
        )
        return replace(result, reason=why)
    return result


def device_mismatch(base: RunSamples, new: RunSamples) -> str:
    """'' when every device family both runs used is the same hardware, else what differs."""
    used_base = {c.key.device.split(":")[0] for c in base.cases}
    used_new = {c.key.device.split(":")[0] for c in new.cases}
    differences = [
        f"{family}: {base.hardware[family]} vs {new.hardware[family]}"
        for family in sorted(used_base & used_new)
        if family in base.hardware
        and family in new.hardware
        and base.hardware[family] != new.hardware[family]
    ]
    return "; ".join(differences)


def regressions_beyond(comparison: Comparison, fraction: float) -> list[CaseComparison]:
    """Cases confidently slower by more than `fraction`, whatever --threshold made of them: the
    ratio's interval starts past 1 + fraction (and past the noise floor) and neither side is
    flagged. So `--fail-on-regression 5` fails an 8% slowdown with a tight interval even where
    the 10% threshold called it `same`."""

    return [
        c
        for c in comparison.cases
        if c.timing.ci_low is not None
        and c.timing.ci_low > _beyond(comparison, c, fraction)
        and c.timing.reason != "identical samples"
        and not _flag_reason(c.base, c.new, "slower")
    ]


def _beyond(comparison: Comparison, case: CaseComparison, fraction: float) -> float:
    """The ratio a gate of `fraction` calls past for this case: 1 + the largest of the gate,
    the machine's noise floor and the case's A/A history floor."""
    history = comparison.case_floors.get(case.key)
    floors = (fraction, comparison.noise_floor or 0.0, history.fraction if history else 0.0)
    return 1 + max(floors)


def _failed_cases(comparison: Comparison) -> str:
    failed = [c for c in comparison.new.cases if c.status in ("error", "oom", "timeout")]
    if not failed:
        return ""
    shown = ", ".join(f"`{c.label}`" for c in failed[:3])
    more = f" and {len(failed) - 3} more" if len(failed) > 3 else ""
    return f"NEW has {len(failed)} failed case(s): {shown}{more}"


def unjudged_reason(comparison: Comparison, fraction: float | None = None) -> str:
    """Why a regression gate cannot pass this comparison ('' when it can judge it): NEW has
    error rows, no case matched, every matched case is inconclusive, or (with the gate's
    `fraction`) an inconclusive case's median is past the gate: a regression it could not
    confirm, which a pass would hide."""
    failed = _failed_cases(comparison)
    if failed:
        return failed
    if not comparison.cases:
        return "no case of NEW matches a case of BASE"
    if all(
        c.verdict == "inconclusive"
        # cleared against the gate's own limit: a noise floor widens what is called slower, not
        # what counts as shown not slower
        and (fraction is None or not c.timing.clears(1 + fraction))
        for c in comparison.cases
    ):
        return f"all {len(comparison.cases)} matched cases are inconclusive"
    if fraction is None:
        return ""
    return suspects_reason(
        [
            (c.base.label, c.timing.ratio, c.timing.reason)
            for c in comparison.cases
            if c.verdict == "inconclusive"
            and c.timing.ratio is not None
            and c.timing.ratio > _beyond(comparison, c, fraction)
        ]
    )


def instruction_regressions(comparison: Comparison, fraction: float) -> list[CaseComparison]:
    """`--gate instructions`: cases whose instructions per call rose by more than `fraction`
    (no interval or floor: the count does not move with the machine's load)."""
    return [
        c
        for c in comparison.cases
        if c.instructions is not None and c.instructions.change > fraction
    ]


def instructions_unjudged(comparison: Comparison) -> str:
    """Why an instruction gate cannot pass ('' when it can): NEW has failed cases, or no matched
    case has a count on both sides."""
    failed = _failed_cases(comparison)
    if failed:
        return failed
    if not any(c.instructions is not None for c in comparison.cases):
        return "no matched case has instruction counts on both sides (--metrics instructions)"
    return ""
