"""Suite cases as pytest parameters, and one case built into something to measure.

A case's id names everything that makes it a different measurement (model, device, dtype, batch,
per-sample shape, mode, and the in-place variant of a `compare_inplace` model), so pytest-benchmark
can match it with the same case of a saved baseline by its test name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from bench.measure import device_unavailable_reason
from bench.measure.counting import count_case
from bench.model import build_model, check_output, make_input, make_workload
from bench.model.downloads import block_downloads
from bench.model.variants import autocast
from bench.pytest_plugin.measure import Counts, Subject
from bench.records import Case, dims_text
from bench.suite import expand, load_suite

COUNT_METRICS = frozenset({"params", "flops"})


def case_id(case: Case) -> str:
    """`resnet18-cpu-float32-b8-3x224x224-eval` (plus `-in_place`/`-out_of_place`); several
    inputs' per-sample shapes are joined by `+`, a swept dimension shows as e.g. `seq128`."""
    shapes = "+".join("x".join(str(d) for d in shape[1:]) for shape in case.input_shapes)
    dims = [f"{name}{value}" for name, value in case.dims]
    parts = [case.model.name, case.device, case.dtype, f"b{case.batch_size}", *dims, shapes]
    parts.append(case.mode)
    if case.inplace_variant:
        parts.append(case.inplace_variant)
    # the variant axes, where not the default (two cases differing only there got one id)
    if case.memory_format != "contiguous":
        parts.append(case.memory_format)
    if case.compile != "eager":
        parts.append(case.compile)
    if case.cache != "warm":
        parts.append(f"{case.cache}-cache")
    return "-".join(parts)


def suite_cases(path: str | Path) -> list[Case]:
    """The suite's model cases, in its declared order (experiment tables are not model cases)."""
    return expand(load_suite(path))


def suite_params(path: str | Path) -> list[Any]:
    """`pytest.param`s for `@pytest.mark.parametrize("case", suite_params(FILE))`, one per case."""
    return [pytest.param(case, id=case_id(case)) for case in suite_cases(path)]


def case_labels(case: Case) -> dict[str, Any]:
    return {
        "suite": case.suite,
        "model": case.model.name,
        "factory": case.model.factory,
        "batch_size": case.batch_size,
        "inplace_variant": case.inplace_variant or None,
        "dims": dims_text(case.dims) or None,
    }


def _not_timed_here(case: Case) -> str | None:
    """Why pytest-benchmark's loop cannot time this case as `bench run` would: it times the
    forward as built, warm; a compiled, graph-replayed or cold-cache case would be timed as
    something else under its name."""
    if case.compile != "eager":
        return f"compile = {case.compile} is timed by `bench run`, not under pytest-benchmark"
    if case.cache != "warm":
        return f"cache = {case.cache} is timed by `bench run`, not under pytest-benchmark"
    return None


def subject_for_case(case: Case) -> Subject:
    """Build the case's model and input as `bench run` does, count it, check one forward, with
    downloads refused as in `bench run` (an attempt fails the test, naming the address).

    A device this machine lacks skips the test (pytest.skip), as `bench run` marks it skipped.
    """
    reason = device_unavailable_reason(case.device) or _not_timed_here(case)
    if reason is not None:
        pytest.skip(f"{case_id(case)}: {reason}")
    with block_downloads() as attempts:  # a test never downloads either
        model, example = build_model(case), make_input(case)
        outcome = count_case(case, model, example, COUNT_METRICS, crosscheck=False)
        with torch.no_grad():  # one checked forward before anything is timed
            check_output(example(model))
    if attempts.targets:  # refused, even where the model caught the refusal and went on
        pytest.fail(f"{case_id(case)}: {attempts.message()}", pytrace=False)
    counts = Counts(
        params=outcome.params,
        trainable_params=outcome.trainable_params,
        macs=outcome.macs,
        counted_on=outcome.details.counted_on,
        notes=outcome.notes,
    )
    # after counting (it sets the mode); an amp_* case's forward under its autocast
    workload = make_workload(model, example, case.mode, autocast(case.dtype, case.device))
    return Subject(
        model=model,
        inputs=tuple(example.tensors()),
        workload=workload,
        device=torch.device(case.device),
        dtype=case.dtype,
        counts=counts,
        labels=case_labels(case),
        threads=case.timing.threads,
    )
