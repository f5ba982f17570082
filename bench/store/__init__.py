"""The run directory on disk: results.csv, run.json and run.log, written so nothing is lost.

`rundir` creates the directory and writes rows and records atomically; `runlog` keeps the
per-case log with tracebacks; `resume` reads an earlier run back for `--resume`.
"""

from bench.store.resume import PriorRun, load_prior_run, read_run_record
from bench.store.rundir import (
    REPORT_MD,
    RESULTS_CSV,
    RUN_JSON,
    CsvWriter,
    new_run_dir,
    run_record,
    write_atomic,
)
from bench.store.runlog import RUN_LOG, RunLog

__all__ = [
    "REPORT_MD",
    "RESULTS_CSV",
    "RUN_JSON",
    "RUN_LOG",
    "CsvWriter",
    "PriorRun",
    "RunLog",
    "load_prior_run",
    "new_run_dir",
    "read_run_record",
    "run_record",
    "write_atomic",
]
