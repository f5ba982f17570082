"""The spread of a case's medians over `--repeat` runs, from fixed rows."""

from dataclasses import replace
from pathlib import Path

import pytest

from bench.pipeline import repeated
from bench.records import Case, LatencyStats, ModelSpec, Result
from bench.report.repeatability import repeat_spreads, repeatability_section

SPEC = ModelSpec("m", "torch.nn:Linear", (4,), (1,))
CASE = Case("s", SPEC, "cpu", "float32", 1, Path("."))


def test_repeated_cases_are_interleaved_and_numbered() -> None:
    other = replace(CASE, batch_size=2)
    cases = repeated([CASE, other], 2)
    assert [(c.batch_size, c.repeat) for c in cases] == [(1, 1), (2, 1), (1, 2), (2, 2)]
    assert repeated([CASE], 1) == [CASE]


def test_cv_of_the_medians() -> None:
    results = [
        Result(replace(CASE, repeat=n), "ok", latency=LatencyStats.from_samples([m] * 10))
        for n, m in enumerate((9.0, 10.0, 11.0), start=1)
    ]
    (spread,) = repeat_spreads(results)
    assert spread.label == "m cpu float32 b1"
    assert spread.medians_ms == (9.0, 10.0, 11.0)
    assert spread.cv == pytest.approx(0.1)  # stdev 1 over mean 10
    assert spread.spread == pytest.approx(0.2)
    assert "CV 10.0%" in spread.summary()
    assert "## Repeatability" in repeatability_section(results)
    assert repeatability_section([replace(results[0], case=CASE)]) == []  # not repeated
