"""The run directory on disk, written so nothing is lost, and read back whole.

`rundir` creates the directory and its append-only and atomic files; `entries` turns one case's
result into its record entry and back; `readback` reads a run's record (either format);
`runlog` keeps the per-case log with tracebacks; `resume` reads an earlier run back for
`--resume`; `digests` hashes the files a run depends on.
"""

from bench.store.readback import RunReadError, read_record, results_from_record
from bench.store.resume import PriorRun, load_prior_run, read_run_record
from bench.store.rundir import (
    CASES_JSONL,
    FORMAT_VERSION,
    REPORT_MD,
    RESULTS_CSV,
    RUN_JSON,
    CsvWriter,
    new_run_dir,
    write_atomic,
    write_header,
)
from bench.store.runlog import RUN_LOG, RunLog

__all__ = [
    "CASES_JSONL",
    "FORMAT_VERSION",
    "REPORT_MD",
    "RESULTS_CSV",
    "RUN_JSON",
    "RUN_LOG",
    "CsvWriter",
    "PriorRun",
    "RunLog",
    "RunReadError",
    "load_prior_run",
    "new_run_dir",
    "read_record",
    "read_run_record",
    "results_from_record",
    "write_atomic",
    "write_header",
]
