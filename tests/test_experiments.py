"""Aliasing, allocation and correctness facts of the tensor experiments, asserted exactly."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from bench.errors import SuiteError
from bench.experiments.analysis import log_log_slope
from bench.experiments.catalog import CATALOG, CATALOG_BY_KEY, Variant
from bench.experiments.measure import cuda_allocated_bytes, measure_variant, pristine_inputs
from bench.measure.timing.engine import QUICK_POLICY
from bench.model.factory import set_inplace
from bench.suite.load import expand, load_suite
from bench.zoo import cifar10_net
from tests.fakes import FakeCudaBackend

NUMEL = 10_000


def measure(key: str, dtype: str = "float32"):
    return measure_variant(CATALOG_BY_KEY[key], NUMEL, "cpu", dtype, QUICK_POLICY)


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
    assert (run_dir / "plots" / "views-cpu-float32.png").stat().st_size > 1000


def test_experiment_names_are_checked_like_model_names(write_suite) -> None:
    path = write_suite('[suite]\nname = "s"\n[[experiments]]\nname = "a\\tb"\nkind = "view"\n')
    with pytest.raises(SuiteError, match="control character"):
        load_suite(path)
