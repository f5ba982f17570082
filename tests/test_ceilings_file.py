"""`bench run --ceilings DOCTOR_JSON`: peak_fraction against each device's own matmul ceiling."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.cli import main
from bench.errors import BenchError
from bench.measure.ceilings import ceiling_for, read_matmul_ceilings
from tests.conftest import TINY_SUITE

DOCTOR = {
    "ceilings": [
        {"name": "matmul", "device": "cpu", "unit": "GFLOP/s", "value": 200.0},
        {"name": "copy", "device": "cpu", "unit": "GB/s", "value": 30.0},
    ],
    "cuda": [
        {
            "device": "cuda:0",
            "ceilings": [{"name": "matmul", "device": "cuda:0", "unit": "GFLOP/s", "value": 5e4}],
        }
    ],
}


def test_reads_matmul_ceilings_per_device(tmp_path: Path) -> None:
    path = tmp_path / "doctor.json"
    path.write_text(json.dumps(DOCTOR))
    ceilings = read_matmul_ceilings(path)
    assert ceilings == {"cpu": 200.0, "cuda:0": 5e4}
    assert ceiling_for(ceilings, "cuda") == 5e4  # a bare "cuda" is device 0
    assert ceiling_for(ceilings, "cuda:1") is None


@pytest.mark.parametrize("text", ["not json", "{}", '{"ceilings": [{"name": "copy"}]}'])
def test_bad_doctor_file_is_a_clear_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "doctor.json"
    path.write_text(text)
    with pytest.raises(BenchError, match="doctor"):
        read_matmul_ceilings(path)


def test_an_endless_file_is_refused_after_a_doctor_files_size() -> None:
    """`--ceilings /dev/zero` read until memory ran out."""
    with pytest.raises(BenchError, match="not a bench doctor JSON"):
        read_matmul_ceilings(Path("/dev/zero"))


def test_run_fills_peak_fraction_from_the_doctor_file(write_suite, tmp_path, capsys) -> None:
    doctor = tmp_path / "doctor.json"
    doctor.write_text(json.dumps(DOCTOR))
    suite = write_suite(TINY_SUITE)
    code = main(
        ["run", str(suite), "--out", str(tmp_path / "r"), "--quick", "--ceilings", str(doctor)]
    )
    assert code == 0
    run_dir = Path(capsys.readouterr().out.strip())
    for row in csv.DictReader((run_dir / "results.csv").open()):
        achieved = float(row["achieved_gflops_per_s"])
        assert float(row["peak_fraction"]) == pytest.approx(achieved / 200.0, rel=1e-5)


def test_missing_doctor_file_exits_2(write_suite, tmp_path, capsys) -> None:
    out = tmp_path / "r"
    suite = str(write_suite(TINY_SUITE))
    code = main(["run", suite, "--out", str(out), "--ceilings", str(tmp_path / "nope.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not out.exists()
