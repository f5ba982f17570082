"""Results rebuilt from run.json entries, so a merge can render one report over many machines.

run.json keeps, per case, its row and everything the statistics were computed from (raw
samples, warmup, the memory pass's breakdown, what the FLOP count covered), so the rebuilt
records compute the same statistics: `Result.row()` of a rebuilt model case equals the row the
shard wrote. Lost on the way: torchinfo's per-layer tables (run.json does not keep them) and
the full tracebacks of failing cases (they stay in each shard's run.log).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.experiments.readback import experiment_result
from bench.experiments.records import ExperimentResult
from bench.records import Result
from bench.shard.partition import CaseKey
from bench.store.readback import model_result

MODEL_INPLACE = "model_inplace"  # the `experiment` cell of a compare_inplace model row


def is_experiment_entry(entry: dict[str, Any]) -> bool:
    return bool(entry.get("experiment")) and entry.get("experiment") != MODEL_INPLACE


def entry_key(entry: dict[str, Any]) -> tuple[CaseKey, int | None]:
    """The requested case a run.json entry answers, and the batch it backed off from, if any.

    A row that `--oom-backoff` added ran a smaller batch than requested; it belongs to the case
    that asked for `backoff_from`.
    """
    if is_experiment_entry(entry):
        key = (
            "experiment",
            entry.get("experiment"),
            entry.get("model"),
            entry.get("variant"),
            entry.get("device"),
            entry.get("dtype"),
            entry.get("numel"),
        )
        return key, None
    backoff_from = entry.get("backoff_from")
    requested = backoff_from if backoff_from is not None else entry.get("batch_size")
    variant = entry.get("variant") if entry.get("experiment") == MODEL_INPLACE else ""
    key = (
        "model",
        entry.get("model"),
        entry.get("mode"),
        entry.get("device"),
        entry.get("dtype"),
        requested,
        variant or "",
        entry.get("memory_format") or "contiguous",
        entry.get("compile") or "eager",
        entry.get("repeat"),
        entry.get("dims") or "",
    )
    return key, backoff_from


def result_from_entry(entry: dict[str, Any]) -> Result | ExperimentResult:
    """A Result (model case) or ExperimentResult from its run.json entry.

    Raises KeyError, ValueError or TypeError on an entry that is not what bench writes.
    """
    if is_experiment_entry(entry):
        return experiment_result(entry)
    return model_result(entry, Path(str(entry.get("base_dir") or ".")))
