"""The tests session runs on exactly what uv.lock pins, and a run records that torch build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torchvision
from packaging.version import Version

from bench.environment import capture_environment
from tests.lock_drift import drift, installed_versions, locked_versions

LOCK = os.environ.get("BENCH_INSTALLED_FROM_LOCK")
installed_from_lock = pytest.mark.skipif(
    not LOCK, reason="not installed from uv.lock (nox -s tests sets BENCH_INSTALLED_FROM_LOCK)"
)


@installed_from_lock
def test_every_installed_package_is_at_its_locked_version() -> None:
    assert drift(Path(LOCK)) == []


@installed_from_lock
def test_a_run_records_the_locked_torch_build() -> None:
    locked = locked_versions(Path(LOCK))
    environment = capture_environment()
    assert Version(environment["torch"]).public in locked["torch"]
    assert Version(environment["torchvision"]).public in locked["torchvision"]
    assert environment["torch"] == torch.__version__
    assert environment["torchvision"] == torchvision.__version__


def test_drift_names_each_package_that_differs(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        'version = 1\n[[package]]\nname = "torch"\nversion = "0.0.1"\n'
        '[[package]]\nname = "PyTest"\nversion = "1.0"\n',
        encoding="utf-8",
    )
    rows = {name: (version, pinned) for name, version, pinned in drift(lock)}
    assert rows["torch"] == (Version(torch.__version__).public, "0.0.1")
    assert rows["pytest"][1] == "1.0"  # names are compared normalized: PyTest is pytest
    assert rows["numpy"][1] == "not in the lock"


def test_drift_ignores_packages_vendored_on_sys_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vendored = tmp_path / "vendored_thing-1.0.dist-info"
    vendored.mkdir()
    (vendored / "METADATA").write_text("Name: vendored-thing\nVersion: 1.0\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "vendored-thing" not in installed_versions()
    assert installed_versions()["torch"] == Version(torch.__version__).public
