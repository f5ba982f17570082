"""Several inputs per model: the suite keys (`inputs`, `dims`, `batch_as_list`), their checks,
the seeded tensors they make, and whole cases run through them with exact counts."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.cli import main
from bench.errors import SuiteError
from bench.measure import RunOptions, measure_case
from bench.model.inputs import INPUT_SEED, make_input
from bench.records import InputSpec, parse_dims_text, parse_shapes_text
from bench.report.model_plots import model_plot_path
from bench.suite import expand, load_suite

COUNTS = RunOptions(metrics=frozenset({"params", "flops"}), crosscheck=False)

TOKENS = """
[suite]
name = "t"

[[models]]
name = "tokens"
factory = "bench.zoo:token_encoder"
kwargs = { vocab_size = 50, d_model = 16, nhead = 2, num_layers = 1, dim_feedforward = 32 }
inputs = [
  { name = "input_ids", shape = ["seq"], dtype = "int64", low = 3, high = 50 },
  { name = "attention_mask", shape = ["seq"], dtype = "int64", low = 1, high = 2 },
]
dims = { seq = [4, 8] }
batch_sizes = [2]
"""

FUSION = """
[suite]
name = "f"

[[models]]
name = "fusion"
factory = "bench.zoo:image_and_features"
kwargs = { width = 8 }
inputs = [{ shape = [3, 8, 8] }, { shape = [16] }]
batch_sizes = [3]
modes = ["eval", "train"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text, encoding="utf-8")
    return path


