"""Built-in experiments: in-place vs out-of-place ops and view vs copy, measured per variant.

`catalog` defines the variants and their references; `measure` times one variant and records
its bytes, storage sharing and correctness; `run` expands and measures an `[[experiments]]`
entry; `records` holds its rows; `analysis` draws conclusions from them. The report package
renders them and `bench.suite.experiments` parses their suite tables.
"""

from bench.experiments.catalog import CATALOG
from bench.experiments.records import ExperimentCase, ExperimentResult, ExperimentSpec
from bench.experiments.run import expand_experiments, measure_experiment_case

__all__ = [
    "CATALOG",
    "ExperimentCase",
    "ExperimentResult",
    "ExperimentSpec",
    "expand_experiments",
    "measure_experiment_case",
]
