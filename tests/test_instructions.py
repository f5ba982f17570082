"""`--metrics instructions`: the callgrind dump reader, the counting loop, the hardware counter
through a fake backend, the choice of source, compare's more/fewer/same and the gate, and one
real run under valgrind where valgrind is installed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from bench.compare import SideCase, compare_runs, instruction_regressions, render_comparison
from bench.compare.sources import RunSamples
from bench.measure.instructions import callgrind
from bench.measure.instructions.calls import count_calls
from bench.measure.instructions.counter import CounterMeter, hardware_counter
from bench.measure.instructions.dumps import parse_dump
from bench.measure.instructions.per_case import NOT_CPU, count_with_counter, instructions_for
from bench.model.workload import Workload
from bench.records import (
    COLUMNS,
    Case,
    CaseKey,
    InstructionCount,
    ModelSpec,
    Result,
    instruction_verdict,
)
from bench.report.instructions import instructions_section
from bench.store.entries import entry_of, result_of
from tests.test_compare import entry, write_run

DUMP = """# callgrind format
version: 1
positions: line
events: Ir
summary: 1175

ob=/usr/lib/libtorch_cpu.so
fl=a.cpp
fn=at::native::addmm(at::Tensor const&)
10 500
11 100
cfl=b.cpp
cfn=mkl_sgemm
calls=2 30
12 9999
13 25

fn=mkl_sgemm
30 450

