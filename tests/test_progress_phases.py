"""The live line names the phase a run is in; library log lines go to run.log, not stderr."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

from bench.console import phases
from bench.console.library_logs import to_run_log
from bench.console.progress import ProgressDisplay
from bench.measure.case import RunOptions, measure_case
from bench.measure.timing.engine import QUICK_POLICY
from bench.pipeline import run_suite
from bench.records import Case, ModelSpec

SPEC = ModelSpec(
    name="m",
    factory="bench.zoo:mlp_relu",
    input_shape=(16,),
    batch_sizes=(2,),
    kwargs={"in_features": 16, "hidden": (8,)},
)
CASE = Case(suite="s", model=SPEC, device="cpu", dtype="float32", batch_size=2, base_dir=Path())


def test_a_case_announces_each_phase_it_enters_in_order() -> None:
    seen: list[str] = []
    with phases.listening(seen.append):
        result = measure_case(CASE, RunOptions(timing=QUICK_POLICY))
    assert result.status == "ok", result.error
    assert seen == [phases.BUILD, phases.COUNT, phases.TIME, phases.MEMORY]
    seen.clear()
    with phases.listening(seen.append):
        measure_case(CASE, RunOptions(metrics=frozenset({"params", "flops"})))
    assert seen == [phases.COUNT]  # counted on meta: nothing is built


def test_the_run_announces_the_report_after_the_last_case(write_suite, tmp_path: Path) -> None:
    """The live line froze on "done" while the report was written; it now says so."""
    suite = write_suite(
        """\
        [suite]
        name = "s"
        [[models]]
        name = "m"
        factory = "bench.zoo:mlp_relu"
        input_shape = [16]
        batch_sizes = [2]
        kwargs = { in_features = 16, hidden = [8] }
        """
    )
    seen: list[str] = []
    with phases.listening(seen.append):
        run_suite(suite, tmp_path, RunOptions(metrics=frozenset({"params"})))
    assert seen[-1] == phases.REPORT


def test_the_live_display_shows_the_announced_phase() -> None:
    display = ProgressDisplay(stream=io.StringIO(), interactive=True)
    try:
        with display.listening():
            display(1, 1, CASE, None)
            phases.announce(phases.COUNT)
            (task,) = display._progress.tasks
            assert task.fields["phase"] == phases.COUNT
            assert task.fields["phase_started"] >= task.fields["case_started"]
        phases.announce(phases.MEMORY)  # no longer listening
        assert task.fields["phase"] == phases.COUNT
    finally:
        display.close()


def test_a_phase_before_the_first_case_is_shown_too() -> None:
    """The valgrind pass of `--metrics instructions` runs before any case: it is shown."""
    display = ProgressDisplay(stream=io.StringIO(), interactive=True)
    try:
        with display.listening():
            phases.announce(phases.INSTRUCTIONS)
            (task,) = display._progress.tasks
            assert task.fields["phase"] == phases.INSTRUCTIONS
            display(1, 1, CASE, None)
            assert task.fields["phase"] == "starting" and task.total == 1
    finally:
        display.close()


def test_library_log_lines_and_stray_warnings_go_to_the_run_log(capsys) -> None:
    torch_logger = logging.getLogger("torch")
    before = torch_logger.handlers[:]
    lines: list[str] = []
    with to_run_log(lines.append):
        # (torch.utils.cpp_extension's own logger is quieted by bench's agreement check)
        logging.getLogger("torch._some_module").warning("No CUDA runtime is found")
        logging.getLogger("somelib").warning("a library's\nwarning")
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("deprecated outside any case", FutureWarning, stacklevel=1)
    assert lines[:2] == [
        "library: torch._some_module: warning: No CUDA runtime is found",
        "library: somelib: warning: a library's warning",
    ]
    assert "deprecated outside any case" in lines[2]
    assert capsys.readouterr().err == ""
    assert torch_logger.handlers == before  # restored
