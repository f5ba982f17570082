"""Any nesting of tensors is an output; other leaves are ignored with a note; the training loss is
the sum of the floating leaves' means; compare_inplace rows say whether both builds agree."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.cli import main
from bench.model.outputs import NonFiniteOutputError, check_output, compare_outputs, output_leaves
from bench.model.workload import scalar_loss
from bench.store import read_record
from tests.robust_helpers import model_entry, read_rows, suite_text

Pair = namedtuple("Pair", ["hidden", "pooled"])


@dataclass
class Detections:
    boxes: torch.Tensor
    labels: torch.Tensor
    label_names: list[str]


def test_leaves_are_named_by_their_place_in_any_nesting() -> None:
    output = {
        "pair": Pair(torch.ones(1), torch.ones(2)),
        "det": [Detections(torch.ones(0, 4), torch.zeros(0, dtype=torch.int64), ["cat"])],
        "past": None,
    }
    leaves = output_leaves(output)
    assert [where for where, _ in leaves.tensors] == [
        "output['pair'].hidden",
        "output['pair'].pooled",
        "output['det'][0].boxes",
        "output['det'][0].labels",
    ]
    assert leaves.ignored == (
        ("output['det'][0].label_names[0]", "str"),
        ("output['past']", "NoneType"),
    )


def test_non_tensor_leaves_are_ignored_with_a_note() -> None:
    class Cache:
        pass

    notes = check_output({"logits": torch.ones(2), "cache": Cache(), "n": 3})
    assert notes == (
        "output: non-tensor parts ignored (not checked, not in the training loss): "
        "output['cache'] (Cache), output['n'] (int)",
    )
    assert check_output((torch.ones(1), [torch.ones(1)])) == ()


def test_many_ignored_leaves_are_counted_not_listed() -> None:
    (note,) = check_output([torch.ones(1), *range(8)])
    assert note.endswith("output[5] (int) and 3 more")


def test_a_container_holding_itself_ends() -> None:
    loop: list[object] = [torch.ones(1)]
    loop.append(loop)
    assert [where for where, _ in output_leaves(loop).tensors] == ["output[0]"]


def test_nan_inside_a_dataclass_is_found_with_its_place() -> None:
    det = Detections(torch.tensor([[0.0, 1.0, float("nan"), 2.0]]), torch.ones(1), [])
    with pytest.raises(NonFiniteOutputError, match=r"^output\[0\]\.boxes has non-finite values"):
        check_output([det])


def test_a_detection_models_list_of_dicts_is_an_output() -> None:
    output = [
        {"boxes": torch.ones(3, 4), "scores": torch.ones(3), "labels": torch.ones(3).long()},
        {"boxes": torch.ones(0, 4), "scores": torch.ones(0), "labels": torch.ones(0).long()},
    ]
    assert check_output(output) == ()
    # the empty image's tensors add nothing (their mean would be NaN): 1 + 1
    assert scalar_loss(output).item() == 2.0


def test_training_loss_is_the_sum_of_floating_means() -> None:
    output = Pair(torch.full((4, 5), 3.0), {"aux": torch.arange(4.0), "ids": torch.ones(2).long()})
    assert scalar_loss(output).item() == 3.0 + 1.5
    with pytest.raises(TypeError, match="no non-empty floating-point tensor"):
        scalar_loss({"ids": torch.ones(2).long(), "cache": object()})


def test_compare_outputs_says_where_and_how_much() -> None:
    a = {"x": torch.ones(3), "y": (torch.arange(3),)}
    assert compare_outputs(a, {"x": torch.ones(3), "y": (torch.arange(3),)}) is None
    assert compare_outputs(a, {"x": torch.tensor([1.0, 1.5, 1.0]), "y": (torch.arange(3),)}) == (
        "output['x']: differs by up to 0.5"
    )
    assert compare_outputs(a, {"x": torch.ones(3), "y": (torch.zeros(3).long(),)}) == (
        "output['y'][0]: 2 of 3 values differ"
    )
    assert compare_outputs(a, {"x": torch.ones(2), "y": (torch.arange(3),)}) == (
        "output['x']: (3,) torch.float32 vs (2,) torch.float32"
    )
    assert compare_outputs(a, [torch.ones(3)]) == "different output structure (2 vs 1 tensors)"


def test_a_transformers_output_with_a_kv_cache() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=16, n_positions=8)
    torch.manual_seed(0)
    model = transformers.GPT2Model(config).eval()
    output = model(torch.arange(6).reshape(1, 6))
    assert isinstance(output, transformers.utils.ModelOutput)

    # The cache's key and class are transformers' names (renamed between releases), and older
    # releases return it as tuples of tensors (nothing to note), so take them from the output at
    # hand: every top-level value that holds something other than tensors, e.g. a cache object.
    def tensors_only(value: object) -> bool:
        if isinstance(value, tuple | list):
            return all(tensors_only(v) for v in value)
        return isinstance(value, torch.Tensor)

    non_tensors = [(key, v) for key, v in output.items() if not tensors_only(v)]
    notes = check_output(output)
    listed = ", ".join(f"output[{key!r}] ({type(v).__name__})" for key, v in non_tensors)
    prefix = "output: non-tensor parts ignored (not checked, not in the training loss): "
    assert notes == ((prefix + listed,) if non_tensors else ())
    model.train()
    loss = scalar_loss(model(torch.arange(6).reshape(1, 6)))
    loss.backward()
    assert model.get_input_embeddings().weight.grad is not None  # `wte` in GPT-2 today


def run(capsys, suite: Path, tmp_path: Path, *extra: str) -> Path:
    code = main(["run", str(suite), "--out", str(tmp_path / "r"), "--quick", *extra])
    out = capsys.readouterr().out.strip()
    assert code in (0, 1)
    return Path(out)


def test_a_model_returning_a_cache_object_is_an_ok_row_with_a_note(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(suite_text(model_entry("cache", ":cache_output")))
    run_dir = run(capsys, suite, tmp_path, "--metrics", "latency")
    (row,) = read_rows(run_dir)
    assert (row["status"], row["error"]) == ("ok", "")
    (entry,) = read_record(run_dir)["cases"]
    assert (
        "output: non-tensor parts ignored (not checked, not in the training loss): "
        "output['past'] (KVCache), output['n'] (int), output['extra'] (NoneType)"
    ) in entry["notes"]


def test_compare_inplace_rows_record_whether_outputs_match(
    write_suite, tmp_path: Path, capsys
) -> None:
    suite = write_suite(
        suite_text(
            model_entry("cnn", "bench.zoo:cifar10_net", "[3, 32, 32]", compare_inplace="true"),
            model_entry("hazard", ":inplace_hazard", compare_inplace="true"),
        )
    )
    run_dir = run(capsys, suite, tmp_path, "--metrics", "latency,memory")
    rows = {(r["model"], r["variant"]): r for r in read_rows(run_dir)}
    assert {key: (r["status"], r["matches_reference"]) for key, r in rows.items()} == {
        ("cnn", "in_place"): ("ok", "true"),
        ("cnn", "out_of_place"): ("ok", ""),  # the reference itself
        ("hazard", "in_place"): ("ok", "false"),
        ("hazard", "out_of_place"): ("ok", ""),
    }
    notes = {(c["model"], c["variant"]): c["notes"] for c in read_record(run_dir)["cases"]}
    (differs,) = [n for n in notes[("hazard", "in_place")] if n.startswith("in-place build")]
    assert differs.startswith(
        "in-place build differs from the out-of-place build: output: differs by up to "
    )
    assert not any(n.startswith("in-place build") for n in notes[("cnn", "in_place")])
    report = (run_dir / "report.md").read_text()
    assert "outputs equal the out-of-place build's: yes" in report
    assert "outputs equal the out-of-place build's: NO" in report
    # the report rebuilt from run.json keeps the cell
    assert main(["report", str(run_dir)]) == 0
    assert "outputs equal the out-of-place build's: NO" in (run_dir / "report.md").read_text()


def test_the_hazard_really_differs_in_place() -> None:
    """The fixture above is a true in-place bug, not an artefact of the comparison."""
    from bench.model.factory import set_inplace
    from tests.failing_models import inplace_hazard

    torch.manual_seed(0)
    model = inplace_hazard()
    x = torch.randn(2, 4)
    out_of_place = model(x)
    set_inplace(model, True)
    assert not torch.equal(model(x), out_of_place)
    assert isinstance(model.act, nn.ReLU)
