"""Aliasing, allocation and correctness facts of the tensor experiments, asserted exactly."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest
import torch

from bench.compare import VERDICTS
from bench.errors import SuiteError
from bench.experiments import run as experiment_run
from bench.experiments.analysis import inplace_conclusions, log_log_slope
from bench.experiments.catalog import CATALOG, CATALOG_BY_KEY, Variant, baseline_of
from bench.experiments.kernels import KERNELS
from bench.experiments.measure import (
    cuda_allocated_bytes,
    matches,
    measure_variant,
    prepare_variant,
    pristine_inputs,
    time_interleaved,
)
from bench.experiments.readback import experiment_result
from bench.experiments.records import (
    ExperimentCase,
    ExperimentResult,
    ExperimentSpec,
    VariantMeasurement,
)
from bench.experiments.run import ExperimentSession, expand_experiments, measure_experiment_group
from bench.measure.timing.engine import QUICK_POLICY, TimingPolicy
from bench.model.factory import set_inplace
from bench.records import LatencyStats
from bench.report.experiments import experiment_sections
from bench.report.plot_style import plot_file_name
from bench.store import read_record
from bench.store.entries import json_value
from bench.suite.load import expand, load_suite
from bench.zoo import cifar10_net
from tests.fakes import FakeCudaBackend

NUMEL = 10_000


def measure(key: str, dtype: str = "float32"):
    return measure_variant(CATALOG_BY_KEY[key], NUMEL, "cpu", dtype, QUICK_POLICY)


def test_every_catalog_variant_has_its_kernel_and_no_kernel_is_orphaned() -> None:
    assert set(KERNELS) == set(CATALOG_BY_KEY)
    assert all(CATALOG_BY_KEY[key].run is kernel for key, kernel in KERNELS.items())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_view_allocates_nothing_and_shares_storage(dtype: str) -> None:
    for key in (
        "view/view",
        "reshape/reshape_view",
        "slice/slice",
        "slice/narrow",
        "expand/expand",
    ):
        m = measure(key, dtype)
        assert m.allocated_bytes == 0, key
        assert m.shares_storage, key
        assert m.matches_reference, key


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clone_allocates_numel_times_element_size_and_does_not_share(dtype: str) -> None:
    element_size = torch.empty((), dtype=getattr(torch, dtype)).element_size()
    for key in ("view/clone", "view/clone_view", "reshape/reshape_copy", "expand/repeat"):
        m = measure(key, dtype)
        assert m.allocated_bytes >= NUMEL * element_size, key
        assert not m.shares_storage, key
        assert m.matches_reference, key
    assert measure("view/clone", dtype).allocated_bytes == NUMEL * element_size
    assert (
        measure("slice/slice_clone", dtype).allocated_bytes == (NUMEL - NUMEL // 100) * element_size
    )


def test_in_place_variants_equal_out_of_place_and_alias_their_input() -> None:
    for variant in CATALOG["inplace"]:
        m = measure(variant.key)
        assert m.matches_reference, variant.key
        if variant.name == "out_of_place":
            assert not m.shares_storage, variant.key
            assert m.allocated_bytes >= NUMEL * 4, variant.key
            assert m.backward_ok, variant.key
        else:
            assert m.shares_storage, variant.key
            assert not m.backward_ok and m.backward_error, variant.key


def test_in_place_ops_allocate_nothing_but_slice_assign_makes_a_temporary() -> None:
    for key in ("relu/in_place", "add/in_place", "add/augmented", "add/out_param", "mul/in_place"):
        assert measure(key).allocated_bytes == 0, key
    assert measure("add/slice_assign").allocated_bytes == NUMEL * 4  # the x + y temporary


def test_backward_records_autograd_message_for_in_place_on_saved_tensor() -> None:
    m = measure("sigmoid/in_place")
    # autograd's wording is torch's: take it from the same failure, here (sigmoid_ overwrites
    # the output exp saved for its backward)
    leaf = pristine_inputs(NUMEL, "cpu", "float32")["x"].clone().requires_grad_()
    with pytest.raises(RuntimeError) as autograd:
        leaf.exp().sigmoid_().sum().backward()
    message = " ".join(str(autograd.value).split())  # recorded on one line, maybe shortened
    assert m.backward_error and message.startswith(m.backward_error)
    assert measure("sigmoid/out_of_place").backward_error == ""


def test_fresh_input_policy_prevents_drift() -> None:
    """sigmoid_ applied repeatedly to one tensor drifts toward 0.73...; with setup it never does."""
    seen: list[torch.Tensor] = []

    def spy(t):
        seen.append(t["x"].clone())
        return t["x"].sigmoid_()

    variant = Variant("sigmoid", "in_place", "x.sigmoid_()", spy)
    m = measure_variant(variant, NUMEL, "cpu", "float32", QUICK_POLICY)
    assert m.input_policy == "fresh_copy_per_call"
    # correctness check, allocation count, then the quick policy's cold call, 1 warmup call and
    # 3 samples; the last call is the backward check, which applies the op to exp(input)
    timed_and_checked = seen[:-1]
    assert len(timed_and_checked) == 7
    assert all(torch.equal(values, timed_and_checked[0]) for values in timed_and_checked)
    drifting = timed_and_checked[0].clone()
    drifting.sigmoid_().sigmoid_()
    assert not torch.equal(
        drifting, timed_and_checked[0]
    )  # without the policy, the input would change


def test_cuda_allocated_bytes_reads_the_cumulative_counter_on_the_case_device() -> None:
    backend = FakeCudaBackend()
    assert cuda_allocated_bytes(lambda: backend.allocate(4096), "cuda:1", backend) == 4096
    assert ("synchronize", "cuda:1") in backend.log


class OnDevice:
    """Stands in for a tensor on a GPU: only its host copy can be compared with a host tensor
    (torch.equal of a CPU and a CUDA tensor raises)."""

    def __init__(self, tensor: torch.Tensor) -> None:
        self.host, self.shape, self.dtype = tensor, tensor.shape, tensor.dtype

    def detach(self) -> OnDevice:
        return self

    def cpu(self) -> torch.Tensor:
        return self.host


def test_an_in_place_reference_left_on_the_device_is_compared_on_the_host() -> None:
    """On CUDA every in-place row failed: the reference (the out-of-place twin's output) stays
    on the device, and only the output was moved to the host before torch.equal."""
    values = torch.arange(6.0)
    assert matches(values.clone(), OnDevice(values.clone()))
    assert not matches(values + 1, OnDevice(values.clone()))


def test_on_cuda_an_op_that_launches_no_kernel_is_timed_on_the_host() -> None:
    """A view is metadata: timed between CUDA events it reads as the synchronize around it.
    Its arm takes the host clock; the clone beside it (it allocates) keeps the device's."""
    backend = FakeCudaBackend(repeat_ms=0.01)
    view = prepare_variant(CATALOG_BY_KEY["view/view"], NUMEL, "cpu", "float32")
    clone = prepare_variant(CATALOG_BY_KEY["view/clone"], NUMEL, "cpu", "float32")
    assert (view.launches_kernel, clone.launches_kernel) == (False, True)
    last_before_view: list[str] = []

    def view_call() -> torch.Tensor:
        last_before_view.append(backend.log[-1][0] if backend.log else "")
        return view.call()

    def clone_call() -> torch.Tensor:
        backend.run_kernel()
        return clone.call()

    arms = [dataclasses.replace(view, call=view_call), dataclasses.replace(clone, call=clone_call)]
    timing = time_interleaved(arms, "cuda", QUICK_POLICY, backend)
    assert last_before_view and "record" not in last_before_view  # no event around a view
    assert all(sample > 0 for sample in timing.arms[0].samples_ms)  # host time, measured
    assert timing.arms[1].samples_ms == pytest.approx([0.01] * len(timing.arms[1].samples_ms))


def test_log_log_slope_is_exact_on_power_laws() -> None:
    sizes = [1e3, 1e4, 1e5]
    assert log_log_slope(sizes, [2 * n for n in sizes]) == pytest.approx(1.0)
    assert log_log_slope(sizes, [5.0, 5.0, 5.0]) == pytest.approx(0.0)
    assert log_log_slope([1e3], [1.0]) is None


def test_set_inplace_switches_every_flag() -> None:
    model = cifar10_net(inplace=False)
    assert set_inplace(model, True) == 4
    assert all(m.inplace for m in model.modules() if hasattr(m, "inplace"))


EXPERIMENT_SUITE = """\
[suite]
name = "ops"

[[experiments]]
name = "views"
kind = "view"
families = ["view", "expand"]
sizes = [1000, 10000]

[[models]]
name = "cnn"
factory = "bench.zoo:cifar10_net"
input_shape = [3, 32, 32]
batch_sizes = [2]
modes = ["eval", "train"]
compare_inplace = true
"""


def test_suite_expands_experiments_and_inplace_model_variants(write_suite) -> None:
    suite = load_suite(write_suite(EXPERIMENT_SUITE))
    (spec,) = suite.experiments
    assert (spec.kind, spec.families, spec.sizes) == ("view", ("view", "expand"), (1000, 10000))
    cases = expand(suite)
    assert [(c.mode, c.inplace_variant) for c in cases] == [
        ("eval", "in_place"),
        ("eval", "out_of_place"),
        ("train", "in_place"),
        ("train", "out_of_place"),
    ]


@pytest.mark.parametrize(
    ("entry", "where", "problem"),
    [
        ('kind = "fold"', "experiments[0] (e) kind", "allowed: inplace, view"),
        ('kind = "view"\nsizes = [150]', "experiments[0] (e) sizes", "multiples of 100"),
        ('kind = "view"\nsizes = []', "experiments[0] (e) sizes", "non-empty"),
        ('kind = "view"\nfamilies = ["relu"]', "experiments[0] (e) families", "view, reshape"),
        ('kind = "view"\nrepeat = 3', "experiments[0] (e)", "unknown key 'repeat'"),
    ],
)
def test_bad_experiment_entries(write_suite, entry: str, where: str, problem: str) -> None:
    path = write_suite(f'[suite]\nname = "s"\n[[experiments]]\nname = "e"\n{entry}\n')
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert str(caught.value).startswith(f"{path}: {where}")
    assert problem in str(caught.value)


def test_compare_inplace_must_be_boolean(write_suite) -> None:
    text = EXPERIMENT_SUITE.replace("compare_inplace = true", 'compare_inplace = "yes"')
    with pytest.raises(SuiteError, match="compare_inplace: must be true or false"):
        load_suite(write_suite(text))


def test_bench_run_writes_experiment_rows_report_section_and_plot(
    write_suite, tmp_path, cli
) -> None:
    suite = write_suite(EXPERIMENT_SUITE)
    done = cli("run", suite, "--out", tmp_path, "--quick")
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip())
    rows = list(csv.DictReader((run_dir / "results.csv").open()))
    view_rows = [r for r in rows if r["experiment"] == "views"]
    assert len(view_rows) == 5 * 2  # view family has 3 variants, expand 2; two sizes each
    view = next(r for r in view_rows if r["variant"] == "view" and r["numel"] == "10000")
    assert (view["allocated_bytes"], view["shares_storage"], view["matches_reference"]) == (
        "0",
        "true",
        "true",
    )
    assert view["input_policy"] == "same_input_checked_unmodified"
    clone = next(r for r in view_rows if r["variant"] == "clone" and r["numel"] == "10000")
    assert (clone["allocated_bytes"], clone["shares_storage"]) == ("40000", "false")
    model_rows = [r for r in rows if r["experiment"] == "model_inplace"]
    assert [(r["mode"], r["variant"]) for r in model_rows] == [
        ("eval", "in_place"),
        ("eval", "out_of_place"),
        ("train", "in_place"),
        ("train", "out_of_place"),
    ]
    report = (run_dir / "report.md").read_text()
    assert "## Experiment `views` (cpu, float32)" in report
    assert "## Model-level in-place comparison" in report
    assert "`x.view(-1)`: " in report and "allocates nothing" in report
    assert "measured interleaved" in report  # --quick: one round each, too few for an interval
    assert "`x.clone()` vs `x.view(-1)` at 10,000 float32 elements: inconclusive (1 " in report
    entries = read_record(run_dir)["cases"]
    clone_entry = next(e for e in entries if e.get("variant") == "clone" and e["numel"] == 10000)
    assert clone_entry["paired"]["baseline"] == "view"
    assert len(clone_entry["round_medians_ms"]) == clone_entry["paired"]["rounds"] == 1
    plot = f"plots/{plot_file_name('experiment', 'views-cpu-float32')}"
    assert f"]({plot})" in report and (run_dir / plot).stat().st_size > 1000


