"""The counting probes of a case: meta first with a real fallback, the fvcore cross-check, the
layer table, and how they reach the CSV columns and the report."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torch.utils._python_dispatch import is_in_torch_dispatch_mode

from bench.measure.case import RunOptions, measure_case
from bench.measure.counting.fvcore_check import fvcore_macs
from bench.measure.counting.layers import layer_table
from bench.measure.counting.meta import build_on_meta
from bench.measure.counting.ops import count_ops, count_params
from bench.measure.counting.probe import _count_workload, count_case
from bench.measure.timing.engine import QUICK_POLICY
from bench.model.factory import build_model
from bench.model.inputs import make_input
from bench.records import METRICS, Case, LatencyStats, ModelSpec, Result
from bench.records.counts import CountDetails, LayerRow, crosscheck_disagreement
from bench.report.document import render_report
from bench.store import read_record
from tests.conftest import TINY_SUITE


class ReadsItsInput(nn.Module):
    """Control flow on a tensor's value: impossible on meta, where there are no values."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) if bool(x.sum() > -1e9) else x[:, :3]


class NotTraceable(nn.Module):
    """Refuses the jit tracer fvcore relies on, as torch.compile'd and some scripted models do
    (compiling one here would cost far more test time than it proves)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_tracing():
            raise RuntimeError("this model cannot be traced")
        return self.linear(x)


class RefusesDispatchModes(nn.Module):
    """Fails under any TorchDispatchMode (as FlopCounterMode is), runs fine otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if is_in_torch_dispatch_mode():
            raise RuntimeError("no dispatch modes here")
        return self.linear(x)


class FrozenBackbone(nn.Module):
    """The seed notes' fine-tuning setup: a frozen feature layer and a trainable head."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
        self.head = nn.Linear(8, 2)
        for parameter in self.features.parameters():
            parameter.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def case_for(factory: str, shape: tuple[int, ...], mode: str = "eval", batch: int = 2) -> Case:
    spec = ModelSpec(name=factory.split(":")[-1], factory=factory, input_shape=shape,
                     batch_sizes=(batch,), modes=(mode,))  # fmt: skip
    return Case(suite="s", model=spec, device="cpu", dtype="float32", batch_size=batch,
                base_dir=Path(), mode=mode)  # fmt: skip


def probe(case: Case, crosscheck: bool = True):  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    return count_case(case, build_model(case), make_input(case), frozenset(METRICS), crosscheck)


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_meta_count_equals_real_count(mode: str) -> None:
    case = case_for("bench.zoo:mnist_cnn", (1, 28, 28), mode)
    outcome = probe(case)
    assert outcome.details.counted_on == "meta"
    model, example = build_model(case), make_input(case)
    assert outcome.macs == _count_workload(model, example, mode).macs
    assert outcome.notes == ()


@pytest.mark.parametrize(
    ("variant", "relu"), [("in_place", "aten.relu_"), ("out_of_place", "aten.relu")]
)
def test_each_compare_inplace_build_lists_its_own_ops(variant: str, relu: str) -> None:
    """Counted on meta, both builds listed the factory's default (the in_place build `aten.relu`,
    the other `aten.relu_`): the meta copy was built without the variant's inplace flags."""
    from dataclasses import replace

    case = replace(case_for("bench.zoo:cifar10_net", (3, 32, 32)), inplace_variant=variant)
    outcome = probe(case)
    assert outcome.details.counted_on == "meta"
    relus = {op for op in outcome.details.uncounted_ops if op.startswith("aten.relu")}
    assert relus == {relu}


def test_model_that_reads_values_falls_back_to_real_tensors_and_says_so() -> None:
    outcome = probe(case_for("tests.test_count_probe:ReadsItsInput", (6,)))
    assert outcome.details.counted_on == "real"
    assert outcome.macs == 2 * 6 * 3
    assert any(n.startswith("meta device: forward failed") for n in outcome.notes)


def test_a_failed_count_is_an_empty_cell_and_a_note_not_a_lost_case() -> None:
    case = case_for("tests.test_count_probe:RefusesDispatchModes", (6,))
    metrics = frozenset({"params", "flops", "latency"})
    result = measure_case(case, RunOptions(metrics=metrics, timing=QUICK_POLICY))
    assert result.status == "ok" and result.latency is not None
    assert result.macs is None and result.params == 21
    assert any(n.startswith("flops: counting failed on real tensors") for n in result.notes)


def test_params_buffers_size_and_frozen_layers() -> None:
    outcome = probe(case_for("tests.test_count_probe:FrozenBackbone", (6,)))
    assert (outcome.params, outcome.trainable_params) == (6 * 8 + 8 + 8 * 2 + 2, 8 * 2 + 2)
    assert outcome.details.buffers == 0
    assert outcome.details.model_size_bytes == 4 * outcome.params