class ListOfImages(nn.Module):
    """Takes a list of [3, H, W] images, as torchvision's detection models do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, images: list[torch.Tensor]) -> list[torch.Tensor]:
        assert isinstance(images, list)
        return [self.conv(image.unsqueeze(0)) for image in images]


class Flags(nn.Module):
    def forward(self, x: torch.Tensor, *, mask: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return x * mask * scale


# --- the suite contract ---------------------------------------------------------------------


def test_inputs_and_dims_expand_into_one_case_per_value(tmp_path: Path) -> None:
    cases = expand(load_suite(write(tmp_path, TOKENS)))
    assert [c.dims for c in cases] == [(("seq", 4),), (("seq", 8),)]
    assert [c.input_shape_text for c in cases] == ["2x4,2x4", "2x8,2x8"]
    assert cases[0].label == "tokens cpu float32 b2 seq=4"
    assert cases[0].key != cases[1].key  # --resume and shards tell the lengths apart
    spec = cases[0].model.inputs[0]
    assert spec == InputSpec(shape=("seq",), dtype="int64", low=3, high=50, name="input_ids")


def test_input_shape_shorthand_may_name_a_swept_dimension(tmp_path: Path) -> None:
    text = FUSION.replace(
        "inputs = [{ shape = [3, 8, 8] }, { shape = [16] }]",
        'input_shape = ["n", 16]\ndims = { n = [2, 5] }',
    ).replace('factory = "bench.zoo:image_and_features"', 'factory = "torch.nn:Identity"')
    text = text.replace("kwargs = { width = 8 }\n", "")
    cases = expand(load_suite(write(tmp_path, text)))
    assert [c.input_shape_text for c in cases if c.mode == "eval"] == ["3x2x16", "3x5x16"]


BAD_INPUTS = [
    ("input_shape = [4]\ninputs = [{ shape = [4] }]", "either 'input_shape'"),
    ("", "missing 'input_shape'"),
    ("inputs = []", "inputs: must be a non-empty list of tables"),
    ('inputs = [{ shape = [4], colour = "red" }]', "inputs[0]: unknown key 'colour'"),
    ("inputs = [{ dtype = 'int64', high = 3 }]", "inputs[0]: missing 'shape'"),
    ("inputs = [{ shape = [4], dtype = 'int64' }]", "needs 'high'"),
    ("inputs = [{ shape = [4], dtype = 'int64', low = 5, high = 5 }]", "low < high"),
    ("inputs = [{ shape = [4], dtype = 'uint8', high = 300 }]", "high <= 256 for uint8"),
    ("inputs = [{ shape = [4], dtype = 'int64', high = 2.5 }]", "must be integers"),
    ("inputs = [{ shape = [4], dtype = 'bool', high = 2 }]", "a bool input takes no"),
    ("inputs = [{ shape = [4], low = 0 }]", "both 'low' and 'high'"),
    ("inputs = [{ shape = [4], low = 1.0, high = 0.0 }]", "needs low < high"),
    ("inputs = [{ shape = [4], dtype = 'complex64' }]", "unknown dtype 'complex64'; allowed:"),
    ("inputs = [{ shape = [4], name = 'not a name' }]", "inputs[0] name: must be the forward"),
    (
        "inputs = [{ shape = [4], name = 'x' }, { shape = [4], name = 'x' }]",
        "inputs[1] name: 'x' is given twice",
    ),
    ("inputs = [{ shape = ['seq'] }]", "'seq' is not a declared dimension (declared: none)"),
    ("inputs = [{ shape = [0] }]", "shape: must be a non-empty list of positive integers"),
    ("inputs = [{ shape = [4] }]\ndims = { seq = [8] }", "dims: 'seq' is not used by any input"),
    ("inputs = [{ shape = ['seq'] }]\ndims = { seq = [] }", "dims seq: must be a non-empty list"),
    ("inputs = [{ shape = ['seq'] }]\ndims = { seq = [8, 8] }", "dims seq: repeats a value"),
    ("input_shape = [4]\nbatch_as_list = 1", "batch_as_list: must be true or false"),
]


@pytest.mark.parametrize(("keys", "message"), BAD_INPUTS)
def test_bad_inputs_are_one_line_naming_file_entry_and_what_is_allowed(
    tmp_path: Path, keys: str, message: str
) -> None:
    text = f'[suite]\nname = "s"\n\n[[models]]\nname = "m"\nfactory = "torch.nn:Identity"\n{keys}\n'
    path = write(tmp_path, text)
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    error = str(caught.value)
    assert message in error and "\n" not in error
    assert str(path) in error and "models[0] (m)" in error


def test_a_bad_input_exits_2_from_the_command_line(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, TOKENS.replace("low = 3, high = 50", "low = 3"))
    assert main(["run", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "needs 'high'" in err
    assert not (tmp_path / "r").exists()


# --- the tensors ----------------------------------------------------------------------------


def test_inputs_are_seeded_typed_in_range_and_passed_by_keyword(tmp_path: Path) -> None:
    case = expand(load_suite(write(tmp_path, TOKENS)))[1]
    first, second = make_input(case), make_input(case)
    assert first.args == () and list(first.kwargs) == ["input_ids", "attention_mask"]
    ids, mask = first.kwargs["input_ids"], first.kwargs["attention_mask"]
    assert ids.dtype == mask.dtype == torch.int64 and tuple(ids.shape) == (2, 8)
    assert int(ids.min()) >= 3 and int(ids.max()) < 50 and len(ids.unique()) > 1
    assert torch.equal(mask, torch.ones(2, 8, dtype=torch.int64))
    assert all(torch.equal(a, b) for a, b in zip(first.tensors(), second.tensors(), strict=True))


def test_one_float_input_is_the_same_tensor_as_before_several_inputs_existed() -> None:
    """Reference runs made with the `input_shape` shorthand keep their exact input values."""
    case = expand(load_suite(Path("suites/default.toml")))[0]
    (tensor,) = make_input(case).args
    expected = torch.randn((1, 3, 224, 224), generator=torch.Generator().manual_seed(INPUT_SEED))
    assert torch.equal(tensor, expected)


def test_dtypes_ranges_and_the_case_precision(tmp_path: Path) -> None:
    text = FUSION.replace(
        "inputs = [{ shape = [3, 8, 8] }, { shape = [16] }]",
        "inputs = [{ shape = [3, 8, 8], low = 0.0, high = 1.0 }, { shape = [16], dtype = "
        "'bool' }, { shape = [2], dtype = 'float64' }, { shape = [2], dtype = 'uint8', "
        "low = 250, high = 256 }]",
    ).replace('modes = ["eval", "train"]', 'modes = ["eval"]\ndtypes = ["bfloat16"]')
    (case,) = expand(load_suite(write(tmp_path, text)))
    image, flags, doubles, small = make_input(case).args
    assert image.dtype == torch.bfloat16  # no dtype: the case's precision
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert flags.dtype == torch.bool and doubles.dtype == torch.float64
    assert small.dtype == torch.uint8 and int(small.min()) >= 250


def test_batch_as_list_passes_per_sample_tensors_and_meta_draws_nothing(tmp_path: Path) -> None:
    text = FUSION.replace("inputs = [{ shape = [3, 8, 8] }, { shape = [16] }]", "")
    text = text.replace("kwargs = { width = 8 }", "input_shape = [3, 8, 8]\nbatch_as_list = true")
    (case, _) = expand(load_suite(write(tmp_path, text)))
    (images,) = make_input(case).args
    assert isinstance(images, list) and [tuple(i.shape) for i in images] == [(3, 8, 8)] * 3
    (meta,) = make_input(case, device="meta").args
    assert all(image.is_meta for image in meta)


def test_parse_round_trips_what_the_csv_holds() -> None:
    assert parse_shapes_text("2x128,2x128") == ((2, 128), (2, 128))
    assert parse_dims_text("seq=128,frames=16") == (("seq", 128), ("frames", 16))
    assert parse_dims_text("") == ()


# --- whole cases ----------------------------------------------------------------------------


def test_two_input_model_counts_exactly_in_eval_and_train(tmp_path: Path) -> None:
    cases = expand(load_suite(write(tmp_path, FUSION)))
    results = [measure_case(case, COUNTS) for case in cases]
    assert [r.status for r in results] == ["ok", "ok"]
    per_sample = 8 * 3 * 9 * 8 * 8 + 16 * 8 + 16 * 10  # conv, feature linear, classifier
    eval_row = results[0].row()
    assert eval_row["macs"] == 3 * per_sample and eval_row["input_shape"] == "3x3x8x8,3x16"
    assert eval_row["params"] == (3 * 9 * 8 + 8) + (16 * 8 + 8) + (16 * 10 + 10)
    assert eval_row["flops_counted_on"] == "meta"


def test_token_ids_by_keyword_count_like_the_closed_form(tmp_path: Path) -> None:
    """Per token and layer: QKV and output projections 4 d^2, feed-forward 2 d f, attention
    scores and their product with V 2 s d; the embedding lookup is a gather (no MACs)."""
    d, f = 16, 32
    for case in expand(load_suite(write(tmp_path, TOKENS))):
        row = measure_case(case, COUNTS).row()
        seq = dict(case.dims)["seq"]
        assert row["status"] == "ok" and row["dims"] == f"seq={seq}"
        assert row["macs"] == 2 * seq * (4 * d * d + 2 * d * f + 2 * seq * d)


def test_list_of_images_and_keyword_only_inputs_run(tmp_path: Path) -> None:
    text = """
