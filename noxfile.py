"""Sessions: tests, bench (CPU default suite), bench-gpu (CUDA; skips cleanly without one), lint,
lock (refresh uv.lock), tests-latest and tests-oldest (the declared ranges at both ends), and
bench-compare (tests/benchmarks through pytest-benchmark: a baseline per machine, then a gate).

Every session but tests-latest and tests-oldest installs exactly what `uv.lock` pins (`uv sync
--locked`), so a fresh clone next month runs on the releases CI saw today, torch included: two
people running `nox -s bench` a week apart measure the same torch build. `--locked` also refuses
a lock that no longer matches pyproject.toml, so a dependency change cannot land without its lock.
`nox -s lock` refreshes it. uv hard-links packages from its cache, so all sessions share one copy
of torch on disk. `session.posargs` pass through (e.g. `nox -s tests -- -k suite`).
"""

from __future__ import annotations

import os
import platform
import shutil
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "uv"

LOCK = Path(__file__).parent / "uv.lock"
# The test extra's marker for tests that compare the installed versions with uv.lock: set only
# where the lock was installed, so tests-latest and tests-oldest do not expect it.
LOCKED_ENV = {"BENCH_INSTALLED_FROM_LOCK": str(LOCK)}


def install_locked(session: nox.Session, *extras: str) -> None:
    """The project (editable) and exactly the lock's versions of its dependencies and `extras`."""
    session.run_install(
        "uv",
        "sync",
        "--locked",
        *(f"--extra={extra}" for extra in extras),
        env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
        external=True,
        silent=True,
    )


def locked_version(name: str) -> str:
    """The version uv.lock pins for one package (for tools installed on their own, like ruff)."""
    packages = tomllib.loads(LOCK.read_text(encoding="utf-8"))["package"]
    return next(p["version"] for p in packages if p["name"] == name)


@nox.session
def tests(session: nox.Session) -> None:
    install_locked(session, "test")
    session.run("pytest", *session.posargs, env=LOCKED_ENV)


@nox.session(name="tests-latest", reuse_venv=False)
def tests_latest(session: nox.Session) -> None:
    """The newest releases the declared ranges admit, lock ignored: finds upstream changes on
    purpose (not run by CI). Prints which versions differ from uv.lock before the tests."""
    session.install("--upgrade", "-e", ".[test]")
    session.run("python", "-m", "tests.lock_drift", str(LOCK))
    session.run("pytest", *session.posargs)


@nox.session(name="tests-oldest", reuse_venv=False)
def tests_oldest(session: nox.Session) -> None:
    """The lowest release of every direct dependency that pyproject.toml admits (torch 2.14.0,
    numpy 1.24, ...): the declared lower bounds are the tested ones (not run by CI)."""
    session.install("--resolution=lowest-direct", "-e", ".[test]")
    session.run("python", "-m", "tests.lock_drift", str(LOCK))
    session.run("pytest", *session.posargs)


@nox.session
def lock(session: nox.Session) -> None:
    """Refresh uv.lock to the newest releases within pyproject.toml's ranges; review and commit
    it. `nox -s lock -- --upgrade-package torch` moves one package only."""
    args = session.posargs or ["--upgrade"]
    session.run("uv", "lock", *args, external=True)


@nox.session
def bench(session: nox.Session) -> None:
    install_locked(session)
    args = session.posargs or ["suites/default.toml"]
    session.run("bench", "run", *args)


@nox.session(name="bench-gpu")
def bench_gpu(session: nox.Session) -> None:
    if shutil.which("nvidia-smi") is None:
        session.skip("no CUDA device: bench-gpu skipped")
    install_locked(session)
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
    the host name); every later run compares against the newest one there with `--bench-gate
    10`: it fails when a benchmark is confidently more than 10% slower (its median ratio's
    interval lies wholly above 1.10), not when a median merely drifted with the machine, and
    exits 3 when nothing could be judged. `-- --benchmark-autosave` also saves the run as the
    new baseline; other pytest arguments pass through too.
    """
    install_locked(session, "test")
    storage = Path(".benchmarks") / os.environ.get("BENCH_MACHINE", platform.node() or "local")
    command = ["pytest", "tests/benchmarks", f"--benchmark-storage={storage}"]
    if not any(storage.rglob("*.json")):
        session.log(f"no baseline in {storage}: saving this run as the baseline")
        session.run(*command, "--benchmark-autosave", *session.posargs)
        return
    gate = ["--benchmark-compare", "--bench-gate", "10"]
    session.run(*command, *gate, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install(f"ruff=={locked_version('ruff')}")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