def test_builders_that_compute_with_tensors_still_build_on_meta() -> None:
    """regnet computes its widths with torch ops and reads them back, which fails under
    `torch.device('meta')`; registering parameters onto meta still works."""
    # the premise (torch's error, in torch's words: only that it fails is asserted)
    with pytest.raises(Exception), torch.device("meta"):  # noqa: B017
        torchvision.models.regnet_x_400mf()
    model = build_on_meta(torchvision.models.regnet_x_400mf, {})
    assert all(p.is_meta for p in model.parameters())
    assert count_params(model)[0] == 5_495_976
    assert nn.Module.register_parameter.__qualname__ == "Module.register_parameter"  # restored


def test_fvcore_agrees_on_convolutions_and_misses_fused_attention() -> None:
    cnn = probe(case_for("bench.zoo:mnist_cnn", (1, 28, 28)))
    assert cnn.details.fvcore_macs == cnn.macs  # convs and linears only: same count
    assert crosscheck_disagreement(cnn.macs, cnn.details) is None
    encoder = nn.TransformerEncoderLayer(16, 4, dim_feedforward=24, batch_first=True).eval()
    fvcore = fvcore_macs(encoder, torch.randn(2, 5, 16))
    assert fvcore.macs is not None
    # which op fvcore names (today the private `aten::_native_multi_head_attention`) is torch's
    # and fvcore's naming; bench tells attention by "attention" in the name
    attention = {op: n for op, n in fvcore.skipped_ops.items() if "attention" in op}
    assert list(attention.values()) == [1]
    with torch.inference_mode():
        ours = count_ops(lambda: encoder(torch.randn(2, 5, 16))).macs
    assert fvcore.macs < ours
    details = CountDetails(fvcore_macs=fvcore.macs, fvcore_skipped_ops=fvcore.skipped_ops)
    reason = crosscheck_disagreement(ours, details)
    assert reason is not None and "no handler for these contractions" in reason
    assert next(iter(attention)) in reason  # the op it skipped, by name


def test_fvcore_failure_leaves_the_cell_empty_with_a_note() -> None:
    outcome = probe(case_for("tests.test_count_probe:NotTraceable", (6,)))
    assert outcome.macs == 2 * 6 * 3
    assert outcome.details.fvcore_macs is None
    assert outcome.details.fvcore_note.startswith("fvcore failed: RuntimeError: this model")
    assert outcome.notes == (outcome.details.fvcore_note,)  # the report's notes show it


def test_train_mode_has_no_fvcore_cross_check() -> None:
    outcome = probe(case_for("bench.zoo:mnist_cnn", (1, 28, 28), "train"))
    assert outcome.details.fvcore_macs is None
    assert "forward pass only" in outcome.details.fvcore_note


def test_importing_fvcore_through_bench_is_quiet() -> None:
    """fvcore.nn's import warns that torch.jit.script is deprecated; we silence exactly that."""
    done = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-c",
         "from bench.measure.counting.fvcore_check import _import_fvcore; _import_fvcore()"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_disagreement_reasons() -> None:
    attention = CountDetails(
        fvcore_macs=65, fvcore_skipped_ops={"aten::_native_multi_head_attention": 12}
    )
    assert crosscheck_disagreement(100, attention) == (
        "fvcore 0.000 vs ours 0.000 GMACs (-35.0%): fvcore has no handler for these "
        "contractions, which it skipped: aten::_native_multi_head_attention x12"
    )
    # Mixtral's experts: fvcore skipped the grouped matmul; the reason names it, not attention
    experts = CountDetails(
        fvcore_macs=40, fvcore_skipped_ops={"aten::_grouped_mm": 4, "aten::sigmoid": 8}
    )
    assert (crosscheck_disagreement(100, experts) or "").endswith("aten::_grouped_mm x4")
    # fvcore lower, yet it skipped nothing that multiplies: said to be unexplained
    elementwise = CountDetails(fvcore_macs=60, fvcore_skipped_ops={"aten::sigmoid": 8})
    assert "unexplained" in (crosscheck_disagreement(100, elementwise) or "")
    norms = crosscheck_disagreement(100, CountDetails(fvcore_macs=110))
    assert norms is not None and "counts norms, pooling" in norms
    assert crosscheck_disagreement(100, CountDetails(fvcore_macs=104)) is None
    assert crosscheck_disagreement(100, CountDetails()) is None


def test_layer_table_rows() -> None:
    model = FrozenBackbone()
    rows = layer_table(model, torch.randn(2, 6))
    root = rows[0]
    assert (root.depth, root.output_shape, root.params) == (0, "2x2", 74)
    (features,) = [r for r in rows if (r.depth, r.output_shape, r.params) == (1, "2x8", 56)]
    (head,) = [r for r in rows if (r.depth, r.output_shape, r.params) == (1, "2x2", 18)]
    # the label's layout is torchinfo's ("Sequential (features): 1-1" today): it names the
    # module's class and its attribute
    assert "FrozenBackbone" in root.layer
    assert "Sequential" in features.layer and "features" in features.layer
    assert "Linear" in head.layer and "head" in head.layer
    # frozen, trainable, and a mix of both (torchinfo's word for a mix, "Partial" today)
    assert (features.trainable, head.trainable) == ("False", "True")
    assert root.trainable not in ("True", "False", "")