def test_experiment_names_are_checked_like_model_names(write_suite) -> None:
    path = write_suite('[suite]\nname = "s"\n[[experiments]]\nname = "a\\tb"\nkind = "view"\n')
    with pytest.raises(SuiteError, match="control character"):
        load_suite(path)


SHORT_POLICY = TimingPolicy(
    warmup_min_iterations=2, steady_window=0, min_blocks=6, budget_s=0.01, precision=0.02
)
"""A few milliseconds a variant: enough rounds for an interval, nothing asserted on times."""


def family_cases(family: str, numel: int = 1000) -> list[ExperimentCase]:
    return [
        ExperimentCase("s", "e", v, numel, "cpu", "float32")
        for v in CATALOG_BY_KEY.values()
        if v.family == family
    ]


def test_every_family_is_compared_with_its_first_variant() -> None:
    for variants in CATALOG.values():
        for variant in variants:
            first = next(v for v in variants if v.family == variant.family)
            assert baseline_of(variant) is first, variant.key
    assert {baseline_of(v).name for v in CATALOG["inplace"]} == {"out_of_place"}


def test_cases_expand_group_by_group() -> None:
    spec = ExperimentSpec("e", "inplace", ("relu", "clamp"), (1000, 2000))
    cases = expand_experiments("s", (spec,), ("cpu",), ("float32",))
    assert [(c.variant.key, c.numel) for c in cases] == [
        ("relu/out_of_place", 1000),
        ("relu/in_place", 1000),
        ("relu/out_of_place", 2000),
        ("relu/in_place", 2000),
        ("clamp/out_of_place", 1000),
        ("clamp/in_place", 1000),
        ("clamp/out_of_place", 2000),
        ("clamp/in_place", 2000),
    ]


