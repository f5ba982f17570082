"""`bench submit SUITE --shards N`: run a suite's shards as jobs of an existing engine, then merge.

We schedule nothing ourselves. `--executor slurm` hands the shards to Slurm through submitit as
one job array (one shard per array task); each task runs `run_shard`, the same function
`--executor local` calls. Local runs the shards one after another in this process, never two
at once, because shards sharing a machine perturb each other's numbers; for the same reason each
Slurm task asks for a node of its own (`--exclusive`) unless told otherwise. Once every task has
finished, the shards that produced a run directory are merged (bench.shard.merge).

submitit is an optional extra (`pip install 'bench[slurm]'`), imported only for the Slurm path.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import BenchError, one_line
from bench.measure.case import RunOptions
from bench.pipeline import ProgressCallback, run_suite
from bench.shard.merge import MergeOutcome, plan_merge, write_merge
from bench.shard.partition import Shard

SHARDS_DIR = "shards"  # the shards' run directories, under --out
SLURM_LOGS_DIR = "slurm"  # submitit's pickles and the tasks' stdout/stderr, under --out


@dataclass(frozen=True)
class SlurmSettings:
    """What each array task asks Slurm for; None leaves the cluster's default."""

    partition: str | None = None
    gpus_per_task: int | None = None
    time_min: int | None = None
    cpus_per_task: int | None = None
    array_parallelism: int | None = None  # tasks running at once (default: all)
    exclusive: bool = True  # a node to itself: shards must not share a machine

    def submitit_parameters(self, name: str, tasks: int) -> dict[str, Any]:
        """AutoExecutor.update_parameters keywords (generic names, or slurm_-prefixed)."""
        parameters: dict[str, Any] = {
            "name": name,
            "timeout_min": self.time_min,
            "cpus_per_task": self.cpus_per_task,
            "slurm_partition": self.partition,
            "slurm_gpus_per_task": self.gpus_per_task,
            "slurm_array_parallelism": self.array_parallelism or tasks,
            "slurm_exclusive": True if self.exclusive else None,
        }
        return {key: value for key, value in parameters.items() if value is not None}


_SLURM_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")


def parse_slurm_time(text: str) -> int:
    """Slurm's --time forms, as whole minutes (rounded up): M, M:S, H:M:S, D-H, D-H:M, D-H:M:S."""
    match = _SLURM_TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"--slurm-time {text!r}: expected minutes, H:MM:SS or D-HH:MM:SS")
    days, first, second, third = (int(g) if g is not None else None for g in match.groups())
    if days is not None:  # D-H[:M[:S]]
        seconds = ((days * 24 + (first or 0)) * 60 + (second or 0)) * 60 + (third or 0)
    elif third is not None:  # H:M:S
        seconds = ((first or 0) * 60 + (second or 0)) * 60 + third
    else:  # M or M:S
        seconds = (first or 0) * 60 + (second or 0)
    if seconds <= 0:
        raise ValueError(f"--slurm-time {text!r}: must be positive")
    return math.ceil(seconds / 60)


class _FinishedJob:
    """A task run to completion in this process: its value, or the exception it raised."""

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self._value, self._error = value, error

    def result(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


class LocalExecutor:
    """submitit's `map_array`, run here: one task after another, each to completion."""

    def map_array(self, fn: Callable[..., Any], *iterables: Iterable[Any]) -> list[_FinishedJob]:
        jobs = []
        for args in zip(*iterables, strict=True):
            try:
                jobs.append(_FinishedJob(value=fn(*args)))
            except Exception as exc:  # one shard's failure is reported; the others still run
                jobs.append(_FinishedJob(error=exc))
        return jobs


def slurm_executor(folder: Path, settings: SlurmSettings, name: str, tasks: int) -> Any:
    """A submitit AutoExecutor for Slurm, with one array task per shard."""
    try:
        import submitit
    except ImportError:
        raise BenchError(
            "--executor slurm needs submitit: pip install 'bench[slurm]' (or: pip install submitit)"
        ) from None
    try:
        executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm")
    except RuntimeError as exc:  # no srun on PATH: not a Slurm login node
        raise BenchError(f"--executor slurm: {one_line(str(exc))}") from None
    executor.update_parameters(**settings.submitit_parameters(name, tasks))
    return executor


def run_shard(
    suite_path: str,
    out: str,
    options: RunOptions,
    index: int,
    count: int,
    progress: ProgressCallback | None = None,
) -> str:
    """One task: measure shard `index` of `count` into a new run directory under `out`."""
    shard = Shard(index, count, source=f"bench submit, task {index} of {count}")
    outcome = run_suite(Path(suite_path), Path(out), options, progress=progress, shard=shard)
    return str(outcome.run_dir)


@dataclass(frozen=True)
class SubmitOutcome:
    shard_dirs: tuple[Path, ...]
    failures: tuple[str, ...]  # one line per shard that left no run directory
    merge: MergeOutcome

    @property
    def all_ok(self) -> bool:
        return not self.failures and self.merge.all_ok


def submit_shards(
    executor: Any,
    suite_path: Path,
    count: int,
    out: Path,
    options: RunOptions,
    force: bool = False,
    progress: ProgressCallback | None = None,
    on_submitted: Callable[[Sequence[Any]], None] | None = None,
) -> SubmitOutcome:
    """Run shards 1..count through `executor.map_array`, wait for all, merge what finished."""
    shards_out = str((out / SHARDS_DIR).resolve())
    indices = list(range(1, count + 1))
    jobs = executor.map_array(
        run_shard,
        [str(suite_path.resolve())] * count,
        [shards_out] * count,
        [options] * count,
        indices,
        [count] * count,
        [progress] * count,
    )
    if on_submitted is not None:
        on_submitted(jobs)
    shard_dirs, failures = [], []
    for index, job in zip(indices, jobs, strict=True):
        try:
            shard_dirs.append(Path(job.result()))
        except Exception as exc:  # a failed or cancelled task: say which, merge the others
            failures.append(one_line(f"shard {index}/{count} failed: {type(exc).__name__}: {exc}"))
    if not shard_dirs:
        raise BenchError(f"every shard failed; first: {failures[0]}")
    plan = plan_merge(shard_dirs, force=force)
    return SubmitOutcome(tuple(shard_dirs), tuple(failures), write_merge(plan, out))