ob=/usr/lib/libpython3.11.so
fl=ceval.c
fn=_PyEval_EvalFrameDefault
0 100
totals: 1175
"""


def test_a_dump_gives_its_total_and_each_functions_own_instructions() -> None:
    dump = parse_dump(DUMP)
    assert dump.total == 1175
    # the 9999 after `calls=` is mkl_sgemm's inclusive cost: not addmm's own
    assert dump.by_function == {
        "at::native::addmm(at::Tensor const&) [libtorch_cpu.so]": 625,
        "mkl_sgemm [libtorch_cpu.so]": 450,
        "_PyEval_EvalFrameDefault [libpython3.11.so]": 100,
    }
    assert dump.top(2, calls=5) == (
        ("at::native::addmm(at::Tensor const&) [libtorch_cpu.so]", 125),
        ("mkl_sgemm [libtorch_cpu.so]", 90),
    )


def test_a_dump_without_totals_sums_its_functions() -> None:
    text = "\n".join(
        line for line in DUMP.splitlines() if not line.startswith(("summary", "totals"))
    )
    assert parse_dump(text).total == 1175


class Machine:
    """A fake CPU: `run` retires 1000 instructions (+5 on the first counted call of a
    repeat), `setup` 70; the backend reads the difference between start and end."""

    def __init__(self) -> None:
        self.retired = 0
        self.opened = 0

    def workload(self) -> Workload:
        def run() -> None:
            self.retired += 1000

        def setup() -> None:
            self.retired += 70

        return Workload("train", run, setup, torch.enable_grad)

    def start(self) -> int:
        self.opened += 1
        return self.retired

    def end(self, handle: int) -> int:
        return self.retired - handle


def test_the_count_is_the_call_alone_setup_excluded() -> None:
    machine = Machine()
    counted = count_with_counter(machine.workload(), machine)
    assert counted.per_call == 1000
    assert counted.source == "perf"
    assert counted.repeats == (1000,) * 10
    assert counted.threads == 1


class Meter:
    """Each repeat reads the next of `totals`."""

    def __init__(self, totals: list[int]) -> None:
        self.totals = list(totals)
        self.begun = self.ended = 0
        self.lasts: list[bool] = []

    def begin(self) -> None:
        self.begun += 1

    def end(self, last: bool) -> None:
        self.ended += 1
        self.lasts.append(last)

    def total(self) -> int | None:
        return self.totals.pop(0)


def test_the_count_per_call_is_the_smallest_repeat() -> None:
    meter = Meter([3090, 3000, 3030])
    counted = count_calls(Machine().workload(), meter, calls=3, repeats=3)
    assert counted is not None
    assert counted.per_repeat == (1030, 1000, 1010)
    assert counted.per_call == 1000
    assert (meter.begun, meter.ended) == (9, 9)
    assert meter.lasts == [False, False, True] * 3  # the last call of a repeat ends in a dump


def test_a_meter_that_reads_nothing_gives_no_count() -> None:
    assert count_calls(Machine().workload(), Meter([0]), calls=1, repeats=2) is None


class HiddenCounter:
    def __init__(self) -> None:
        self.ended: list[int] = []

    def start(self) -> int:
        return -1

    def end(self, handle: int) -> int:
        self.ended.append(handle)
        return 0


def test_a_hidden_counter_is_none_and_an_open_one_is_used() -> None:
    assert hardware_counter(HiddenCounter()) is None
    machine = Machine()
    assert hardware_counter(machine) is machine
    meter = CounterMeter(machine)
    meter.begin()
    machine.retired += 42
    meter.end(last=True)
    assert meter.total() == 42
    assert meter.total() == 0  # each repeat starts from zero


def case(device: str = "cpu", repeat: int | None = None, name: str = "mlp") -> Case:
    spec = ModelSpec(
        name=name, factory="bench.zoo:mlp_bn", input_shape=(1, 28, 28), batch_sizes=(1,)
    )
    return Case(
        suite="s", model=spec, device=device, dtype="float32", batch_size=1, base_dir=Path("."),
        repeat=repeat,
    )  # fmt: skip


def test_where_each_case_gets_its_count() -> None:
    workload = Machine().workload()
    known = InstructionCount(per_call=7, source="callgrind")
    counted = {callgrind.counting_key(case()): known}
    assert instructions_for(case("cuda"), workload, counted).reason == NOT_CPU
    assert instructions_for(case(), workload, counted) is known
    # a repeat of the case shares its count: it does not change between repeats
    assert instructions_for(case(repeat=2), workload, counted) is known
    machine = Machine()
    by_counter = instructions_for(case(name="other"), machine.workload(), counted, machine)
    assert (by_counter.per_call, by_counter.source) == (1000, "perf")


def test_without_valgrind_every_case_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    counts = callgrind.count_under_callgrind(
        [case(repeat=1), case(repeat=2), case(name="b")], [60.0, 60.0, 60.0]
    )
    assert len(counts) == 2  # the two repeats are one count
    for count in counts.values():
        assert count.per_call is None
        assert "apt-get install valgrind" in count.reason


def test_the_count_goes_into_the_row_the_record_and_the_report() -> None:
    count = InstructionCount(
        per_call=1_234_567,
        source="callgrind",
        calls=1,
        repeats=(1_240_000, 1_234_567, 1_234_600),
        top_functions=(
            ("void at::native::(anonymous namespace)::cpu_max_pool<float, false>(at::Tensor "
             "const&, long) [clone .constprop.0] [libtorch_cpu.so]", 617_000),
            ("<script> [x.so]", 1),
        ),
    )  # fmt: skip
    result = Result(case=case(), status="ok", instructions=count)
    row = result.row()
    assert list(row) == list(COLUMNS)
    at = COLUMNS.index("instructions")
    assert COLUMNS[at : at + 2] == ("instructions", "instructions_source")
    assert (row["instructions"], row["instructions_source"]) == (1_234_567, "callgrind")
    stored = entry_of(result)
    assert result_of(stored, Path(".")).instructions == count
    assert entry_of(result_of(stored, Path("."))) == stored
    text = "\n".join(instructions_section([result]))
    assert "| `mlp cpu float32 b1` |" in text.replace("  ", "")
    assert "1,234,567" in text and "1,240,000, 1,234,567, 1,234,600" in text
    assert "void at::native::{anon}::cpu_max_pool&lt;float, false&gt; [libtorch_cpu.so] 50%" in text
    assert "&lt;script&gt;" in text and "<script>" not in text


def test_an_uncounted_case_leaves_the_cell_empty_with_its_reason() -> None:
    result = Result(
        case=case(), status="ok", instructions=InstructionCount(per_call=None, reason="no way")
    )
    assert result.row()["instructions"] is None
    assert result.row()["instructions_source"] is None
    assert "no way" in "\n".join(instructions_section([result]))


@pytest.mark.parametrize(
    ("base", "new", "verdict"),
    [(1000, 1000, "same"), (1000, 1010, "same"), (1000, 1011, "more"), (1000, 980, "fewer")],
)
def test_instruction_verdicts_at_the_margin(base: int, new: int, verdict: str) -> None:
    assert instruction_verdict(base, new, 0.01) == verdict


def _side(count: int | None, name: str = "m") -> SideCase:
    return SideCase(
        key=CaseKey("model", name, "cpu", "float32", 1),
        status="ok",
        samples_ms=(1.0,) * 12,
        instructions=count,
    )


def _run(*cases: SideCase) -> RunSamples:
    return RunSamples("x", "run", "x", "", {}, {"cpu": "cpu"}, cases)


def test_compare_shows_instructions_beside_the_latency_and_gates_on_them() -> None:
    comparison = compare_runs(
        _run(_side(1_000_000), _side(500, "b"), _side(None, "c")),
        _run(_side(1_020_000), _side(500, "b"), _side(9, "c")),
    )
    changes = {c.key.name: c.instructions for c in comparison.cases}
    assert changes["m"].verdict == "more" and changes["m"].change == pytest.approx(0.02)
    assert changes["b"].verdict == "same"
    assert changes["c"] is None  # counted on one side only
    text = render_comparison(comparison)
    assert "## Latency" in text and "## Instructions" in text
    assert "| +2.00% | more" in text.replace("  ", "")
    assert [c.key.name for c in instruction_regressions(comparison, 0.01)] == ["m"]
    assert instruction_regressions(comparison, 0.03) == []


def _stored(tmp_path: Path, name: str, count: int | None) -> Path:
    samples = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0] * 4
    return write_run(tmp_path / name, [entry("m", samples, instructions=count)])


def test_cli_instruction_gate_exit_codes(tmp_path: Path, cli) -> None:
    base = _stored(tmp_path, "base", 1_000_000)
    more = _stored(tmp_path, "more", 1_020_000)
    same = _stored(tmp_path, "same", 1_000_100)
    uncounted = _stored(tmp_path, "uncounted", None)
    gate = ("--gate", "instructions", "--fail-on-regression", "1")
    done = cli("compare", base, more, *gate)
    assert done.returncode == 1, done.stderr
    assert "more instructions" in done.stderr and "+2.00%" in done.stdout
    assert cli("compare", base, same, *gate).returncode == 0
    assert cli("compare", base, uncounted, *gate).returncode == 3
    # the margin decides the table's word; the gate its own percentage
    assert "| same" in cli("compare", base, more, "--instruction-margin", "5").stdout
    assert cli("compare", base, more, "--gate", "cycles").returncode == 2


needs_valgrind = pytest.mark.skipif(
    shutil.which("valgrind") is None or shutil.which("callgrind_control") is None,
    reason="valgrind is not installed (apt-get install valgrind): the callgrind path is not run",
)


@needs_valgrind
def test_a_run_counts_every_cpu_case_in_one_valgrind_process(
    tmp_path: Path, write_suite, cli
) -> None:
    """The real thing: one valgrind process for the run; a case that fails is its row's reason,
    the other still counted; a repeated case counted once."""
    (tmp_path / "models.py").write_text(
        "import torch\n"
        "def tiny():\n"
        "    return torch.nn.Linear(16, 16)\n"
        "def broken():\n"
        "    raise ValueError('cannot build')\n",
        encoding="utf-8",
    )
    suite = write_suite(
        """
        [suite]
        name = "ic"
        [[models]]
        name = "tiny"
        factory = "models.py:tiny"
        input_shape = [16]
        [[models]]
        name = "broken"
        factory = "models.py:broken"
        input_shape = [16]
        """
    )
    done = cli("run", suite, "--metrics", "instructions", "--out", tmp_path / "out", "--quiet")
    assert done.returncode == 1, done.stderr  # broken's row is an error
    run_dir = next(p for p in (tmp_path / "out").iterdir() if p.is_dir())
    entries = {e["model"]: e for e in map(json.loads, (run_dir / "cases.jsonl").open())}
    tiny: dict[str, Any] = entries["tiny"]
    assert tiny["instructions_source"] == "callgrind"
    assert tiny["instructions"] > 1000
    detail = tiny["instruction_count"]
    assert len(detail["repeats"]) == callgrind.REPEATS
    assert detail["per_call"] == min(detail["repeats"])
    assert detail["top_functions"]
    assert entries["broken"]["instructions"] is None
    assert "Instructions" in (run_dir / "report.md").read_text(encoding="utf-8")


def _benchmark(name: str, rounds: list[float], count: int | None) -> dict[str, Any]:
    return {
        "name": name,
        "fullname": f"test_x.py::{name}",
        "extra_info": {"instructions": count},
        "stats": {"median": 0.0, "data": rounds},
    }


def test_the_pytest_gate_on_instructions_alone() -> None:
    """--bench-gate-instructions: a 2% rise fails (exit 1) whatever the time says; unchanged
    passes; no counts on both sides cannot be judged (exit 3). Time is shown, not gated."""
    from bench.pytest_plugin.gate import judge_benchmarks, summary_lines

    rounds = [1e-3] * 20
    base = [_benchmark("a", rounds, 1_000_000), _benchmark("b", rounds, 500)]
    new = [_benchmark("a", [3e-3] * 20, 1_020_000), _benchmark("b", rounds, 500)]
    outcome = judge_benchmarks(base, new, 0.10, time_gate=False, instruction_threshold=0.01)
    assert [c.name for c in outcome.regressions] == ["a"]
    assert outcome.exit_code(allow_inconclusive=False) == 1
    lines = summary_lines(outcome, allow_inconclusive=False)
    assert "+2.00% more" in "\n".join(lines)
    assert "more than 1% more instructions: a" in lines[-1]
    unchanged = judge_benchmarks(base, base, 0.10, time_gate=False, instruction_threshold=0.01)
    assert unchanged.exit_code(allow_inconclusive=False) == 0
    blind = [_benchmark("a", rounds, None), _benchmark("b", rounds, None)]
    uncounted = judge_benchmarks(base, blind, 0.10, time_gate=False, instruction_threshold=0.01)
    assert uncounted.exit_code(allow_inconclusive=False) == 3
    # the time gate alone ignores instructions: 3x slower fails on time, not on the counts
    timed = judge_benchmarks(base, new, 0.10)
    assert [c.name for c in timed.regressions] == ["a"]
    assert timed.instruction_threshold is None


def test_the_pytest_plugin_counts_with_the_cpu_counter_or_says_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bench.pytest_plugin import measure

    machine = Machine()
    subject = measure.Subject(
        model=torch.nn.Identity(),
        inputs=(),
        workload=machine.workload(),
        device=torch.device("cpu"),
        dtype="float32",
        counts=measure.Counts(),
    )
    monkeypatch.setattr(measure, "hardware_counter", lambda: machine)
    assert measure.instruction_info(subject) == {
        "instructions": 1000,
        "instructions_source": "perf",
        "instructions_reason": None,
    }
    monkeypatch.setattr(measure, "hardware_counter", lambda: None)
    hidden = measure.instruction_info(subject)
    assert hidden["instructions"] is None
    assert "--metrics instructions" in hidden["instructions_reason"]


def test_bench_ab_pairs_each_sides_counts_and_gates_on_them(
    monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    """`bench ab --instructions`: each side counted in its own valgrind process (faked here: the
    real one is the run test above), paired by case key, shown and gated like compare."""
    from bench.ab import instructions as ab_instructions
    from bench.ab.sides import REVISION, Side
    from bench.cli.ab import instruction_exit_code
    from tests.test_ab import key, measure

    run, _ = measure({"m": 0.1, "n": 0.1}, {"m": 0.1, "n": 0.1})
    by_side = {
        "base": ({key("m"): InstructionCount(1_000_000, "callgrind"),
                  key("n"): InstructionCount(500, "callgrind")}, ""),
        "new": ({key("m"): InstructionCount(1_020_000, "callgrind")}, "worker exited (1)"),
    }  # fmt: skip
    seen = []

    def fake(suite: Path, interpreter: Any, deadline_s: float) -> Any:
        seen.append((suite.name, interpreter.python, interpreter.pythonpath[0]))
        return by_side[suite.parent.name]

    monkeypatch.setattr(ab_instructions, "count_suite_under_callgrind", fake)
    sides = [
        Side(name, name, REVISION, Path(low), f"py-{name}", None, Path(low, "s.toml"))
        for name, low in (("BASE", "base"), ("NEW", "new"))
    ]
    counts = ab_instructions.count_sides(run, sides, 0.01, 60.0)
    assert seen == [("s.toml", "py-BASE", "base"), ("s.toml", "py-NEW", "new")]
    assert counts.changes[key("m")].verdict == "more"
    assert counts.missing == {key("n"): "NEW: worker exited (1)"}
    text = "\n".join(counts.lines(run))
    assert "+2.00%" in text and "`n cpu float32 b1`: NEW: worker exited (1)" in text
    assert counts.record()["m cpu float32 b1"]["verdict"] == "more"
    assert instruction_exit_code(counts, 0.01, allow_inconclusive=False) == 1
    assert instruction_exit_code(counts, 0.05, allow_inconclusive=False) == 0
    nothing = ab_instructions.SideCounts(0.01, {}, counts.missing)
    assert instruction_exit_code(nothing, 0.01, allow_inconclusive=False) == 3
    done = cli("ab", "s.toml", "--base", "HEAD", "--gate", "instructions")
    assert done.returncode == 2 and "--instructions" in done.stderr


def test_without_valgrind_or_counter_the_run_still_ends_ok_with_the_reason(
    tmp_path: Path, write_suite, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bench.measure.instructions import per_case

    monkeypatch.setattr(per_case, "hardware_counter", lambda: None)
    monkeypatch.setattr(callgrind.shutil, "which", lambda name: None)
    suite = write_suite(
        """
        [suite]
        name = "blind"
        [[models]]
        name = "lin"
        factory = "torch.nn:Linear"
        kwargs = { in_features = 4, out_features = 4 }
        input_shape = [4]
        """
    )
    done = cli("run", suite, "--metrics", "params,instructions", "--out", tmp_path, "--quiet")
    assert done.returncode == 0, done.stderr
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    (lin,) = map(json.loads, (run_dir / "cases.jsonl").open())
    assert lin["status"] == "ok" and lin["params"] == 20
    assert lin["instructions"] is None and lin["instructions_source"] is None
    assert any("valgrind not found" in note for note in lin["notes"])
    assert "apt-get install valgrind" in (run_dir / "report.md").read_text(encoding="utf-8")


def test_a_cuda_graph_case_on_the_cpu_is_not_sent_to_valgrind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It is a skipped row; valgrind would start torch only to fail compiling it."""
    from bench.measure.instructions import per_case
    from bench.suite.load import expand, load_suite

    suite = tmp_path / "s.toml"
    suite.write_text(
        '[suite]\nname = "s"\ncompile = ["eager", "cuda-graph"]\n\n[[models]]\nname = "m"\n'
        'factory = "torch.nn:Identity"\ninput_shape = [4]\n'
    )
    sent: list[str] = []
    monkeypatch.setattr(per_case, "hardware_counter", lambda: None)
    monkeypatch.setattr(
        per_case,
        "count_under_callgrind",
        lambda cases, timeouts, progress: sent.extend(c.compile for c in cases) or {},
    )
    per_case.count_before_run(expand(load_suite(suite)), lambda case: 60.0)
    assert sent == ["eager"]
