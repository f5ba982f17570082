"""Verbs that do not measure never import torch: importing it costs 7-25 s on a small machine.

Each verb runs through `bench.cli.main` in a fresh interpreter, which then says whether torch
(or torchvision, or pandas) is loaded. A bad suite is refused before anything heavy is imported;
`compare`, `report` and `merge` read stored runs with NumPy, SciPy and matplotlib only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.measure.case import RunOptions
from bench.measure.timing.engine import QUICK_POLICY
from bench.pipeline import run_suite
from bench.shard import Shard

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "torchvision", "pandas")

# Each verb in turn, in one fresh process; after each, which heavy modules are loaded. What the
# interpreter loaded before bench was imported (a sitecustomize, a .pth) is reported apart, so
# it is never blamed on a verb.
SCRIPT = """\
import json, sys
heavy = {heavy!r}
preloaded = [m for m in heavy if m in sys.modules]
from bench.cli import main
seen = []
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    seen.append({{"verb": argv[0], "code": code, "heavy": [m for m in heavy if m in sys.modules]}})
with open(sys.argv[2], "w", encoding="utf-8") as out:
    json.dump({{"preloaded": preloaded, "seen": seen}}, out)
"""

# One model timed and one experiment, so the stored runs hold both kinds of row: reading,
# comparing, reporting (with plots) and merging each of them must stay torch-free.
SUITE = """\
[suite]
name = "light"

[[models]]
name = "lin"
factory = "torch.nn:Linear"
kwargs = { in_features = 16, out_features = 4 }
input_shape = [16]

[[experiments]]
name = "relu-only"
kind = "inplace"
families = ["relu"]
sizes = [1000]
"""
OPTIONS = RunOptions(
    metrics=frozenset({"params", "latency"}),
    timing=QUICK_POLICY,
    experiment_timing=QUICK_POLICY,
    crosscheck=False,
)


def in_fresh_process(tmp_path: Path, *argvs: list[str]) -> tuple[list[dict], str]:
    """Run the verbs one after another in a new interpreter: what each returned and loaded,
    and the process's stderr."""
    result = tmp_path / "seen.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY), json.dumps(argvs), str(result)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(result.read_text(encoding="utf-8"))
    if report["preloaded"]:
        pytest.skip(f"this interpreter loads {report['preloaded']} before any bench code runs")
    return report["seen"], done.stderr


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two whole runs of the suite and its two shards (quick timing: seconds)."""
    root = tmp_path_factory.mktemp("light")
    suite = root / "suite.toml"
    suite.write_text(SUITE, encoding="utf-8")
    runs = {f"whole{n}": run_suite(suite, root / "runs", OPTIONS).run_dir for n in (1, 2)}
    for k in (1, 2):
        runs[f"shard{k}"] = run_suite(suite, root / "shards", OPTIONS, shard=Shard(k, 2)).run_dir
    return runs


def test_a_bad_suite_is_one_line_and_exit_2_before_torch_is_imported(tmp_path: Path) -> None:
    suite = tmp_path / "bad.toml"
    typo = SUITE.replace("input_shape", "input_shap")
    suite.write_text(typo, encoding="utf-8")
    seen, stderr = in_fresh_process(
        tmp_path,
        ["run", str(suite), "--out", str(tmp_path)],
        ["profile", str(suite), "--out", str(tmp_path)],
        ["submit", str(suite), "--shards", "2", "--executor", "local", "--out", str(tmp_path)],
    )
    assert seen == [{"verb": verb, "code": 2, "heavy": []} for verb in ("run", "profile", "submit")]
    error = f"error: {suite}: models[0] (lin): unknown key 'input_shap'; allowed: "
    assert [line[: len(error)] for line in stderr.splitlines()] == [error] * 3
    assert not list(tmp_path.glob("*light*"))  # and no run directory was made


def test_compare_report_and_merge_never_import_torch(stored: dict[str, Path], tmp_path) -> None:
    merged = tmp_path / "merged"
    seen, stderr = in_fresh_process(
        tmp_path,
        ["compare", str(stored["whole1"]), str(stored["whole2"])],
        ["report", str(stored["whole1"])],
        ["merge", str(stored["shard1"]), str(stored["shard2"]), "--out", str(merged)],
    )
    assert seen == [
        {"verb": "compare", "code": 0, "heavy": []},
        {"verb": "report", "code": 0, "heavy": []},
        {"verb": "merge", "code": 0, "heavy": []},
    ], stderr
    # the work was done, not skipped: the report drew its plots, the merge made its run
    assert list((stored["whole1"] / "plots").glob("experiment-*.png"))
    (merged_run,) = [p for p in merged.iterdir() if p.is_dir()]
    assert (merged_run / "report.md").is_file()
