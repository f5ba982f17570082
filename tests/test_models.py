from pathlib import Path

import pytest
import torch
from torch import nn

from bench.errors import FactoryError
from bench.model.factory import build_model, resolve_factory
from bench.model.inputs import make_input
from bench.records import Case, ModelSpec

USER_MODEL = """\
import torch
from torch import nn


class Doubler(nn.Module):
    def forward(self, x):
        return 2 * x


def make(scale=1):
    model = Doubler()
    model.scale = scale
    return model
"""


def _case(factory: str, base_dir: Path, **kwargs) -> Case:
    spec = ModelSpec(name="m", factory=factory, input_shape=(3,), batch_sizes=(2,), kwargs=kwargs)
    return Case(
        suite="s", model=spec, device="cpu", dtype="float64", batch_size=2, base_dir=base_dir
    )


def test_module_factory_resolves() -> None:
    assert resolve_factory("torch.nn:Identity", Path()) is nn.Identity
    assert resolve_factory("torchvision.models:resnet18", Path()).__name__ == "resnet18"


def test_path_factory_resolves_relative_to_suite_dir(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "mine.py").write_text(USER_MODEL)
    model = build_model(_case("models/mine.py:make", tmp_path, scale=3))
    assert type(model).__name__ == "Doubler"
    assert model.scale == 3  # kwargs pass through
    assert not model.training  # eval mode


def test_build_applies_dtype_and_kwargs() -> None:
    model = build_model(_case("torch.nn:Linear", Path(), in_features=3, out_features=5))
    assert model.weight.dtype == torch.float64
    assert tuple(model.weight.shape) == (5, 3)


def test_factory_returning_non_module_is_an_error() -> None:
    with pytest.raises(TypeError, match=r"not a torch\.nn\.Module"):
        build_model(_case("builtins:dict", Path()))


@pytest.mark.parametrize(
    ("factory", "problem"),
    [
        ("nocolon", "not of the form"),
        (":f", "not of the form"),
        ("torch.nn:", "not of the form"),
        ("torch.nn:Nope", "no attribute"),
        ("not_a_module_xyz:f", "cannot import"),
        ("missing.py:f", "not found"),
        ("math:pi", "not a callable"),
    ],
)
def test_bad_factories(factory: str, problem: str, tmp_path: Path) -> None:
    with pytest.raises(FactoryError, match=problem):
        resolve_factory(factory, tmp_path)


def test_file_that_fails_to_import_is_reported(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("raise RuntimeError('kaput')\n")
    with pytest.raises(FactoryError, match="RuntimeError: kaput"):
        resolve_factory("broken.py:f", tmp_path)


def test_inputs_are_seeded_and_shaped() -> None:
    case = _case("torch.nn:Identity", Path())
    (first,), (second,) = make_input(case).args, make_input(case).args
    assert tuple(first.shape) == (2, 3)
    assert first.dtype == torch.float64
    assert torch.equal(first, second)


def test_weights_are_seeded_and_the_process_random_state_is_left_alone() -> None:
    """Two builds have equal weights (a data-dependent model then does the same work on every
    run), and building draws nothing from the caller's random stream."""
    case = _case("bench.zoo:mnist_cnn", Path("."))
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = build_model(case)
    assert torch.equal(torch.rand(3), expected_next)
    second = build_model(case)
    pairs = zip(first.state_dict().items(), second.state_dict().items(), strict=True)
    assert all(na == nb and torch.equal(a, b) for (na, a), (nb, b) in pairs)
