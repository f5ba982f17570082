"""Sessions: tests, bench (CPU default suite), bench-gpu (CUDA; skips cleanly without one), lint,
tests-torch (the test suite on the oldest and the newest supported torch), and bench-compare
(tests/benchmarks through pytest-benchmark: a baseline per machine, then a regression gate).

nox's uv backend makes every session after the first install in seconds: uv hard-links packages
from its cache, so all sessions share one copy of torch on disk. Where uv is missing, nox falls
back to virtualenv (and pip), which costs one full torch install per session.
`session.posargs` pass through (e.g. `nox -s tests -- -k suite`).
"""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "uv|virtualenv"

# The supported range (pyproject's `torch>=2.14,<2.16`) at both ends, each with the torchvision
# release built against it. `nox -s tests` takes whatever the resolver picks (the newest).
TORCH_RELEASES = {"2.14.1": "0.29.1", "2.15.0": "0.29.2"}


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(name="tests-torch")
@nox.parametrize("torch", list(TORCH_RELEASES))
def tests_torch(session: nox.Session, torch: str) -> None:
    session.install("-e", ".[test]", f"torch=={torch}", f"torchvision=={TORCH_RELEASES[torch]}")
    session.run("pytest", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    session.install("-e", ".")
    args = session.posargs or ["suites/default.toml"]
    session.run("bench", "run", *args)


@nox.session(name="bench-gpu")
def bench_gpu(session: nox.Session) -> None:
    if shutil.which("nvidia-smi") is None:
        session.skip("no CUDA device: bench-gpu skipped")
    session.install("-e", ".")
    has_cuda = session.run(
        "python", "-c", "import torch; print(torch.cuda.is_available())", silent=True
    )
    if not has_cuda or has_cuda.strip() != "True":
        session.skip("no CUDA device: bench-gpu skipped")
    args = session.posargs or ["suites/gpu.toml"]
    session.run("bench", "run", *args)


@nox.session(name="bench-compare")
def bench_compare(session: nox.Session) -> None:
    """The regression gate on tests/benchmarks, with one baseline folder per machine.

    The first run on a machine saves a baseline under .benchmarks/<machine>/ (BENCH_MACHINE, else
    the host name); every later run compares against the newest one there and fails when a
    median is more than 10% slower. `-- --benchmark-autosave` also saves the run as the new
    baseline; other pytest arguments pass through too.
    """
    session.install("-e", ".[test]")
    storage = Path(".benchmarks") / os.environ.get("BENCH_MACHINE", platform.node() or "local")
    command = ["pytest", "tests/benchmarks", f"--benchmark-storage={storage}"]
    if not any(storage.rglob("*.json")):
        session.log(f"no baseline in {storage}: saving this run as the baseline")
        session.run(*command, "--benchmark-autosave", *session.posargs)
        return
    gate = ["--benchmark-compare", "--benchmark-compare-fail=median:10%"]
    session.run(*command, *gate, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