def test_a_family_is_timed_interleaved_and_compared_with_its_baseline() -> None:
    baseline, in_place = measure_experiment_group(family_cases("relu"), SHORT_POLICY)
    assert (baseline.status, in_place.status) == ("ok", "ok")
    assert baseline.paired is None
    paired = in_place.paired
    assert paired is not None and paired.baseline == "out_of_place"
    assert paired.verdict in VERDICTS and paired.ratio is not None and paired.ratio > 0
    assert paired.ci_low is not None and paired.ci_low <= paired.ratio <= (paired.ci_high or 0)
    for row in (baseline, in_place):
        assert row.measurement is not None
        rounds = row.measurement.round_medians_ms
        assert len(rounds) == paired.rounds >= 6
        assert len(row.measurement.latency.samples_ms) == 2 * paired.rounds  # ABBA: 2 a round
        entry = json_value(row.record())
        assert json_value(experiment_result(entry).record()) == entry  # lossless
    assert "paired" in json_value(in_place.record())
    sentence = next(iter(inplace_conclusions([baseline, in_place])))
    # the verdict with its interleaved rounds, whichever way this machine's load made it go
    assert f"{paired.rounds} interleaved rounds" in sentence
    assert ("no clear difference (inconclusive" in sentence) == (paired.verdict == "inconclusive")
    section = "\n".join(experiment_sections([baseline, in_place], {}))
    assert "measured interleaved" in section and "vs out_of_place" in section


