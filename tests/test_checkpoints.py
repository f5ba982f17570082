"""Checkpoints: weights_only loading into the factory's model, every accepted layout, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from bench.cli import main
from bench.errors import SuiteError
from bench.model.checkpoints import CheckpointError, load_checkpoint
from bench.model.factory import build_model
from bench.store import read_record
from bench.suite.load import expand, load_suite
from tests.robust_helpers import model_entry, read_rows, suite_text


def trained_linear() -> nn.Linear:
    torch.manual_seed(7)
    return nn.Linear(4, 3)


def fresh_linear() -> nn.Linear:
    torch.manual_seed(99)
    return nn.Linear(4, 3)


def save(tmp_path: Path, obj: object, name: str = "ckpt.pt") -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def assert_loaded(model: nn.Module) -> None:
    expected = trained_linear()
    assert torch.equal(model.weight, expected.weight)
    assert torch.equal(model.bias, expected.bias)


STATE = trained_linear().state_dict()


@pytest.mark.parametrize(
    "layout",
    [
        STATE,
        {"state_dict": STATE, "epoch": 3},
        {"model_state_dict": STATE, "optimizer_state_dict": {}},
        {f"module.{k}": v for k, v in STATE.items()},
        {"state_dict": {f"module.{k}": v for k, v in STATE.items()}},
    ],
    ids=["plain", "state_dict-wrapper", "model_state_dict-wrapper", "dataparallel", "both"],
)
def test_accepted_layouts_load_the_weights(tmp_path: Path, layout: dict) -> None:
    model = fresh_linear()
    assert not torch.equal(model.weight, trained_linear().weight)
    load_checkpoint(model, save(tmp_path, layout), trust=False)
    assert_loaded(model)


def test_missing_keys_are_an_error_naming_them(tmp_path: Path) -> None:
    partial = {"weight": STATE["weight"]}
    with pytest.raises(CheckpointError, match=r"lacks 1 of the model's 2 tensors \(bias\)"):
        load_checkpoint(fresh_linear(), save(tmp_path, partial), trust=False)


def test_unexpected_keys_are_a_warning(tmp_path: Path) -> None:
    extra = {**STATE, "head.weight": torch.zeros(2), "head.bias": torch.zeros(2)}
    model = fresh_linear()
    with pytest.warns(UserWarning, match=r"2 key\(s\) the model does not use.*head\.weight"):
        load_checkpoint(model, save(tmp_path, extra), trust=False)
    assert_loaded(model)


def test_pickled_module_is_refused_unless_trusted(tmp_path: Path) -> None:
    path = save(tmp_path, trained_linear())
    with pytest.raises(CheckpointError, match=r"holds pickled objects.*trust_checkpoint = true"):
        load_checkpoint(fresh_linear(), path, trust=False)
    model = fresh_linear()
    load_checkpoint(model, path, trust=True)
    assert_loaded(model)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a checkpoint at all", "is not a file written by torch.save"),
        (b"", "is empty"),
        (None, "holds a list, not a state_dict"),
        ({"lr": 0.1}, "holds no tensors"),
    ],
)
def test_unusable_files_are_errors(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save([1, 2] if content is None else content, path)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(fresh_linear(), path, trust=False)


LINEAR_KW = "{ in_features = 4, out_features = 3 }"


def test_suite_checkpoint_is_relative_to_the_suite_file_and_loaded(write_suite, tmp_path) -> None:
    (tmp_path / "weights").mkdir()
    save(tmp_path / "weights", {"state_dict": STATE})
    path = write_suite(
        suite_text(
            model_entry("lin", "torch.nn:Linear", kwargs=LINEAR_KW, checkpoint='"weights/ckpt.pt"')
        )
    )
    (case,) = expand(load_suite(path))
    assert case.model.checkpoint == (tmp_path / "weights" / "ckpt.pt").resolve()
    assert case.model.trust_checkpoint is False
    assert_loaded(build_model(case))


@pytest.mark.parametrize(
    ("extra", "entry", "problem"),
    [
        ({"checkpoint": '"absent.pt"'}, "models[0] (lin) checkpoint", "absent.pt' not found"),
        ({"checkpoint": "3"}, "models[0] (lin) checkpoint", "non-empty string"),
        (
            {"checkpoint": '"ckpt.pt"', "trust_checkpoint": '"yes"'},
            "models[0] (lin) trust_checkpoint",
            "true or false",
        ),
        (
            {"trust_checkpoint": "true"},
            "models[0] (lin) trust_checkpoint",
            "without a 'checkpoint'",
        ),
    ],
)
def test_checkpoint_keys_are_validated_at_load(
    write_suite, tmp_path: Path, extra: dict, entry: str, problem: str
) -> None:
    save(tmp_path, STATE)
    path = write_suite(suite_text(model_entry("lin", "torch.nn:Linear", kwargs=LINEAR_KW, **extra)))
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    assert str(caught.value).startswith(f"{path}: {entry}: ")
    assert problem in str(caught.value)


def test_missing_checkpoint_is_exit_2_and_writes_nothing(write_suite, tmp_path, capsys) -> None:
    path = write_suite(
        suite_text(model_entry("lin", "torch.nn:Linear", kwargs=LINEAR_KW, checkpoint='"no.pt"'))
    )
    assert main(["run", str(path), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith(f"error: {path}: models[0] (lin) checkpoint: file ") and err.count("\n") == 1
    )
    assert not (tmp_path / "r").exists()


def test_run_rows_for_each_checkpoint_outcome(write_suite, tmp_path: Path, capsys) -> None:
    save(tmp_path, STATE, "good.pt")
    save(tmp_path, {"weight": STATE["weight"]}, "partial.pt")
    save(tmp_path, {**STATE, "extra": torch.ones(1)}, "extra.pt")
    save(tmp_path, trained_linear(), "module.pt")

    def entry(name: str, file: str, **more: str) -> str:
        return model_entry(
            name, "torch.nn:Linear", kwargs=LINEAR_KW, checkpoint=f'"{file}"', **more
        )

    path = write_suite(
        suite_text(
            entry("good", "good.pt"),
            entry("partial", "partial.pt"),
            entry("extra", "extra.pt"),
            entry("module", "module.pt"),
            entry("trusted", "module.pt", trust_checkpoint="true"),
        )
    )
    code = main(["run", str(path), "--out", str(tmp_path / "r"), "--metrics", "params"])
    assert code == 1
    run_dir = Path(capsys.readouterr().out.strip())
    rows = {r["model"]: r for r in read_rows(run_dir)}
    assert {m: r["status"] for m, r in rows.items()} == {
        "good": "ok",
        "partial": "error",
        "extra": "ok",
        "module": "error",
        "trusted": "ok",
    }
    assert "lacks 1 of the model's 2 tensors (bias)" in rows["partial"]["error"]
    assert "trust_checkpoint = true" in rows["module"]["error"]
    notes = {c["model"]: c["notes"] for c in read_record(run_dir)["cases"]}
    assert any("1 key(s) the model does not use, ignored: extra" in n for n in notes["extra"])
