"""Built-in experiments: in-place vs out-of-place ops and view vs copy, measured per variant.

`catalog` names the variants, their NumPy oracles and each family's baseline, and `kernels` is
the torch code each runs, with the reference check; `measure` prepares a variant (bytes, storage
sharing, correctness) and times a family's variants together; `interleave` is that timing loop
(rounds that alternate the variants' blocks, so drift cancels); `comparison` turns shared rounds
into a paired ratio and verdict against the baseline; `run` expands an `[[experiments]]` entry
and measures it group by group; `records` holds its rows; `analysis` draws conclusions from
them. The report package renders them and `bench.suite.experiments` parses their suite tables.

Its names are imported on first use: validating a suite's experiments and reading and
reporting their rows (`catalog`, `records`, `analysis`) need no torch; measuring them does.
"""

from __future__ import annotations

from bench import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "bench.experiments.catalog": ("CATALOG",),
        "bench.experiments.records": ("ExperimentCase", "ExperimentResult", "ExperimentSpec"),
        "bench.experiments.run": ("expand_experiments", "measure_experiment_case"),
    },
)
