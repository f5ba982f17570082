"""Which installed packages differ from uv.lock: `python -m tests.lock_drift uv.lock` prints them.

The tests session installs the lock (`uv sync --locked`), so there it must print nothing and
`test_lock.py` asserts so; tests-latest and tests-oldest print what they moved, so a failure
there names the upstream release that caused it.
"""

from __future__ import annotations

import re
import sys
import sysconfig
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.version import Version


def normalized(name: str) -> str:
    """PEP 503 name normalization, as uv.lock writes names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock: Path) -> dict[str, set[str]]:
    """Every version the lock holds of each package (platform markers may pin several)."""
    packages = tomllib.loads(lock.read_text(encoding="utf-8"))["package"]
    versions: dict[str, set[str]] = {}
    for package in packages:
        versions.setdefault(normalized(package["name"]), set()).add(package["version"])
    return versions


def installed_versions() -> dict[str, str]:
    """What this environment installed, local version labels dropped (`2.15.0+cu132` is the
    lock's `2.15.0`: the index serves one build per release and platform).

    Only site-packages is read, not all of sys.path: importing setuptools puts its vendored
    packages (`setuptools/_vendor/*.dist-info`) on sys.path, and those were never installed.
    """
    site = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    return {
        normalized(dist.metadata["Name"]): Version(dist.version).public
        for dist in metadata.distributions(path=site)
        if dist.metadata["Name"]
    }


def drift(lock: Path) -> list[tuple[str, str, str]]:
    """(package, installed version, locked versions or 'not in the lock'), sorted by package."""
    locked = locked_versions(lock)
    rows = []
    for name, version in sorted(installed_versions().items()):
        pinned = locked.get(name)
        if pinned is None:
            rows.append((name, version, "not in the lock"))
        elif version not in {Version(v).public for v in pinned}:
            rows.append((name, version, " or ".join(sorted(pinned))))
    return rows


def main(argv: list[str]) -> int:
    lock = Path(argv[0]) if argv else Path("uv.lock")
    rows = drift(lock)
    if not rows:
        print(f"every installed package is at its {lock.name} version")
    for name, version, pinned in rows:
        print(f"{name}: {version} installed, {lock.name} has {pinned}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
