"""Sessions: tests, bench (CPU default suite), bench-gpu (CUDA; skips cleanly without one), lint.

Every session installs the project into its own virtualenv; pip takes torch and torchvision from
this machine's local wheels. `session.posargs` pass through (e.g. `nox -s tests -- -k suite`).
"""

from __future__ import annotations

import shutil

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[test]")
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


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