def test_records_from_before_interleaving_read_back_and_say_how_they_were_timed() -> None:
    rows = measure_experiment_group(family_cases("relu"), SHORT_POLICY)
    old_entries = []
    for row in rows:
        entry = json_value(row.record())
        entry.pop("round_medians_ms")
        entry.pop("paired", None)
        old_entries.append(entry)
    old_rows = [experiment_result(entry) for entry in old_entries]
    assert [r.paired for r in old_rows] == [None, None]
    assert all(r.measurement and r.measurement.round_medians_ms == () for r in old_rows)
    assert [json_value(r.record()) for r in old_rows] == old_entries  # rewritten unchanged
    (sentence,) = inplace_conclusions(old_rows)
    assert "measured one after the other, not interleaved" in sentence
    section = "\n".join(experiment_sections(old_rows, {}))
    assert "measured one variant after the other" in section
    assert "measured interleaved" not in section


def test_a_variant_that_fails_leaves_the_rest_of_its_group_measured() -> None:
    def broken(t):
        raise RuntimeError("this variant cannot run")

    cases = family_cases("relu")
    cases.append(
        ExperimentCase("s", "e", Variant("relu", "broken", "boom", broken), 1000, "cpu", "float32")
    )
    baseline, in_place, failed = measure_experiment_group(cases, SHORT_POLICY)
    assert (baseline.status, in_place.status, failed.status) == ("ok", "ok", "error")
    assert failed.error == "RuntimeError: this variant cannot run"
    assert in_place.paired is not None and in_place.paired.rounds >= 6


