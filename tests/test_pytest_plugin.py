"""The pytest plugin, tested through pytest itself (pytester): collection and ids, the CUDA
synchronize order on a fake device, extra_info and machine_info, and the regression gate.

Each inner run is kept short (`--benchmark-max-time`, `--bench-warmup-max`); what they assert
is behaviour and exact counts, never how fast anything ran.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

pytest_plugins = ["pytester"]

# six rounds at least: the median's 95% interval needs six samples
QUICK = ("--benchmark-max-time=0.01", "--benchmark-min-rounds=6", "--bench-warmup-max=0.05")

LINEAR_SUITE = """\
[suite]
name = "plugin"
devices = ["cpu", "cuda"]
batch_sizes = [1, 2]
threads = 1

[[models]]
name = "linear"
factory = "torch.nn:Linear"
kwargs = { in_features = 16, out_features = 4 }
input_shape = [16]
modes = ["eval", "train"]

[[models]]
name = "mlp"
factory = "bench.zoo:mlp_bn"
input_shape = [1, 28, 28]
batch_sizes = [4]
"""


@pytest.fixture(scope="module", autouse=True)
def _torch_fully_imported() -> None:
    """pytester's in-process runs restore sys.modules after each run, so a module first imported
    inside one is imported again by the next, and parts of torch that load lazily (dynamo, on
    an optimizer's first step) refuse a second import. One train step and memory pass of the
    plugin's own code here loads them once, before any inner run."""
    from torch import nn

    from bench.measure.memory import measure_memory
    from bench.pytest_plugin.user import user_subject

    for mode in ("eval", "train"):
        subject = user_subject(nn.Linear(2, 2), (torch.ones(1, 2),), mode=mode)
        with subject.workload.context():
            measure_memory(subject.workload, subject.model, subject.inputs, subject.device)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # bench is imported already in this process, so pytest cannot rewrite its asserts (it has
    # none to rewrite); that notice is not what these tests are about
    quiet = ("-W", "ignore::pytest.PytestAssertRewriteWarning")
    return pytester.runpytest("-p", "no:cacheprovider", *quiet, *args)


def write(pytester: pytest.Pytester, name: str, text: str) -> Path:
    path = pytester.path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def saved_runs(pytester: pytest.Pytester) -> list[Path]:
    return sorted((pytester.path / ".benchmarks").rglob("*.json"))


def test_a_suite_collects_as_one_test_per_case_with_readable_ids(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "suite.toml", LINEAR_SUITE)
    result = run(pytester, "--bench-suite", "suite.toml", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    ids = [line for line in result.outlines if "::" in line]
    expected = [
        f"suite.toml::test_suite[linear-{device}-float32-b{batch}-16-{mode}]"
        for mode in ("eval", "train")
        for device in ("cpu", "cuda")
        for batch in (1, 2)
    ]
    expected += [
        f"suite.toml::test_suite[mlp-{device}-float32-b4-1x28x28-eval]"
        for device in ("cpu", "cuda")
    ]
    assert ids == expected


def test_only_the_suite_runs_when_no_test_paths_are_given(pytester: pytest.Pytester) -> None:
    write(pytester, "suite.toml", LINEAR_SUITE)
    pytester.makepyfile(test_other="def test_other():\n    pass\n")
    alone = run(pytester, "--bench-suite", "suite.toml", "--collect-only", "-q")
    assert not any("test_other" in line for line in alone.outlines)
    both = run(pytester, "test_other.py", "--bench-suite", "suite.toml", "--collect-only", "-q")
    assert "test_other.py::test_other" in both.outlines
    assert any(line.startswith("suite.toml::test_suite[") for line in both.outlines)


def test_a_bad_suite_is_a_one_line_usage_error(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    def usage_error(*args: str) -> str:
        capsys.readouterr()
        result = run(pytester, *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        # pytest prints a usage error before pytester's capture of the inner run starts
        return capsys.readouterr().err + result.stderr.str()

    assert "ERROR: --bench-suite missing.toml: no such file" in usage_error(
        "--bench-suite", "missing.toml"
    )
    write(pytester, "bad.toml", '[suite]\nname = "x"\ndevices = ["tpu"]\n')
    bad = usage_error("--bench-suite", "bad.toml")
    assert "bad.toml: [suite] devices: unknown device 'tpu'" in bad
    assert "Traceback" not in bad
    write(pytester, "good.toml", LINEAR_SUITE)
    late = usage_error("--bench-suite", "good.toml", "--bench-warmup-max", "soon")
    assert "ERROR: --bench-warmup-max: invalid duration 'soon'" in late


def test_extra_info_machine_info_and_groups_in_the_saved_json(pytester: pytest.Pytester) -> None:
    write(pytester, "suite.toml", LINEAR_SUITE)
    result = run(pytester, "--bench-suite", "suite.toml", "--benchmark-json=out.json", *QUICK)
    cuda = torch.cuda.is_available()
    result.assert_outcomes(passed=10 if cuda else 5, skipped=0 if cuda else 5)
    saved = json.loads((pytester.path / "out.json").read_text())

    machine = saved["machine_info"]
    assert machine["torch_version"] == torch.__version__
    assert machine["cuda_version"] == torch.version.cuda
    assert machine["gpu_count"] == (torch.cuda.device_count() if cuda else 0)
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    assert machine["gpus"] == (names if cuda else [])

    by_name = {b["name"]: b for b in saved["benchmarks"]}
    info = by_name["test_suite[linear-cpu-float32-b2-16-eval]"]["extra_info"]
    assert info["params"] == 16 * 4 + 4
    assert info["macs"] == 2 * 16 * 4  # batch 2, one forward
    assert info["flops"] == 2 * info["macs"]
    assert info["flops_counted_on"] == "meta"
    assert info["input_shapes"] == [[2, 16]]
    assert (info["device"], info["dtype"], info["mode"]) == ("cpu", "float32", "eval")
    assert (info["suite"], info["model"], info["batch_size"]) == ("plugin", "linear", 2)
    assert info["threads"] == 1 and info["interop_threads"] >= 1  # the suite's `threads`
    # a forward of a 2x16 input through Linear(16, 4): at least the 2x4 float32 output
    assert info["peak_memory_bytes"] >= info["resident_bytes"] + 2 * 4 * 4
    assert info["memory_source"] == "profiler"
    assert info["warmup_iterations"] >= 3
    # judged as bench run judges a case, so the gate can refuse a contended side
    assert isinstance(info["contended"], bool) and isinstance(info["others_cpu_share"], float)

    for bench in saved["benchmarks"]:
        extra, stats = bench["extra_info"], bench["stats"]
        assert bench["group"] == extra["model"]
        assert extra["flops"] > 0 and extra["peak_memory_bytes"] > 0
        data_ms = sorted(x * 1000 for x in stats["data"])
        assert extra["bench_samples"] == len(data_ms) == stats["rounds"] * stats["iterations"]
        assert extra["bench_median_ms"] == pytest.approx(stats["median"] * 1000)
        low, high = extra["bench_median_ci_low_ms"], extra["bench_median_ci_high_ms"]
        assert low in data_ms and high in data_ms
        assert low <= extra["bench_median_ms"] <= high
        assert extra["bench_ci_confidence"] == 0.95

    train = by_name["test_suite[linear-cpu-float32-b1-16-train]"]
    assert train["stats"]["iterations"] == 1  # pedantic: one call per round, setup untimed
    assert "setup ran before each call, untimed" in train["extra_info"]["timed_call"]
    # the whole step: forward (1x16 @ 16x4) and the weight gradient (4x1 @ 1x16); the input
    # needs no gradient, and the bias gradient is a sum, not a multiply-add
    assert train["extra_info"]["macs"] == 2 * 16 * 4


def test_a_suite_run_saves_raw_samples_and_at_least_six_rounds(pytester: pytest.Pytester) -> None:
    write(pytester, "suite.toml", LINEAR_SUITE.replace('"cpu", "cuda"', '"cpu"'))
    args = ("--bench-suite", "suite.toml", "-k", "b1-16-train", "--benchmark-max-time=0.0001")
    result = run(pytester, *args, "--bench-warmup-max=0.01", "--benchmark-autosave")
    result.assert_outcomes(passed=1)
    (path,) = saved_runs(pytester)
    (bench,) = json.loads(path.read_text())["benchmarks"]
    assert bench["options"]["min_rounds"] == 6  # pytest-benchmark's default of 5 is raised
    assert len(bench["stats"]["data"]) == bench["stats"]["rounds"] == 6
    assert bench["extra_info"]["bench_median_ci_low_ms"] is not None

    asked = run(
        pytester,
        *args,
        "--bench-warmup-max=0.01",
        "--benchmark-min-rounds=2",
        "--benchmark-json=out.json",
    )
    asked.assert_outcomes(passed=1)
    (bench,) = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    assert bench["options"]["min_rounds"] == 2 and bench["stats"]["rounds"] == 2  # as asked


FAKE_CUDA_TESTS = """\
import json
import time

import pytest
import torch

from bench.pytest_plugin.timing import LoopSettings, run_benchmark
from tests.fakes import FakeCudaBackend

SETTINGS = LoopSettings(warmup_max_s=5.0, max_time_s=0.005, min_rounds=3)
DEVICE = torch.device("cuda:1")  # not the current device: the case's own must be synchronized


def logging_timer(backend):
    def timer():
        if backend.log[-1:] != [("clock",)]:  # pytest-benchmark reads its timer in tight loops
            backend.log.append(("clock",))
        return time.perf_counter()
    return timer


def dump(backend, name):
    entries = [[str(part) for part in entry] for entry in backend.log]
    with open(name, "w") as f:
        json.dump(entries, f)


EVAL = FakeCudaBackend(repeat_ms=1.0, device_names=("gpu0", "gpu1"))
TRAIN = FakeCudaBackend(repeat_ms=1.0, device_names=("gpu0", "gpu1"))


@pytest.mark.benchmark(timer=logging_timer(EVAL))
def test_eval(benchmark):
    run_benchmark(benchmark, EVAL.run_kernel, DEVICE, SETTINGS, backend=EVAL)
    dump(EVAL, "eval.json")


def clear_gradients():
    TRAIN.log.append(("setup",))
    TRAIN.run_kernel()  # setup work on the device, e.g. zero_grad or a fresh input's copy


@pytest.mark.benchmark(timer=logging_timer(TRAIN))
def test_train(benchmark):
    run_benchmark(benchmark, TRAIN.run_kernel, DEVICE, SETTINGS, setup=clear_gradients,
                  backend=TRAIN)
    dump(TRAIN, "train.json")
"""

SYNC = ["synchronize", "cuda:1"]
# the cold call through bench's CUDA timer: synchronize, event, the call, event, synchronize
TIMED_BLOCK = [SYNC, ["record", "stream:cuda:1"], ["kernel"], ["record", "stream:cuda:1"], SYNC]
LED_BLOCK = [SYNC, ["kernel"], *TIMED_BLOCK[1:]]  # the same behind an untimed lead call
WARMUP_CALLS = 1 + 10  # the cold call, then two steady windows of 5 at a constant 1 ms


def test_every_timed_call_ends_with_a_synchronize_of_the_case_device(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_fake_cuda=FAKE_CUDA_TESTS)
    # pytest-benchmark's default 1 s of rounds logs millions of fake calls; 10 ms still times
    # more than SETTINGS_MIN_ROUNDS of them (test_train's pedantic rounds come from SETTINGS)
    result = run(pytester, "test_fake_cuda.py", "--benchmark-max-time=0.01")
    result.assert_outcomes(passed=2)

    log = json.loads((pytester.path / "eval.json").read_text())
    # the cold call; then each warmup call behind its untimed lead call (bench.measure.timing)
    warmup = [*TIMED_BLOCK, ["elapsed_time"]] + [*LED_BLOCK, ["elapsed_time"]] * (WARMUP_CALLS - 1)
    assert log[: len(warmup)] == warmup  # bench's warmup ran first, and ended synchronized
    rounds = log[len(warmup) :]
    assert rounds[0] == ["clock"]  # pytest-benchmark's first clock read comes after it
    kernels = [i for i, entry in enumerate(rounds) if entry == ["kernel"]]
    assert len(kernels) > SETTINGS_MIN_ROUNDS
    # every call pytest-benchmark timed finished on the case's device before its clock was read
    assert all(rounds[i + 1] == SYNC for i in kernels)
    assert {tuple(e) for e in rounds} == {("clock",), ("kernel",), tuple(SYNC)}


SETTINGS_MIN_ROUNDS = 3


def test_setup_runs_synchronized_and_outside_the_timed_region(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fake_cuda=FAKE_CUDA_TESTS)
    result = run(pytester, "test_fake_cuda.py", "-k", "train")
    result.assert_outcomes(passed=1)

    log = json.loads((pytester.path / "train.json").read_text())
    setup = [["setup"], ["kernel"]]
    cold_call = [*setup, *TIMED_BLOCK, ["elapsed_time"]]
    # a warmup call: its setup, then its lead call and the setup after it, then the timed call
    warm_call = [*setup, SYNC, ["kernel"], *setup, *TIMED_BLOCK[1:], ["elapsed_time"]]
    warmup = cold_call + warm_call * (WARMUP_CALLS - 1)
    assert log[: len(warmup)] == warmup
    # max_time 5 ms over the steady 1 ms per call: 5 rounds, each setup, synchronize, then the
    # timed call between two clock reads, ended by a synchronize
    one_round = [["setup"], ["kernel"], SYNC, ["clock"], ["kernel"], SYNC, ["clock"]]
    assert log[len(warmup) :] == one_round * 5


BENCH_MODEL_TESTS = """\
import json

import torch
from torch import nn


class DoublesItsInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(16, 4)

    def forward(self, x):
        return self.linear(x.mul_(2.0))  # writes into its input


def test_fresh_inputs(bench_model):
    x = torch.ones(3, 16)
    info = bench_model(DoublesItsInput(), x, fresh_inputs=True)
    assert torch.equal(x, torch.ones(3, 16))  # every call doubled its own copy
    with open("fresh.json", "w") as f:
        json.dump(info, f)


def test_train_step(bench_model):
    info = bench_model(nn.Linear(16, 4), torch.randn(2, 16), mode="train", group="mine")
    with open("train.json", "w") as f:
        json.dump(info, f)
"""


def test_bench_model_fixture_on_a_model_built_in_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=BENCH_MODEL_TESTS)
    result = run(pytester, "test_user.py", "--benchmark-json=out.json", *QUICK)
    result.assert_outcomes(passed=2)
    fresh = json.loads((pytester.path / "fresh.json").read_text())
    assert fresh["model"] == "DoublesItsInput" and fresh["fresh_inputs"] is True
    assert fresh["params"] == 68 and fresh["macs"] == 3 * 16 * 4
    assert fresh["input_shapes"] == [[3, 16]] and fresh["peak_memory_bytes"] > 0
    assert "setup ran before each call, untimed" in fresh["timed_call"]
    train = json.loads((pytester.path / "train.json").read_text())
    assert (train["mode"], train["macs"], train["flops_counted_on"]) == (
        "train",
        2 * 2 * 16 * 4,
        "real",
    )
    groups = {
        b["name"]: b["group"]
        for b in json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    }
    assert groups == {"test_fresh_inputs": "DoublesItsInput", "test_train_step": "mine"}


SLEEPY_MODEL = """\
import os
import time

from torch import nn


class Sleepy(nn.Module):
    \"\"\"A model whose forward takes SLEEPY_DELAY_S seconds, whatever else the machine does.\"\"\"

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.delay_s = float(os.environ["SLEEPY_DELAY_S"])

    def forward(self, x):
        time.sleep(self.delay_s)
        return self.linear(x)


def build():
    return Sleepy()
"""

SLEEPY_SUITE = """\
[suite]
name = "gate"

[[models]]
name = "sleepy"
factory = "sleepy.py:build"
input_shape = [4]
"""


@pytest.mark.slow
def test_a_model_three_times_slower_fails_the_gate_and_an_unchanged_one_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(pytester, "sleepy.py", SLEEPY_MODEL)
    write(pytester, "suite.toml", SLEEPY_SUITE)
    # 20 ms a call: scheduling delays on a busy machine are a small part of it
    monkeypatch.setenv("SLEEPY_DELAY_S", "0.02")
    args = ("--bench-suite", "suite.toml", "--benchmark-max-time=0.05", "--bench-warmup-max=0.05")
    baseline = run(pytester, *args, "--benchmark-autosave")
    baseline.assert_outcomes(passed=1)
    assert len(saved_runs(pytester)) == 1

    case = "test_suite[sleepy-cpu-float32-b1-4-eval]"
    # pytest-benchmark words the gate's failure itself (and may reword it): what it must name is
    # the case and the field the gate checks, on one line
    gate = ("--benchmark-compare", "--benchmark-compare-fail=median:50%")

    def gate_failures(result: pytest.RunResult) -> list[str]:
        output = result.stderr.str() + result.stdout.str()
        return [line for line in output.splitlines() if case in line and "median" in line]

    unchanged = run(pytester, *args, *gate)
    assert unchanged.ret == pytest.ExitCode.OK
    unchanged.assert_outcomes(passed=1)
    assert gate_failures(unchanged) == []
    # the compare table lists the case twice: the saved run (named by its file) and this one
    (baseline,) = saved_runs(pytester)
    run_number = baseline.stem.split("_")[0]  # "0001"
    # (bench's own summary may name it too, when the machine was busy: not a table row)
    rows = [line for line in unchanged.outlines if case in line and not line.startswith("bench: ")]
    assert len(rows) == 2 and sum(run_number in row for row in rows) == 1

    monkeypatch.setenv("SLEEPY_DELAY_S", "0.06")
    slowed = run(pytester, *args, *gate)
    assert slowed.ret != pytest.ExitCode.OK
    assert gate_failures(slowed)


def _baseline_with(pytester: pytest.Pytester, change: dict[str, Any]) -> None:
    """Save a run of a tiny suite, then rewrite its machine_info as if saved elsewhere."""
    write(pytester, "suite.toml", LINEAR_SUITE.replace('"cpu", "cuda"', '"cpu"'))
    saved = run(
        pytester, "--bench-suite", "suite.toml", "-k", "b1-16-eval", "--benchmark-autosave", *QUICK
    )
    saved.assert_outcomes(passed=1)
    (path,) = saved_runs(pytester)
    data = json.loads(path.read_text())
    for key, value in change.items():
        if key.startswith("cpu."):
            data["machine_info"]["cpu"][key.removeprefix("cpu.")] = value
        else:
            data["machine_info"][key] = value
    path.write_text(json.dumps(data))


def _compare(pytester: pytest.Pytester) -> str:
    result = run(
        pytester, "--bench-suite", "suite.toml", "-k", "b1-16-eval", "--benchmark-compare", *QUICK
    )
    result.assert_outcomes(passed=1)
    return result.stderr.str() + result.stdout.str()


def test_a_changed_cpu_clock_reading_does_not_warn(pytester: pytest.Pytester) -> None:
    _baseline_with(pytester, {"cpu.hz_actual": [1, 0], "cpu.hz_actual_friendly": "1.0000 GHz"})
    (baseline,) = saved_runs(pytester)
    output = _compare(pytester)
    assert baseline.name in output  # it compared against the saved run
    assert "machine_info is different" not in output
    assert "DIFFERENT MACHINE" not in output


# bench's warning and pytest-benchmark's own, by message (a category's import path is
# pytest-benchmark's to move; a filter that stops matching only makes the summary noisier)
@pytest.mark.filterwarnings("ignore:BASELINE FROM A DIFFERENT MACHINE")
@pytest.mark.filterwarnings("ignore:Benchmark machine_info is different")
def test_a_different_gpu_or_torch_warns_loudly_naming_both(pytester: pytest.Pytester) -> None:
    _baseline_with(
        pytester, {"gpus": ["NVIDIA A100-SXM4-80GB"], "gpu_count": 1, "torch_version": "2.14.1"}
    )
    output = _compare(pytester)
    assert "BASELINE FROM A DIFFERENT MACHINE" in output
    current_gpus = (
        ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        if torch.cuda.is_available()
        else "no GPU"
    )
    assert f"GPUs: this run {current_gpus} vs baseline NVIDIA A100-SXM4-80GB" in output
    assert f"torch: this run {torch.__version__} vs baseline 2.14.1" in output


def test_bench_median_interval_needs_six_samples() -> None:
    from bench.pytest_plugin.measure import median_info

    five = median_info([0.005, 0.001, 0.004, 0.002, 0.003])
    assert five["bench_median_ms"] == pytest.approx(3.0)
    assert five["bench_median_ci_low_ms"] is None and five["bench_median_ci_high_ms"] is None
    # n = 9: P(B <= 1) = 10/512 <= 0.025 < P(B <= 2) = 46/512, so ranks 2 and 8
    nine = median_info([x / 1000 for x in (9, 1, 8, 2, 7, 3, 6, 4, 5)])
    assert nine["bench_median_ms"] == pytest.approx(5.0)
    assert nine["bench_median_ci_low_ms"] == pytest.approx(2.0)
    assert nine["bench_median_ci_high_ms"] == pytest.approx(8.0)


def test_pedantic_rounds_follow_pytest_benchmarks_rule() -> None:
    from bench.pytest_plugin.timing import LoopSettings

    settings = LoopSettings(max_time_s=1.0, min_rounds=5)
    assert settings.rounds_for(steady_ms=10.0) == 100
    assert settings.rounds_for(steady_ms=300.0) == 5
    assert settings.rounds_for(steady_ms=0.0) == 5


def test_hardware_differences_name_both_sides() -> None:
    from bench.pytest_plugin.machine import drop_volatile, hardware_differences

    now = {"gpus": ["NVIDIA H100 80GB HBM3"], "torch_version": "2.15.0", "cuda_version": "13.2"}
    same = {**now, "cudnn_version": None}
    assert hardware_differences({**now, "cudnn_version": None}, same) == []
    then = {**same, "gpus": ["NVIDIA A100-SXM4-80GB"], "torch_version": "2.14.1"}
    assert hardware_differences({**now, "cudnn_version": None}, then) == [
        "GPUs: this run NVIDIA H100 80GB HBM3 vs baseline NVIDIA A100-SXM4-80GB",
        "torch: this run 2.15.0 vs baseline 2.14.1",
    ]
    (line,) = hardware_differences(now, {"cpu": {}})  # a baseline saved without the plugin
    assert "no GPU or torch record" in line and "NVIDIA H100 80GB HBM3" in line
    info = {"cpu": {"hz_actual": [1, 0], "hz_actual_friendly": "1 GHz", "brand_raw": "EPYC"}}
    drop_volatile(info)
    assert info == {"cpu": {"brand_raw": "EPYC"}}


def test_with_benchmarks_disabled_each_case_runs_once_as_a_plain_test(
    pytester: pytest.Pytester,
) -> None:
    write(pytester, "suite.toml", LINEAR_SUITE.replace('"cpu", "cuda"', '"cpu"'))
    result = run(pytester, "--bench-suite", "suite.toml", "--benchmark-disable")
    result.assert_outcomes(passed=5)


CUDA_SUITE = """\
[suite]
name = "gpu"
devices = ["cuda"]
batch_sizes = [8192]

[[models]]
name = "wide"
factory = "torch.nn:Linear"
kwargs = { in_features = 8192, out_features = 8192 }
input_shape = [8192]
"""


@pytest.mark.cuda
def test_on_a_real_gpu_a_sample_is_the_finished_work(pytester: pytest.Pytester) -> None:
    """A forward that takes milliseconds on the GPU returns in microseconds: without the
    synchronize, pytest-benchmark's median would be the launch. It must be at least about the
    device time CUDA events measure for the same forward."""
    write(pytester, "suite.toml", CUDA_SUITE)
    result = run(pytester, "--bench-suite", "suite.toml", "--benchmark-json=out.json", *QUICK)
    result.assert_outcomes(passed=1)
    (bench,) = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    extra = bench["extra_info"]
    assert extra["device"] == "cuda" and extra["device_name"] == torch.cuda.get_device_name(0)
    assert extra["peak_reserved_bytes"] >= extra["peak_memory_bytes"] > 0

    model = torch.nn.Linear(8192, 8192, device="cuda")
    x = torch.randn(8192, 8192, device="cuda")
    with torch.inference_mode():
        for _ in range(3):
            model(x)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()
        start.record()
        for _ in range(10):
            model(x)
        end.record()
        torch.cuda.synchronize()
    device_ms = start.elapsed_time(end) / 10
    assert bench["stats"]["median"] * 1000 >= 0.5 * device_ms


def test_a_suite_case_that_downloads_fails_naming_the_address(pytester: pytest.Pytester) -> None:
    """The plugin builds under the same download guard as `bench run`, even for a model that
    catches the refusal and goes on."""
    write(
        pytester,
        "suite.toml",
        """
        [suite]
        name = "dl"

        [[models]]
        name = "swallows"
        factory = "tests.failing_models:swallows_download"
        input_shape = [4]
        """,
    )
    result = run(pytester, "--bench-suite", "suite.toml", "--benchmark-disable", "-q")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "http://example.invalid/config.json" in result.stdout.str()


class RecordsAutocast(torch.nn.Module):
    """Remembers whether its forward ran under CPU autocast."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.seen: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(torch.is_autocast_enabled("cpu"))
        return self.linear(x)


def test_suite_cases_keep_their_variants_apart_and_amp_runs_under_autocast(
    tmp_path: Path,
) -> None:
    from bench.pytest_plugin.cases import case_id, subject_for_case
    from bench.suite.load import expand, load_suite

    suite = tmp_path / "suite.toml"
    suite.write_text(
        '[suite]\nname = "v"\ndtypes = ["amp_bfloat16"]\ncompile = ["eager", "default"]\n'
        'cache = ["warm", "cold"]\n\n[[models]]\nname = "rec"\n'
        'factory = "tests.test_pytest_plugin:RecordsAutocast"\ninput_shape = [4]\n'
    )
    cases = expand(load_suite(suite))
    ids = [case_id(c) for c in cases]
    assert len(set(ids)) == len(ids) == 4
    assert ids[-1] == "rec-cpu-amp_bfloat16-b1-4-eval-default-cold-cache"
    subject = subject_for_case(cases[0])  # eager, warm: timed here, under its autocast
    with subject.workload.context():
        subject.workload.run()
    assert subject.model.seen[-1] is True
    for later in cases[1:]:
        with pytest.raises(pytest.skip.Exception, match="is timed by `bench run`"):
            subject_for_case(later)


def test_contended_or_unsettled_benchmarks_are_named_in_the_summary_and_judged_so() -> None:
    """A baseline saved on a busy runner was kept without a word: the contention was never
    measured on the pytest path, and warmup_steady false was saved but never read."""
    from types import SimpleNamespace

    from bench.compare.sources import side_case_of_benchmark
    from bench.pytest_plugin.hooks import _doubt_lines

    benchmarks = [
        SimpleNamespace(name="test_busy", extra_info={"contended": True, "others_cpu_share": 0.4}),
        SimpleNamespace(name="test_cold", extra_info={"contended": False, "warmup_steady": False}),
        SimpleNamespace(name="test_fine", extra_info={"contended": False, "warmup_steady": True}),
    ]
    config = SimpleNamespace(_benchmarksession=SimpleNamespace(benchmarks=benchmarks))
    lines = _doubt_lines(config)  # type: ignore[arg-type]
    assert len(lines) == 2
    assert lines[0].startswith("bench: contended") and lines[0].endswith("test_busy (40%)")
    assert lines[1].endswith(": test_cold") and "test_fine" not in " ".join(lines)
    row = {"name": "t", "stats": {"data": [0.001] * 12}, "extra_info": {"warmup_steady": False}}
    assert side_case_of_benchmark(row).steady is False