def test_efficiency_columns() -> None:
    case = case_for("bench.zoo:mnist_cnn", (1, 28, 28))
    latency = LatencyStats.from_samples([10.0, 10.0, 10.0])
    result = Result(case=case, status="ok", macs=10**9, latency=latency)
    assert result.achieved_gflops_per_s == pytest.approx(200.0)  # 2e9 FLOPs in 10 ms
    assert result.peak_fraction is None  # no ceiling known
    with_peak = Result(case=case, status="ok", macs=10**9, latency=latency, matmul_peak_gflops=400)
    assert with_peak.peak_fraction == pytest.approx(0.5)
    row = with_peak.row()
    assert row["achieved_gflops_per_s"] == pytest.approx(200.0) and row["peak_fraction"] == 0.5


def test_report_shows_counts_coverage_disagreement_and_collapsed_layers() -> None:
    case = case_for("bench.zoo:mnist_cnn", (1, 28, 28))
    details = CountDetails(
        counted_on="meta",
        uncounted_ops={"aten.relu": 3, "aten.add": 1},
        buffers=0,
        model_size_bytes=4000,
        fvcore_macs=650,
        fvcore_skipped_ops={"aten::scaled_dot_product_attention": 2},
        layers=(LayerRow(0, "Net (Net)", "2x10", 1000, "True"),),
    )
    result = Result(case=case, status="ok", params=1000, trainable_params=1000, macs=1000,
                    counting=details)  # fmt: skip
    text = render_report([result], {}, "t")
    count_rows = [line for line in text.splitlines() if line.startswith("| `mnist_cnn ")]
    cells = [cell.strip() for cell in count_rows[-1].strip("|").split("|")]
    assert cells == [
        f"`{result.case.label}`",
        "1.000",
        "0.6500",
        "meta",
        "1,000",
        "1,000",
        "0",
        "0.003815",
    ]  # fmt: skip  (kMACs; GFLOP/s and % of peak: empty, left out)
    assert "|   kMACs |   fvcore kMACs |" in text
    assert "- `mnist_cnn` eval: `aten.relu` x3, `aten.add` x1" in text
    assert "(-35.0%): fvcore has no handler for these contractions" in text
    assert "<details>\n<summary>Layers of <code>mnist_cnn</code> at 2x1x28x28</summary>" in text
    assert any(line.startswith("| Net (Net)") and "2x10" in line for line in text.splitlines())


def test_run_fills_the_counting_columns_and_run_json(write_suite, tmp_path: Path, cli) -> None:
    suite = write_suite(TINY_SUITE)
    done = cli("run", suite, "--out", tmp_path, "--quick", "--quiet", "--peak-gflops", "50")
    assert done.returncode == 0, done.stderr
    run_dir = Path(done.stdout.strip())
    with (run_dir / "results.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row, batch in zip(rows, (1, 2), strict=True):
        assert int(row["macs"]) == int(row["fvcore_macs"]) == batch * 16 * 4
        assert row["flops_counted_on"] == "meta"
        assert (row["buffers"], row["model_size_bytes"]) == ("0", str(4 * (16 * 4 + 4)))
        achieved = float(row["achieved_gflops_per_s"])
        assert achieved == pytest.approx(int(row["flops"]) / float(row["latency_median_ms"]) / 1e6,
                                         rel=1e-5)  # fmt: skip
        assert float(row["peak_fraction"]) == pytest.approx(achieved / 50, rel=1e-5)
    record = read_record(run_dir)
    counting = record["cases"][0]["counting"]
    assert counting["flops_counted_on"] == "meta"
    assert counting["macs_by_op"] == {"aten.addmm": 64}
    assert counting["uncounted_ops"] == {}
    assert "<details>" in (run_dir / "report.md").read_text()


def test_run_without_crosscheck_or_peak_leaves_those_cells_empty(
    write_suite, tmp_path, cli
) -> None:
    suite = write_suite(TINY_SUITE)
    done = cli("run", suite, "--out", tmp_path, "--quiet", "--no-crosscheck",
               "--metrics", "params,flops")  # fmt: skip
    assert done.returncode == 0, done.stderr
    with (Path(done.stdout.strip()) / "results.csv").open(newline="") as handle:
        row = next(csv.DictReader(handle))
    assert row["macs"] == "64" and row["fvcore_macs"] == ""
    assert row["achieved_gflops_per_s"] == row["peak_fraction"] == ""


@pytest.mark.parametrize("value", ["0", "-3", "fast", "inf"])
def test_bad_peak_gflops_is_a_usage_error(write_suite, value: str, cli) -> None:
    done = cli("run", write_suite(TINY_SUITE), "--peak-gflops", value)
    assert done.returncode == 2
    assert done.stderr.startswith("error: argument --peak-gflops: expected a positive number")
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