[suite]
name = "l"

[[models]]
name = "images"
factory = "tests.test_inputs:ListOfImages"
inputs = [{ shape = [3, 4, 5] }]
batch_as_list = true
batch_sizes = [2]

[[models]]
name = "flags"
factory = "tests.test_inputs:Flags"
inputs = [{ shape = [6] }, { name = "mask", shape = [6], dtype = "bool" },
          { name = "scale", shape = [1], low = 1.0, high = 2.0 }]
"""
    images, flags = (measure_case(c, COUNTS) for c in expand(load_suite(write(tmp_path, text))))
    assert images.status == "ok" and images.macs == 2 * 4 * 3 * 4 * 5
    assert images.row()["input_shape"] == "2x3x4x5"
    assert flags.status == "ok" and flags.row()["input_shape"] == "1x6,1x6,1x1"


def test_csv_and_report_show_every_input(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, TOKENS)
    code = main(["run", str(path), "--out", str(tmp_path / "r"), "--metrics", "params,flops"])
    assert code == 0
    run_dir = Path(capsys.readouterr().out.strip())
    rows = list(csv.DictReader((run_dir / "results.csv").open(encoding="utf-8")))
    assert [(r["input_shape"], r["dims"]) for r in rows] == [
        ("2x4,2x4", "seq=4"),
        ("2x8,2x8", "seq=8"),
    ]
    before = (run_dir / "report.md").read_bytes()
    assert b"tokens cpu float32 b2 seq=8" in before or b"2x8,2x8" in before
    assert main(["report", str(run_dir)]) == 0  # rebuilt from run.json alone, byte for byte
    assert (run_dir / "report.md").read_bytes() == before


def test_a_swept_dimension_is_plotted_against_itself(tmp_path: Path, capsys) -> None:
    path = write(tmp_path, TOKENS)
    code = main(["run", str(path), "--out", str(tmp_path / "r"), "--metrics", "latency", "--quick"])
    assert code == 0
    run_dir = Path(capsys.readouterr().out.strip())
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    plot = model_plot_path("tokens")
    assert f"[![tokens: latency and throughput against seq]({plot})]" in report
    assert (run_dir / plot).stat().st_size > 0


def test_channels_last_converts_every_four_dimensional_float_input(tmp_path: Path) -> None:
    text = FUSION.replace('modes = ["eval", "train"]', 'memory_formats = ["channels_last"]')
    (case,) = expand(load_suite(write(tmp_path, text)))
    image, features = make_input(case).args
    assert image.is_contiguous(memory_format=torch.channels_last) and features.dim() == 2
    assert measure_case(case, COUNTS).status == "ok"
    listed = FUSION.replace("kwargs = { width = 8 }", "batch_as_list = true").replace(
        'modes = ["eval", "train"]', 'memory_formats = ["channels_last"]'
    )
    (as_list,) = expand(load_suite(write(tmp_path, listed)))
    skipped = measure_case(as_list, COUNTS)
    assert skipped.status == "skipped" and "lists" in skipped.error
    vectors = TOKENS.replace("batch_sizes = [2]", 'memory_formats = ["channels_last"]')
    for case in expand(load_suite(write(tmp_path, vectors))):  # int64 ids only: nothing to lay out
        row = measure_case(case, COUNTS)
        assert row.status == "skipped" and "applies to floating inputs" in row.error
