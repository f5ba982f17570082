"""BASE and NEW: what each side of `bench ab` is, where its code lives, which Python runs it.

A side is a git revision of the repository holding the current directory, checked out into a
temporary worktree (`git worktree add --detach`), or an existing directory (`.` by default for
NEW). Each has an interpreter (`--base-python`, `--new-python`; default: this one), so the same
code under two torch versions is a comparison too. Every check runs before anything is
measured, and a bad side is one `error:` line: no such revision, no such directory, an
interpreter that does not run. Worktrees are removed when the run ends, however it ends.

Each side reads the suite at the same path relative to its tree (the repository root for a
revision, the current directory for a directory side), when the file exists there: the suite
and its local factory files are then the side's own. Otherwise both read the given file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

REVISION, DIRECTORY = "revision", "directory"
CHECK_S = 60.0  # for git and for an interpreter's first start


class SideError(BenchError):
    """A side that cannot run at all: no such revision or directory, an interpreter that does
    not start, a suite its worker cannot load. One `error:` line, exit 2."""


@dataclass(frozen=True)
class Side:
    """One side, resolved: where its worker runs, with which Python, on which suite file."""

    name: str  # BASE or NEW
    given: str  # as the user wrote it
    kind: str  # REVISION or DIRECTORY
    directory: Path
    python: str
    commit: str | None  # the revision's commit; a directory's HEAD (+dirty), if it is in git
    suite: Path


@dataclass(frozen=True)
class Sides:
    base: Side
    new: Side
    scratch: Path  # temporary: the worktrees and the workers' logs


@contextlib.contextmanager
def open_sides(
    suite: Path, base: str, new: str, base_python: str, new_python: str, cwd: Path
) -> Iterator[Sides]:
    """Both sides, checked; revisions checked out until the block ends (even on Ctrl-C)."""
    pythons = {"BASE": _interpreter("--base-python", base_python, cwd)}
    pythons["NEW"] = _interpreter("--new-python", new_python, cwd)
    root = _git_root(cwd)
    scratch = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, scratch, True)
        resolved = [
            _side(name, given, pythons[name], suite, cwd, root, scratch, cleanup)
            for name, given in (("BASE", base), ("NEW", new))
        ]
        yield Sides(resolved[0], resolved[1], scratch)


def _side(
    name: str,
    given: str,
    python: str,
    suite: Path,
    cwd: Path,
    root: Path | None,
    scratch: Path,
    cleanup: contextlib.ExitStack,
) -> Side:
    option = f"--{name.lower()}"
    directory = cwd / given
    if directory.is_dir():
        directory = directory.resolve()
        commit = _head(directory)
        own_suite = _mapped(suite, cwd, cwd, directory)
        return _usable(Side(name, given, DIRECTORY, directory, python, commit, own_suite))
    if root is None:
        raise SideError(
            f"{option} {given}: no such directory, and {cwd} is not in a git repository"
        )
    commit = _git(["rev-parse", "--verify", "--quiet", f"{given}^{{commit}}"], root)
    if commit is None:
        raise SideError(
            f"{option} {given}: no such directory, and not a revision of the repository at {root}"
        )
    tree = scratch / name.lower()
    cleanup.callback(_remove_worktree, root, tree)
    if _git(["worktree", "add", "--detach", "--quiet", str(tree), commit], root) is None:
        raise SideError(f"{option} {given}: `git worktree add` failed in {root}")
    own_suite = _mapped(suite, cwd, root, tree)
    return _usable(Side(name, given, REVISION, tree, python, commit, own_suite))


def _usable(side: Side) -> Side:
    """A tree with its own `bench` runs its own worker; one from before `bench ab` has none,
    and mixing in ours would time a bench that neither side is."""
    own = side.directory / "bench"
    if (own / "__init__.py").is_file() and not (own / "ab" / "worker.py").is_file():
        raise SideError(
            f"--{side.name.lower()} {side.given}: its tree has its own `bench` package without "
            "bench.ab.worker (older than `bench ab`), so it cannot be measured as a side"
        )
    return side


def _mapped(suite: Path, cwd: Path, anchor: Path, tree: Path) -> Path:
    """The side's copy of the suite (same path relative to `anchor`), else the given file."""
    given = (cwd / suite).resolve()
    with contextlib.suppress(ValueError):
        own = tree / given.relative_to(anchor.resolve())
        if own.is_file():
            return own
    return given


def _interpreter(option: str, python: str, cwd: Path) -> str:
    """An absolute interpreter path that starts; a path is made absolute without resolving
    symlinks (a venv's python is a link, and resolving it would leave the venv)."""
    if os.sep in python or (os.altsep and os.altsep in python):
        found: str | None = os.path.abspath(cwd / python)
    else:
        found = shutil.which(python)
    if found is None or not os.path.isfile(found):
        raise SideError(f"{option} {python}: no such interpreter")
    try:
        check = subprocess.run(
            [found, "-c", "import sys"], capture_output=True, text=True, timeout=CHECK_S
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise SideError(f"{option} {python}: does not run ({exc})") from None
    if check.returncode != 0:
        lines = check.stderr.strip().splitlines() or [f"exit code {check.returncode}"]
        raise SideError(f"{option} {python}: does not run ({lines[-1]})")
    return found


def _git(args: list[str], cwd: Path) -> str | None:
    """git's stdout, stripped; None when git is missing or fails."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=CHECK_S
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _git_root(cwd: Path) -> Path | None:
    root = _git(["rev-parse", "--show-toplevel"], cwd)
    return Path(root) if root else None


def _head(directory: Path) -> str | None:
    commit = _git(["rev-parse", "HEAD"], directory)
    if commit is None:
        return None
    dirty = _git(["status", "--porcelain", "--untracked-files=no"], directory)
    return commit + ("+dirty" if dirty else "")


def _remove_worktree(root: Path, tree: Path) -> None:
    """Remove the worktree and git's record of it; never raises (it runs on the way out)."""
    _git(["worktree", "remove", "--force", str(tree)], root)
    shutil.rmtree(tree, ignore_errors=True)
    _git(["worktree", "prune"], root)