def test_the_session_measures_each_group_once_on_its_first_case(monkeypatch) -> None:
    calls: list[list[str]] = []

    def fake_group(cases, policy):
        calls.append([f"{c.variant.key}@{c.numel}" for c in cases])
        return [ExperimentResult(c, "skipped", error="fake") for c in cases]

    monkeypatch.setattr(experiment_run, "measure_experiment_group", fake_group)
    spec = ExperimentSpec("e", "inplace", ("relu",), (1000, 2000))
    cases = expand_experiments("s", (spec,), ("cpu",), ("float32",))
    session = ExperimentSession(cases, QUICK_POLICY)
    handed = [session.result(case) for case in cases]
    assert [r.case for r in handed] == cases
    assert calls == [
        ["relu/out_of_place@1000", "relu/in_place@1000"],
        ["relu/out_of_place@2000", "relu/in_place@2000"],
    ]


def test_an_experiment_plot_draws_a_flagged_latency_hollow_and_says_so() -> None:
    """Model plots drew flagged points hollow; experiment plots drew every point alike."""
    from bench.report.experiment_plots import experiment_figure
    from bench.report.plot_style import HOLLOW_LABEL, pyplot

    def row(numel: int, samples: list[float]) -> ExperimentResult:
        (case,) = [c for c in family_cases("view", numel) if c.variant.name == "view"]
        latency = LatencyStats.from_samples(samples)
        measurement = VariantMeasurement(latency, 0, True, True, True, "")
        return ExperimentResult(case, "ok", measurement=measurement)

    steady = [1.0 + 0.001 * (i % 3) for i in range(30)]
    noisy = [1.0, 3.0] * 15  # IQR/median far above 10%
    plt = pyplot()
    figure = experiment_figure(plt, [row(1000, steady), row(10000, noisy)], "t")
    try:
        latency_axes = figure.axes[0]
        styles = {line.get_gid(): line.get_markerfacecolor() for line in latency_axes.lines}
        assert styles["flagged"] == "none" and styles["clean"] != "none"
        legend = [text.get_text() for text in figure.axes[1].get_legend().get_texts()]
        assert legend == ["view/view", HOLLOW_LABEL]
    finally:
        plt.close(figure)
