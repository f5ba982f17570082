"""Property tests over generated suites: valid ones load as written; broken ones (mutated
valid suites, or arbitrary text and bytes) give exit 2, one line naming the file, nothing written.

Suites are generated as Python dicts and written as TOML by `to_toml` below (the standard library
reads TOML but does not write it). Budgets are small (a few hundred examples, seconds).
"""

from __future__ import annotations

import csv
import math
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bench.cli import main
from bench.errors import SuiteError
from bench.model.workload import MODES
from bench.records import COLUMNS, STATUSES
from bench.suite.fields import BIDI_CONTROLS, name_problem
from bench.suite.load import DTYPES, expand, load_suite

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the project's tests are deterministic: the same examples on every run
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# ---- a TOML writer for generated values ------------------------------------------------------


def toml_string(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        pairs = (f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + ", ".join(pairs) + " }"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any]) -> str:
    lines: list[str] = []
    for key, value in data.items():
        if key not in ("suite", "models"):
            lines.append(f"{toml_string(key)} = {toml_value(value)}")
    if "suite" in data:
        if isinstance(data["suite"], dict):
            lines.append("[suite]")
            lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in data["suite"].items()]
        else:
            lines.append(f"suite = {toml_value(data['suite'])}")
    if "models" in data:
        models = data["models"]
        if isinstance(models, list) and models and all(isinstance(m, dict) for m in models):
            for model in models:
                lines.append("[[models]]")
                lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in model.items()]
        else:
            lines.insert(0, f"models = {toml_value(models)}")
    return "\n".join(lines) + "\n"


# ---- valid suites ----------------------------------------------------------------------------

printable = st.characters(blacklist_categories=("Cc", "Cs"))  # bench refuses control characters
names = st.text(printable, min_size=1, max_size=12).filter(
    # bench refuses bidi controls too, and what no output can carry (markup, invisibles)
    lambda s: s.strip() != "" and not set(s) & BIDI_CONTROLS and name_problem(s) is None
)
small = st.integers(min_value=1, max_value=64)
FACTORIES = [
    ("torch.nn:Identity", {}),
    ("torch.nn:Linear", {"in_features": 4, "out_features": 2}),
    ("torch.nn:ReLU", {"inplace": False}),
]


def subset(options: list[str] | tuple[str, ...]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(list(options)), min_size=1, max_size=len(options), unique=True)


@st.composite
def valid_suites(draw: st.DrawFn) -> dict[str, Any]:
    suite: dict[str, Any] = {"name": draw(names)}
    for key, strategy in (
        ("devices", subset(["cpu", "cuda", "cuda:1"])),
        ("dtypes", subset(DTYPES)),
        ("batch_sizes", st.lists(small, min_size=1, max_size=3, unique=True)),
        ("modes", subset(MODES)),
    ):
        if draw(st.booleans()):
            suite[key] = draw(strategy)
    model_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    models = []
    for name in model_names:
        factory, kwargs = draw(st.sampled_from(FACTORIES))
        model: dict[str, Any] = {
            "name": name,
            "factory": factory,
            "input_shape": draw(st.lists(small, min_size=1, max_size=3)),
        }
        if kwargs:
            model["kwargs"] = kwargs
        if draw(st.booleans()):
            model["batch_sizes"] = draw(st.lists(small, min_size=1, max_size=3, unique=True))
        if draw(st.booleans()):
            model["modes"] = draw(subset(MODES))
        models.append(model)
    return {"suite": suite, "models": models}


def write(directory: Path, content: str | bytes) -> Path:
    path = directory / "suite.toml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


