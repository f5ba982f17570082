from pathlib import Path

import pytest

from bench.errors import SuiteError
from bench.suite.load import expand, load_suite
from tests.conftest import TINY_SUITE

HEADER = '[suite]\nname = "s"\n'
MODEL = '[[models]]\nname = "m"\nfactory = "torch.nn:Identity"\ninput_shape = [4]\n'


def test_tiny_suite_loads_with_defaults(write_suite) -> None:
    suite = load_suite(write_suite(TINY_SUITE))
    assert suite.name == "tiny"
    assert suite.devices == ("cpu",)
    assert suite.dtypes == ("float32",)
    (model,) = suite.models
    assert model.factory == "torch.nn:Linear"
    assert dict(model.kwargs) == {"in_features": 16, "out_features": 4}
    assert model.input_shape == (16,)
    assert model.batch_sizes == (1, 2)


def test_expand_is_model_x_device_x_dtype_x_batch(write_suite) -> None:
    path = write_suite(
        '[suite]\nname = "s"\ndtypes = ["float32", "float64"]\nbatch_sizes = [1, 4]\n'
        + MODEL
        + '[[models]]\nname = "n"\nfactory = "torch.nn:Identity"\ninput_shape = [2]\n'
        + "batch_sizes = [8]\n"
    )
    cases = expand(load_suite(path))
    assert [(c.model.name, c.dtype, c.batch_size) for c in cases] == [
        ("m", "float32", 1),
        ("m", "float32", 4),
        ("m", "float64", 1),
        ("m", "float64", 4),
        ("n", "float32", 8),
        ("n", "float64", 8),
    ]
    assert cases[1].input_shapes == ((4, 4),)
    assert all(c.base_dir == path.parent for c in cases)


