"""Content digests of the files a run depends on (suite, model files, checkpoints): a run records
them so `--resume` and `bench merge` can tell an edited file from the one the rows came from."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str | None:
    """A file's SHA-256 (cached while its size and mtime stay), or None if it cannot be read."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _sha256(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
