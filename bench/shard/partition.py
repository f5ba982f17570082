"""Split a suite's expanded case list into N disjoint, stable parts.

Shards exist so that N identical machines share one suite's night. Two rules shape the split:

- **Stable.** The parts depend only on the case list (the suite file), never on the machine, the
  time or hash seeds, so every runner of a CI matrix or a Slurm array computes the same parts
  without talking to the others.
- **A model stays on one machine where possible.** Comparing a model's batch sizes or dtypes is
  only fair when they ran on the same machine, and a model built once per shard costs less. So
  whole models (an experiment counts as one "model") are assigned to shards, largest first, each
  to the shard with the fewest cases so far (ties: the lower shard); a model is split into
  contiguous pieces only when there are more shards than models.

Within a shard, cases keep the suite's declared order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.errors import BenchError
from bench.records.keys import CaseKey, key_of


@dataclass(frozen=True)
class Shard:
    """The `index`-th (1-based) of `count` parts, and where that came from (for run.json)."""

    index: int
    count: int
    source: str = ""

    def __post_init__(self) -> None:
        if not 1 <= self.index <= self.count:
            raise BenchError(
                f"shard {self.index}/{self.count}: the index must be between 1 and the count"
            )

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"


_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


def parse_shard(text: str) -> Shard:
    """`K/N` with 1 <= K <= N; anything else is a BenchError naming what is allowed."""
    match = _SPEC.fullmatch(text)
    if match is None:
        raise BenchError(f"--shard {text!r}: expected K/N (e.g. 2/4, 1-based) or auto")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise BenchError(f"--shard {text!r}: K must be between 1 and N, and N at least 1")
    return Shard(index, count, source=f"--shard {index}/{count}")


def case_key(case: Any) -> CaseKey:
    """The key of a model case or a tensor experiment case (bench.records.keys)."""
    return key_of(case)


def _group(key: CaseKey) -> tuple[str, str]:
    """What stays together: a model (all its modes, devices, dtypes, batches) or an experiment."""
    return key.kind, key.name


def partition(keys: Sequence[CaseKey], count: int) -> list[list[int]]:
    """Positions (into `keys`) of each of `count` parts; every position in exactly one part.

    Parts may be empty only when there are fewer cases than shards.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    groups: dict[tuple[str, str], list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(_group(key), []).append(position)
    pieces = _pieces(list(groups.values()), count)
    # largest first; equal sizes keep declared order (sorted is stable)
    pieces.sort(key=len, reverse=True)
    parts: list[list[int]] = [[] for _ in range(count)]
    for piece in pieces:
        lightest = min(range(count), key=lambda i: (len(parts[i]), i))
        parts[lightest].extend(piece)
    return [sorted(part) for part in parts]


def _pieces(groups: list[list[int]], count: int) -> list[list[int]]:
    """Whole groups, unless there are fewer groups than shards: then the groups with the most
    cases per piece are cut into more contiguous pieces until there are `count` pieces (or every
    piece is one case)."""
    cuts = [1] * len(groups)
    while sum(cuts) < count:
        splittable = [i for i, g in enumerate(groups) if cuts[i] < len(g)]
        if not splittable:
            break
        widest = max(splittable, key=lambda i: (len(groups[i]) / cuts[i], -i))
        cuts[widest] += 1
    pieces = []
    for group, n in zip(groups, cuts, strict=True):
        size, extra = divmod(len(group), n)
        start = 0
        for i in range(n):
            end = start + size + (1 if i < extra else 0)
            pieces.append(group[start:end])
            start = end
    return pieces


def select(cases: Sequence[Any], shard: Shard) -> list[Any]:
    """The shard's cases, in the suite's order."""
    positions = partition([case_key(c) for c in cases], shard.count)[shard.index - 1]
    return [cases[p] for p in positions]


def shard_record(
    shard: Shard, suite_cases: Sequence[Any], shard_cases: Sequence[Any]
) -> dict[str, Any]:
    """run.json's shard bookkeeping: which part, and the whole suite's case list so a merge can
    say which cases (and which shards) are missing without the suite file. (The header's
    `suite_sha256` says which suite file ran: shards must have run the same one.)"""
    return {
        "shard": {"index": shard.index, "count": shard.count, "source": shard.source},
        "suite_cases": [case_key(c).to_json() for c in suite_cases],
        "shard_cases": [case_key(c).to_json() for c in shard_cases],
    }


def shard_from_record(record: dict[str, Any]) -> Shard | None:
    """The shard a run.json recorded, None for an unsharded run; ValueError when malformed."""
    entry = record.get("shard")
    if entry is None:
        return None
    try:
        return Shard(int(entry["index"]), int(entry["count"]), str(entry.get("source", "")))
    except (KeyError, TypeError, ValueError, BenchError) as exc:
        raise ValueError(f"malformed shard record {entry!r}") from exc


def shard_to_run(given: Shard | None, prior_record: dict[str, Any] | None) -> Shard | None:
    """The shard a run measures: the one given, or on `--resume` the one the run recorded.

    Resuming a shard with another split would mix two partitions in one run directory.
    """
    if prior_record is None:
        return given
    try:
        recorded = shard_from_record(prior_record)
    except ValueError as exc:
        raise BenchError(f"cannot resume: {exc}") from None
    if given is not None and (recorded is None or recorded.label != given.label):
        was = f"shard {recorded.label}" if recorded else "not a shard"
        raise BenchError(f"--shard {given.label}: the run being resumed is {was}; drop --shard")
    return recorded
