"""Suites: read a TOML file, validate every entry strictly, expand it into Cases.

`load` owns the suite and model tables and the expansion into cases; `experiments` the
`[[experiments]]` tables; `fields` the checks every table shares (keys, strings, names). Errors
are `SuiteError`s of one line naming the file, the entry and what is allowed.
"""

from bench.suite.experiments import EXPERIMENT_KEYS, load_experiments
from bench.suite.load import DTYPES, MODEL_KEYS, SUITE_KEYS, expand, load_suite

__all__ = [
    "DTYPES",
    "EXPERIMENT_KEYS",
    "MODEL_KEYS",
    "SUITE_KEYS",
    "expand",
    "load_experiments",
    "load_suite",
]
