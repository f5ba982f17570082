"""Validate `[[experiments]]` entries of a suite as strictly as models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.errors import SuiteError
from bench.experiments.catalog import CATALOG, ROWS_REQUIRED, families
from bench.experiments.records import DEFAULT_SIZES, ExperimentSpec
from bench.suite.fields import check_keys, entries_of, entry_name

EXPERIMENT_KEYS = {"name", "kind", "families", "sizes"}


def load_experiments(path: Path, entries: Any) -> tuple[ExperimentSpec, ...]:
    if entries is None:
        return ()
    if not isinstance(entries, list) or not entries:
        raise SuiteError(path, "[[experiments]]", "must be a non-empty array of tables")
    specs: list[ExperimentSpec] = []
    for where, entry in entries_of(path, entries, "experiments"):
        check_keys(path, where, entry, EXPERIMENT_KEYS)
        name = entry_name(path, where, entry)
        if name in {s.name for s in specs}:
            raise SuiteError(
                path, where, f"duplicate experiment name {name!r}; names must be unique"
            )
        kind = entry.get("kind")
        if kind not in CATALOG:
            raise SuiteError(
                path, f"{where} kind", f"got {kind!r}; allowed: {', '.join(sorted(CATALOG))}"
            )
        known = families(kind)
        chosen = entry.get("families", list(known))
        if (
            not isinstance(chosen, list)
            or not chosen
            or not all(isinstance(f, str) and f in known for f in chosen)
            or len(set(chosen)) != len(chosen)
        ):
            raise SuiteError(
                path,
                f"{where} families",
                f"got {chosen!r}; a non-empty list of distinct names from: {', '.join(known)}",
            )
        sizes = entry.get("sizes", list(DEFAULT_SIZES))
        if (
            not isinstance(sizes, list)
            or not sizes
            or not all(
                isinstance(n, int) and not isinstance(n, bool) and n > 0 and n % ROWS_REQUIRED == 0
                for n in sizes
            )
            or len(set(sizes)) != len(sizes)
        ):
            raise SuiteError(
                path,
                f"{where} sizes",
                f"got {sizes!r}; a non-empty list of distinct element counts, positive multiples "
                f"of {ROWS_REQUIRED} (tensors are {ROWS_REQUIRED} x numel/{ROWS_REQUIRED})",
            )
        specs.append(ExperimentSpec(name, kind, tuple(chosen), tuple(sizes)))
    return tuple(specs)
