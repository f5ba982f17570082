"""One figure, one computation: every count the report quotes agrees with the rows it is about,
and the warnings and the details quote the same count in the same words. Intervals are quoted
as their ends where +-% would misread them."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from bench.records import Case, LatencyStats, ModelSpec, Result
from bench.report.document import render_report
from bench.report.rebuild import report_title
from bench.report.summary import warnings
from bench.report.timing import PrecisionTally, timing_section
from bench.store.readback import read_record, results_from_record

EXAMPLE = Path(__file__).parents[1] / "results" / "example-default"
SPEC = ModelSpec(name="net", factory="torch.nn:Identity", input_shape=(3,), batch_sizes=(1,))
CASE = Case(suite="s", model=SPEC, device="cpu", dtype="float32", batch_size=1, base_dir=Path())


def _stats(median: float, low: float | None, high: float | None, **fields) -> LatencyStats:
    return LatencyStats(
        samples_ms=(median,),
        median_ms=median,
        iqr_ms=0.0,
        p90_ms=median,
        min_ms=median,
        mean_ms=median,
        ci_low_ms=low,
        ci_high_ms=high,
        **fields,
    )


def test_a_lopsided_interval_is_quoted_by_its_ends() -> None:
    """0.319-8.94 ms around 0.329 ms once read `+-1,310%`: as if the median could be negative."""
    lopsided = _stats(0.329, 0.319, 8.94)
    assert lopsided.interval_asymmetric
    assert lopsided.interval_text() == "0.3190-8.940 ms"
    assert lopsided.precision_label() == "95% CI 0.3190-8.940 ms"
    # sides 1.0 and 2.0: within 2x, the +-% reads it closely enough
    assert _stats(10.0, 9.0, 12.0).interval_text() == "+-15%"
    assert _stats(10.0, 9.0, 12.1).interval_text() == "9.000-12.10 ms"  # 2.1x
    assert _stats(10.0, 10.0, 10.5).interval_text() == "10.00-10.50 ms"  # no lower side at all
    assert _stats(10.0, None, None).interval_text() == ""


def test_the_warnings_and_the_details_quote_one_precision_count() -> None:
    target = {"precision_target": 0.01}
    results = [
        Result(case=CASE, status="ok", latency=_stats(10.0, 9.99, 10.01, **target)),  # met
        Result(case=CASE, status="ok", latency=_stats(10.0, 9.0, 12.0, **target)),  # not met
        Result(case=CASE, status="ok", latency=_stats(10.0, None, None, steady=False, **target)),
        Result(case=CASE, status="ok", latency=_stats(10.0, 9.0, 11.0)),  # no target
        Result(case=CASE, status="error", error="boom"),
    ]
    tally = PrecisionTally.of(results)
    assert (len(tally.timed), len(tally.met), len(tally.not_met), len(tally.no_target)) == (
        4,
        1,
        2,
        1,
    )
    sentence = "precision target met in 1 of 4 timed cases, not met in 2, none set in 1"
    assert tally.sentence() == sentence
    (bullet,) = [w for w in warnings(results) if w.startswith("precision target")]
    assert bullet.startswith(sentence + ": ")
    assert bullet.endswith("(+-15%), `net cpu float32 b1` (not steady)")
    assert f"Precision{sentence[len('precision') :]}." in "\n".join(timing_section(results))


def _label(row: dict[str, str]) -> str:
    parts = [row["model"], row["device"], row["dtype"], f"b{row['batch_size']}"]
    parts += [row["dims"], row["variant"]]
    if row["memory_format"] != "contiguous":
        parts.append(row["memory_format"])
    if row["compile"] != "eager":
        parts.append(f"compile={row['compile']}")
    if row["mode"] != "eval":
        parts.append(row["mode"])
    return " ".join(p for p in parts if p)


def _listed(bullets: list[str], start: str) -> list[str]:
    """The cases a warning bullet names, in order (empty when there is no such bullet)."""
    found = [b for b in bullets if b.startswith(start)]
    return re.findall(r"`([^`]+)`", found[0]) if found else []


@pytest.fixture(scope="module")
def example() -> tuple[str, list[dict[str, str]]]:
    record = read_record(EXAMPLE)
    results = results_from_record(record, EXAMPLE)
    from bench.store.options import options_lines

    title = report_title(record, EXAMPLE)
    text = render_report(results, record["environment"], title, front=options_lines(record))
    rows = list(csv.DictReader((EXAMPLE / "results.csv").open(encoding="utf-8")))
    return text, rows


def test_every_count_in_the_example_report_matches_its_rows(example) -> None:
    text, rows = example
    warnings_part = text.split("## Warnings\n\n")[1].split("\n\n## ")[0]
    bullets = [line[2:] for line in warnings_part.splitlines()]
    details = text.split("## Details")[1]

    def where(column: str, value: str) -> list[str]:
        return [_label(r) for r in rows if r[column] == value]

    timed = [r for r in rows if r["latency_median_ms"]]
    met, not_met = where("precision_met", "true"), where("precision_met", "false")
    sentence = f"precision target met in {len(met)} of {len(timed)} timed cases"
    sentence += f", not met in {len(not_met)}"
    assert (len(met), len(not_met), len(timed)) == (6, 13, 19)  # the example's own figures
    assert any(b.startswith(sentence + ": ") for b in bullets)
    assert _listed(bullets, "precision target") == not_met
    assert f"Precision{sentence[len('precision') :]}." in details
    assert f"{len(rows)} cases: {len(where('status', 'ok'))} ok" in text
    assert _listed(bullets, "not steady") == where("steady", "false")
    assert _listed(bullets, "noisy") == where("noisy", "true")
    assert _listed(bullets, "drifting") == where("drifting", "true")
    assert _listed(bullets, "contended") == where("contended", "true")
    noted = re.search(r"- (\d+) case\(s\) have notes", text)
    notes = details.split("<summary>Notes</summary>")[1].split("</details>")[0]
    noted_cases = set(re.findall(r"\n- `([^`]+)`", notes))  # a case may have several notes
    assert noted and int(noted.group(1)) == len(noted_cases)


def test_the_committed_example_report_is_the_current_rendering(example) -> None:
    """results/example-default/report.md was regenerated with `bench report` after the change."""
    text, _ = example
    committed = (EXAMPLE / "report.md").read_text(encoding="utf-8")
    assert committed.split("## Suite")[0] == text.split("## Suite")[0]
    sentence = re.search(r"Precision target met in [^.]+\.", text)
    assert sentence and sentence.group(0) in committed


def test_the_committed_example_csv_is_what_its_record_gives_today() -> None:
    """The report is rebuilt from the record; results.csv is not. When a rule changed (how an
    interval widens for drift), the example's CSV kept the old interval while its report showed
    the new one: 16.83-39.31 ms in one, 16.26-143.0 ms in the other, for one case."""
    from bench.records import COLUMNS
    from bench.store.rundir import format_cell

    record = read_record(EXAMPLE)
    rebuilt = [
        {c: format_cell(r.row()[c]) for c in COLUMNS} for r in results_from_record(record, EXAMPLE)
    ]
    written = list(csv.DictReader((EXAMPLE / "results.csv").open(encoding="utf-8")))
    assert written == rebuilt
