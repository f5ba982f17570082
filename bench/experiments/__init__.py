"""Built-in experiments: in-place vs out-of-place ops and view vs copy, measured per variant.

`catalog` defines the variants, their references and each family's baseline; `measure`
prepares a variant (bytes, storage sharing, correctness) and times a family's variants together;
`interleave` is that timing loop (rounds that alternate the variants' blocks, so drift cancels);
`comparison` turns shared rounds into a paired ratio and verdict against the baseline; `run`
expands an `[[experiments]]` entry and measures it group by group; `records` holds its rows;
`analysis` draws conclusions from them. The report package renders them and
`bench.suite.experiments` parses their suite tables.
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