@SETTINGS
@given(valid_suites())
def test_generated_valid_suites_load_as_written(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        suite = load_suite(write(Path(directory), to_toml(data)))
    header = data["suite"]
    assert suite.name == header["name"]
    assert suite.devices == tuple(header.get("devices", ["cpu"]))
    assert [m.name for m in suite.models] == [m["name"] for m in data["models"]]
    expected = 0
    for model, spec in zip(data["models"], suite.models, strict=True):
        batches = model.get("batch_sizes", header.get("batch_sizes", [1]))
        modes = model.get("modes", header.get("modes", ["eval"]))
        assert spec.batch_sizes == tuple(batches) and spec.input_shape == tuple(
            model["input_shape"]
        )
        expected += len(batches) * len(modes)
    expected *= len(suite.devices) * len(suite.dtypes)
    assert len(expand(suite)) == expected


# ---- mutated suites --------------------------------------------------------------------------

WRONG_VALUES = st.one_of(
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=8),
    st.just([]),
    st.lists(st.floats(allow_nan=False, min_value=-5, max_value=5), min_size=1, max_size=2),
    st.lists(st.text(max_size=5), min_size=1, max_size=2),
    st.just({"a": 1}),
    st.just([[1]]),
)
SUITE_FIELDS = ["name", "devices", "dtypes", "batch_sizes", "modes"]
MODEL_FIELDS = ["name", "factory", "kwargs", "input_shape", "batch_sizes", "modes", "checkpoint"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """A valid suite with one or two random breakages; returns it and what was done."""
    data = draw(valid_suites())
    done = []
    for _ in range(draw(st.integers(min_value=1, max_value=2))):
        kind = draw(
            st.sampled_from(
                ["drop", "wrong", "unknown", "duplicate", "bad-name", "models", "suite"]
            )
        )
        models = data["models"]
        is_tables = isinstance(models, list) and models and all(isinstance(m, dict) for m in models)
        model = draw(st.sampled_from(models)) if is_tables else {}
        header = data["suite"] if isinstance(data["suite"], dict) else {}
        if kind == "drop":
            required = [
                (header, "name"),
                (model, "name"),
                (model, "factory"),
                (model, "input_shape"),
            ]
            table, field = draw(st.sampled_from(required))
            table.pop(field, None)
        elif kind == "wrong":
            table, fields = draw(st.sampled_from([(header, SUITE_FIELDS), (model, MODEL_FIELDS)]))
            table[draw(st.sampled_from(fields))] = draw(WRONG_VALUES)
        elif kind == "unknown":
            table = draw(st.sampled_from([data, header, model]))
            key = draw(st.text(min_size=1, max_size=6))
            if table is not data or key not in ("suite", "models"):
                table[key] = draw(WRONG_VALUES)
        elif kind == "duplicate" and is_tables:
            models.append(dict(model))
        elif kind == "bad-name":
            header[draw(st.sampled_from(["devices", "dtypes", "modes"]))] = [
                draw(st.text(max_size=10))
            ]
        elif kind == "models":
            data["models"] = draw(st.sampled_from([[], [1], "m", {"name": "x"}]))
        elif kind == "suite":
            data["suite"] = draw(st.sampled_from([[], "s", 3]))
        done.append(kind)
    return data, "+".join(done)


def run_cli(path: Path, out: Path) -> tuple[int, str, str]:
    stdout, stderr = StringIO(), StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = main(["run", str(path), "--out", str(out), "--quick"])
    return code, stdout.getvalue(), stderr.getvalue()


def assert_rejected_cleanly(path: Path, out: Path) -> None:
    code, stdout, stderr = run_cli(path, out)
    assert code == 2, (code, stderr)
    assert stdout == ""
    assert stderr.startswith(f"error: {path}: ") and stderr.count("\n") == 1, stderr
    assert not out.exists()


def load_or_suite_error(path: Path) -> SuiteError | None:
    """The loader's only allowed outcomes: a suite, or a one-line SuiteError naming the file."""
    try:
        load_suite(path)
    except SuiteError as exc:
        assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        event(f"rejected at {exc.entry.split(' ')[0].split('[')[0] or exc.entry}")
        return exc
    event("loaded as valid")
    return None


@SETTINGS
@given(mutated())
def test_mutated_suites_are_valid_or_rejected_in_one_line(case: tuple[dict[str, Any], str]) -> None:
    data, _ = case
    try:
        text = to_toml(data)
    except TypeError:
        return
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), text)
        if load_or_suite_error(path) is not None:
            assert_rejected_cleanly(path, Path(directory) / "out")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_arbitrary_bytes_and_text_never_escape_as_another_error(content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), content)
        if load_or_suite_error(path) is not None:
            assert_rejected_cleanly(path, Path(directory) / "out")


@settings(max_examples=12, deadline=None, derandomize=True)
@given(valid_suites())
def test_generated_valid_suites_run_end_to_end(data: dict[str, Any]) -> None:
    """Whatever the names and axes, a valid suite runs: one complete row per case, exit 0 or 1
    (a Linear fed a shape it cannot take is an error row), stderr one line per case."""
    for model in data["models"]:
        model["input_shape"] = [min(d, 6) for d in model["input_shape"]]
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), to_toml(data))
        cases = expand(load_suite(path))
        out = Path(directory) / "out"
        stdout, stderr = StringIO(), StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = main(["run", str(path), "--out", str(out), "--metrics", "params"])
        assert code in (0, 1)
        run_dir = Path(stdout.getvalue().strip())
        assert run_dir.parent == out
        lines = (run_dir / "results.csv").read_text().splitlines()
        assert len(lines) == 1 + len(cases)
        rows = list(csv.DictReader(lines))
        assert all(r["status"] in STATUSES and None not in r for r in rows)
        assert [r["model"] for r in rows] == [c.model.name for c in cases]
        assert len(stderr.getvalue().splitlines()) == len(cases)
        assert "Traceback" not in stderr.getvalue()
        assert set(rows[0]) == set(COLUMNS)
