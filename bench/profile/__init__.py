"""Profiling: where a case's time and memory go, per operator and per module, with traces.

Owns `bench profile` and `bench run --profile`: after bench's own warmup and unprofiled timing,
a short `torch.profiler` session (schedule: wait, warmup, active) over steady-state steps gives
the top operators (`key_averages`), per-module times (record_function ranges opened by module
forward hooks) with FLOPs per module (FlopCounterMode), the operators that allocate the most,
a Chrome/Perfetto trace per case and, on CUDA, an allocator memory snapshot. `records` holds
the rows, `modules` the hooks and FLOPs, `tables` the aggregation, `session` one case,
`render` report.md and CSV, `run` the suite-level commands.
"""

from bench.profile.render import write_profile_csvs
from bench.profile.run import ProfileOutcome, profile_cases, profile_suite, select_cases
from bench.profile.session import cuda_memory_snapshot, profile_case
from bench.records.profiles import (
    CaseProfile,
    MemoryRow,
    ModuleRow,
    OpRow,
    ProfileSettings,
    profile_from_record,
    profile_record,
)
from bench.report.profiles import module_table, profile_section

__all__ = [
    "CaseProfile",
    "MemoryRow",
    "ModuleRow",
    "OpRow",
    "ProfileOutcome",
    "ProfileSettings",
    "cuda_memory_snapshot",
    "module_table",
    "profile_case",
    "profile_cases",
    "profile_from_record",
    "profile_record",
    "profile_section",
    "profile_suite",
    "select_cases",
    "write_profile_csvs",
]
