# ruff: noqa: E501  (the corpus is a table: one broken input per line reads best)
"""Bad input, end to end: every broken suite gives exit 2, one line naming file and entry, and
nothing written under --out.

The corpus is tests/test_suite.py's BROKEN table (run here through the CLI instead of
load_suite) plus MORE below, which adds inputs that need companion files (factory modules that
fail to import, checkpoints) or raw bytes. `test_corpus_size` pins how many entries there are.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main
from tests.test_suite import BROKEN, HEADER, MODEL

M = '[[models]]\nname = "m"\ninput_shape = [4]\n'  # a model entry still missing its factory


def factory_model(factory: str) -> str:
    return HEADER + M + f'factory = "{factory}"\n'


# name: (suite text or bytes, {companion file: content}, expected entry, expected problem)
MORE: dict[str, tuple[str | bytes, dict[str, str], str, str]] = {
    "binary junk": (bytes(range(256)), {}, "file", "not UTF-8"),
    "nul bytes in text": (HEADER + "\x00\x00" + MODEL, {}, "file", "invalid TOML"),
    "utf-16 text": ((HEADER + MODEL).encode("utf-16"), {}, "file", "not UTF-8"),
    "empty file": ("", {}, "[suite]", "missing table"),
    "duplicate toml key": (HEADER + 'name = "t"\n' + MODEL, {}, "file", "invalid TOML"),
    "suite is a string": ('suite = "s"\n' + MODEL, {}, "[suite]", "missing table"),
    "suite is an array": ('[[suite]]\nname = "s"\n' + MODEL, {}, "[suite]", "missing table"),
    "suite name empty": ('[suite]\nname = ""\n' + MODEL, {}, "[suite] name", "non-empty"),
    "suite name blank": ('[suite]\nname = "  "\n' + MODEL, {}, "[suite] name", "non-empty"),
    "suite name table": ("[suite]\nname = {a = 1}\n" + MODEL, {}, "[suite] name", "non-empty"),
    "models a table": (HEADER + '[models]\nname = "m"\n', {}, "[[models]]", "at least one"),
    "models of ints": ("models = [1, 2]\n" + HEADER, {}, "models[0]", "must be a table"),
    "models empty list": ("models = []\n" + HEADER, {}, "[[models]]", "at least one"),
    "batch not a list": (HEADER + "batch_sizes = 4\n" + MODEL, {}, "[suite] batch_sizes", "list"),
    "batch empty": (HEADER + "batch_sizes = []\n" + MODEL, {}, "[suite] batch_sizes", "non-empty"),
    "batch negative": (HEADER + "batch_sizes = [-2]\n" + MODEL, {}, "[suite] batch_sizes", "positive"),
    "batch string": (HEADER + 'batch_sizes = ["8"]\n' + MODEL, {}, "[suite] batch_sizes", "integers"),
    "shape string": (HEADER + M.replace("[4]", '"3,224"') + 'factory = "torch.nn:Identity"\n', {}, "models[0] (m) input_shape", "positive integers"),
    "shape nested": (HEADER + M.replace("[4]", "[[3]]") + 'factory = "torch.nn:Identity"\n', {}, "models[0] (m) input_shape", "positive integers"),
    "shape exponent float": (HEADER + M.replace("[4]", "[1e3]") + 'factory = "torch.nn:Identity"\n', {}, "models[0] (m) input_shape", "positive integers"),
    "shape inf": (HEADER + M.replace("[4]", "[inf]") + 'factory = "torch.nn:Identity"\n', {}, "models[0] (m) input_shape", "positive integers"),
    "dtype duplicate": (HEADER + 'dtypes = ["float32", "float32"]\n' + MODEL, {}, "[suite] dtypes", "repeats"),
    "dtype int": (HEADER + "dtypes = [32]\n" + MODEL, {}, "[suite] dtypes", "list of strings"),
    "dtype torch prefix": (HEADER + 'dtypes = ["torch.float32"]\n' + MODEL, {}, "[suite] dtypes", "allowed: float32"),
    "device uppercase": (HEADER + 'devices = ["CUDA"]\n' + MODEL, {}, "[suite] devices", "allowed"),
    "device no index": (HEADER + 'devices = ["cuda:"]\n' + MODEL, {}, "[suite] devices", "allowed"),
    "device negative": (HEADER + 'devices = ["cuda:-1"]\n' + MODEL, {}, "[suite] devices", "allowed"),
    "device huge index": (HEADER + 'devices = ["cuda:99999999999999999999"]\n' + MODEL, {}, "[suite] devices", "allowed"),
    "mode duplicate": (HEADER + 'modes = ["eval", "eval"]\n' + MODEL, {}, "[suite] modes", "repeats"),
    "modes empty": (HEADER + MODEL + "modes = []\n", {}, "models[0] (m) modes", "non-empty"),
    "kwargs a list": (HEADER + MODEL + "kwargs = [1]\n", {}, "models[0] (m) kwargs", "table"),
    "name with newline": (HEADER + MODEL.replace('"m"', '"a\\nb"') + "extra = 1\n", {}, "models[0] (a\\nb)", "unknown key 'extra'"),
    "model name newline": (HEADER + (MODEL.replace('"m"', '"x\\ny"')) * 2, {}, "models[0] (x\\ny) name", "'x\\ny' contains a control character"),
    "suite name tab": ('[suite]\nname = "a\\tb"\n' + MODEL, {}, "[suite] name", "control character"),
    "factory empty": (factory_model(""), {}, "models[0] (m) factory", "non-empty string"),
    "factory colon only": (factory_model(":"), {}, "models[0] (m) factory", "not of the form"),
    "factory no attr": (factory_model("torch.nn:"), {}, "models[0] (m) factory", "not of the form"),
    "factory relative import": (factory_model("..:x"), {}, "models[0] (m) factory", "cannot import"),
    "factory instance attr": (factory_model("torch.nn:Linear.weight"), {}, "models[0] (m) factory", "no attribute"),
    "factory file syntax error": (factory_model("bad.py:f"), {"bad.py": "def f(:\n"}, "models[0] (m) factory", "SyntaxError"),
    "factory file raises": (factory_model("boom.py:f"), {"boom.py": "raise RuntimeError('no\\nway')\n"}, "models[0] (m) factory", "RuntimeError: no\\nway"),
    "factory file sys.exit": (factory_model("quit.py:f"), {"quit.py": "import sys\nsys.exit(3)\n"}, "models[0] (m) factory", "SystemExit: 3"),
    # a module that hangs at import time hung `bench run` before any case: the suite's timeout
    "factory file hangs at import": (factory_model("slow.py:f").replace("[suite]", '[suite]\ntimeout = "1s"', 1), {"slow.py": "import time\ntime.sleep(60)\n"}, "models[0] (m) factory", "did not finish within 1 s"),
    "factory file bad import": (factory_model("imp.py:f"), {"imp.py": "import no_such_module_q\n"}, "models[0] (m) factory", "ModuleNotFoundError"),
    "factory file is a dir": (factory_model("pkg.py:f"), {"pkg.py/x": ""}, "models[0] (m) factory", "not found"),
    "factory file attr missing": (factory_model("ok.py:g"), {"ok.py": "def f():\n    pass\n"}, "models[0] (m) factory", "no attribute 'g'"),
    "factory file not callable": (factory_model("ok.py:f"), {"ok.py": "f = 3\n"}, "models[0] (m) factory", "names int, not a callable"),
    "checkpoint missing": (HEADER + MODEL + 'checkpoint = "w.pt"\n', {}, "models[0] (m) checkpoint", "not found"),
    "checkpoint not string": (HEADER + MODEL + "checkpoint = 1\n", {}, "models[0] (m) checkpoint", "non-empty string"),
    "checkpoint a dir": (HEADER + MODEL + 'checkpoint = "d"\n', {"d/x": ""}, "models[0] (m) checkpoint", "not found"),
    "trust not bool": (HEADER + MODEL + 'checkpoint = "w.pt"\ntrust_checkpoint = 1\n', {"w.pt": ""}, "models[0] (m) trust_checkpoint", "true or false"),
    "trust alone": (HEADER + MODEL + "trust_checkpoint = false\n", {}, "models[0] (m) trust_checkpoint", "without a 'checkpoint'"),
}  # fmt: skip

CORPUS = {**{f"BROKEN {k}": (text, {}, entry, problem) for k, (text, entry, problem) in BROKEN.items()}, **MORE}  # fmt: skip


def write_case(tmp_path: Path, name: str) -> tuple[Path, str, str]:
    text, files, entry, problem = CORPUS[name]
    for relative, content in files.items():
        file = tmp_path / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(content)
    path = tmp_path / "suite.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path, entry, problem


def test_corpus_size() -> None:
    assert (len(BROKEN), len(MORE), len(CORPUS)) == (29, 52, 81)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_broken_suite_is_exit_2_one_line_nothing_written(tmp_path, capsys, name: str) -> None:
    path, entry, problem = write_case(tmp_path, name)
    out = tmp_path / "out"
    code = main(["run", str(path), "--out", str(out), "--quick"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"error: {path}: {entry}: "), lines[0]
    assert problem in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("name", ["binary junk", "factory file sys.exit", "name with newline"])
def test_broken_suite_through_the_real_command(tmp_path: Path, name: str) -> None:
    path, entry, problem = write_case(tmp_path, name)
    done = subprocess.run(
        [sys.executable, "-m", "bench", "run", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: {path}: {entry}: ") and done.stderr.count("\n") == 1
    assert problem in done.stderr
    assert not (tmp_path / "out").exists()