BROKEN = {
    "toml syntax": ("[suite\nname=1", "file", "invalid TOML"),
    "no suite table": (MODEL, "[suite]", "missing table"),
    "suite name missing": ("[suite]\n" + MODEL, "[suite]", "missing 'name'"),
    "suite name not string": ("[suite]\nname = 3\n" + MODEL, "[suite] name", "non-empty string"),
    "unknown suite key": (HEADER + "device = ['cpu']\n" + MODEL, "[suite]", "unknown key 'device'"),
    "unknown top key": ("extra = 1\n" + HEADER + MODEL, "top level", "unknown key 'extra'"),
    "bad device": (HEADER + 'devices = ["tpu"]\n' + MODEL, "[suite] devices", "'tpu'"),
    "devices empty": (HEADER + "devices = []\n" + MODEL, "[suite] devices", "non-empty list"),
    "bad dtype": (HEADER + 'dtypes = ["float8"]\n' + MODEL, "[suite] dtypes", "float32"),
    "dtype not list": (HEADER + 'dtypes = "float32"\n' + MODEL, "[suite] dtypes", "list"),
    "zero batch": (HEADER + "batch_sizes = [0]\n" + MODEL, "[suite] batch_sizes", "positive"),
    "float batch": (HEADER + "batch_sizes = [1.5]\n" + MODEL, "[suite] batch_sizes", "integers"),
    "bool batch": (HEADER + "batch_sizes = [true]\n" + MODEL, "[suite] batch_sizes", "integers"),
    "duplicate batch": (
        HEADER + MODEL + "batch_sizes = [2, 2]\n",
        "models[0] (m) batch_sizes",
        "repeats",
    ),
    "no models": (HEADER, "[[models]]", "at least one"),
    "model unknown key": (HEADER + MODEL + "weights = 'x'\n", "models[0] (m)", "'weights'"),
    "model name missing": (
        HEADER + '[[models]]\nfactory = "torch.nn:Identity"\ninput_shape = [4]\n',
        "models[0]",
        "missing 'name'",
    ),
    "duplicate names": (HEADER + MODEL + MODEL, "models[1] (m)", "duplicate model name"),
    "shape missing": (
        HEADER + '[[models]]\nname = "m"\nfactory = "torch.nn:Identity"\n',
        "models[0] (m)",
        "input_shape",
    ),
    "shape float": (
        HEADER + '[[models]]\nname = "m"\nfactory = "torch.nn:Identity"\ninput_shape = [3.0]\n',
        "models[0] (m) input_shape",
        "positive integers",
    ),
    "shape empty": (
        HEADER + '[[models]]\nname = "m"\nfactory = "torch.nn:Identity"\ninput_shape = []\n',
        "models[0] (m) input_shape",
        "non-empty",
    ),
    "kwargs not table": (HEADER + MODEL + "kwargs = 3\n", "models[0] (m) kwargs", "table"),
    "factory no colon": (
        HEADER + '[[models]]\nname = "m"\nfactory = "torchvision.models.resnet18"\n'
        "input_shape = [4]\n",
        "models[0] (m) factory",
        "module:callable",
    ),
    "factory module missing": (
        HEADER + '[[models]]\nname = "m"\nfactory = "no_such_pkg_xyz:f"\ninput_shape = [4]\n',
        "models[0] (m) factory",
        "cannot import",
    ),
    "factory attribute missing": (
        HEADER + '[[models]]\nname = "m"\nfactory = "torch.nn:NoSuch"\ninput_shape = [4]\n',
        "models[0] (m) factory",
        "no attribute",
    ),
    "factory not callable": (
        HEADER + '[[models]]\nname = "m"\nfactory = "math:pi"\ninput_shape = [4]\n',
        "models[0] (m) factory",
        "not a callable",
    ),
    "kwargs the factory does not take": (
        HEADER + '[[models]]\nname = "m"\nfactory = "bench.zoo:mlp_bn"\n'
        "kwargs = { nonsense = 3 }\ninput_shape = [1, 28, 28]\n",
        "models[0] (m) kwargs",
        "nonsense",
    ),
    "torchvision builder that does not exist": (
        HEADER + '[[models]]\nname = "m"\nfactory = "bench.zoo:torchvision_model"\n'
        'kwargs = { builder = "resnet1000" }\ninput_shape = [3, 32, 32]\n',
        "models[0] (m) kwargs",
        "torchvision has no model 'resnet1000'",
    ),
    "factory file missing": (
        HEADER + '[[models]]\nname = "m"\nfactory = "nope.py:f"\ninput_shape = [4]\n',
        "models[0] (m) factory",
        "not found",
    ),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_suite_names_file_entry_and_allowed(write_suite, name: str) -> None:
    text, entry, problem = BROKEN[name]
    path = write_suite(text)
    with pytest.raises(SuiteError) as caught:
        load_suite(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: {entry}")
    assert problem in message
    assert "\n" not in message


def test_every_entry_is_checked_before_any_factory_is_imported(write_suite, tmp_path) -> None:
    """Importing a factory's module usually imports torch (seconds): a typo in a later entry,
    or a later factory file that does not exist, is found without importing the earlier one."""
    imported = tmp_path / "imported"
    (tmp_path / "models.py").write_text(
        f"from pathlib import Path\nPath({str(imported)!r}).touch()\ndef f():\n    return 1\n"
    )
    first = '[[models]]\nname = "a"\nfactory = "models.py:f"\ninput_shape = [4]\n'
    for second, problem in (
        ('[[models]]\nname = "b"\nfactory = "models.py:f"\ninput_shap = [4]\n', "'input_shap'"),
        ('[[models]]\nname = "b"\nfactory = "gone.py:f"\ninput_shape = [4]\n', "not found"),
    ):
        with pytest.raises(SuiteError, match=problem):
            load_suite(write_suite(HEADER + first + second))
        assert not imported.exists()
    load_suite(write_suite(HEADER + first))
    assert imported.exists()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match="not found"):
        load_suite(tmp_path / "absent.toml")


def test_binary_junk_is_a_suite_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.toml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(SuiteError, match=r"junk\.toml: file"):
        load_suite(path)


def test_shipped_suites_are_valid() -> None:
    root = Path(__file__).resolve().parents[1] / "suites"
    for path in sorted(root.glob("*.toml")):
        assert expand(load_suite(path)), path


def test_modes_expand_per_model_with_suite_default(write_suite) -> None:
    path = write_suite(
        '[suite]\nname = "s"\nmodes = ["eval", "train"]\n'
        + MODEL
        + '[[models]]\nname = "n"\nfactory = "torch.nn:Identity"\ninput_shape = [2]\n'
        + 'modes = ["train"]\n'
    )
    cases = expand(load_suite(path))
    assert [(c.model.name, c.mode) for c in cases] == [
        ("m", "eval"),
        ("m", "train"),
        ("n", "train"),
    ]
    assert cases[1].label == "m cpu float32 b1 train"


def test_unknown_mode_is_refused(write_suite) -> None:
    path = write_suite(HEADER + MODEL + 'modes = ["training"]\n')
    with pytest.raises(SuiteError, match=r"models\[0\] \(m\) modes: unknown mode 'training'"):
        load_suite(path)
