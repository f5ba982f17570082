"""Sharding: one suite split over many machines, then joined back into one run.

Owns the stable split of a suite's case list (`partition`), reading the shard from a
scheduler's environment for `--shard auto` (`environ`) and `bench merge` (`merge`). `bench
submit` is bench.submit, beside the pipeline it drives (the
pipeline uses this package to pick a shard's cases, so it cannot live here).
"""

from bench.shard.environ import COUNT_VARIABLE, INDEX_VARIABLES, shard_from_environment
from bench.shard.merge import (
    MergeError,
    MergeOutcome,
    MergePlan,
    merge_runs,
    missing_lines,
    plan_merge,
    write_merge,
)
from bench.shard.partition import (
    Shard,
    case_key,
    parse_shard,
    partition,
    select,
    shard_from_record,
    shard_record,
    shard_to_run,
)

__all__ = [
    "COUNT_VARIABLE",
    "INDEX_VARIABLES",
    "MergeError",
    "MergeOutcome",
    "MergePlan",
    "Shard",
    "case_key",
    "merge_runs",
    "missing_lines",
    "parse_shard",
    "partition",
    "plan_merge",
    "select",
    "shard_from_environment",
    "shard_from_record",
    "shard_record",
    "shard_to_run",
    "write_merge",
]
