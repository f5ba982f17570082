"""`--shard auto`: the shard index and count from the scheduler's environment variables.

Every engine that fans a job out names the task's index differently; reading them here means a
Slurm script, a Kubernetes manifest or a CI matrix says `bench run SUITE --shard auto` and
nothing else. Exactly one source must be present: when, say, an `sbatch` launched from a CI job
inherits both the CI's and Slurm's variables, guessing which one was meant could silently run the
wrong part, so that is an error instead.

| source | index | count |
|---|---|---|
| Slurm job array | `SLURM_ARRAY_TASK_ID` (minus `SLURM_ARRAY_TASK_MIN`, over `SLURM_ARRAY_TASK_STEP`) | `SLURM_ARRAY_TASK_COUNT` |
| Kubernetes indexed Job | `JOB_COMPLETION_INDEX` (0-based) | `BENCH_SHARD_COUNT` |
| any CI matrix | `BENCH_SHARD_INDEX` (1-based, like `--shard K/N`) | `BENCH_SHARD_COUNT` |
| GitLab CI `parallel:` | `CI_NODE_INDEX` (1-based) | `CI_NODE_TOTAL` |
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Mapping

from bench.errors import BenchError
from bench.shard.partition import Shard

COUNT_VARIABLE = "BENCH_SHARD_COUNT"
INDEX_VARIABLES = (
    "SLURM_ARRAY_TASK_ID",
    "JOB_COMPLETION_INDEX",
    "BENCH_SHARD_INDEX",
    "CI_NODE_INDEX",
)


def _optional(env: Mapping[str, str], name: str) -> int | None:
    text = env.get(name, "").strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise BenchError(f"--shard auto: {name}={text!r} is not an integer") from None


def _required(env: Mapping[str, str], name: str, index_name: str) -> int:
    value = _optional(env, name)
    if value is None:
        raise BenchError(f"--shard auto: {index_name} is set but {name} is not; set both")
    return value


def shard_from_environment(env: Mapping[str, str]) -> Shard:
    """The shard named by exactly one of INDEX_VARIABLES (with its count), else a BenchError."""
    present = [name for name in INDEX_VARIABLES if env.get(name, "").strip() != ""]
    if not present:
        raise BenchError(
            "--shard auto: no shard index in the environment; set one of "
            f"{', '.join(INDEX_VARIABLES)} (with its count), or give --shard K/N"
        )
    if len(present) > 1:
        raise BenchError(
            f"--shard auto: both {present[0]} and {present[1]} are set, so which shard this is "
            "is ambiguous; unset one, or give --shard K/N"
        )
    name = present[0]
    index = _required(env, name, name)
    if name == "SLURM_ARRAY_TASK_ID":
        lowest = _optional(env, "SLURM_ARRAY_TASK_MIN") or 0
        step = _optional(env, "SLURM_ARRAY_TASK_STEP") or 1
        count = _required(env, "SLURM_ARRAY_TASK_COUNT", name)
        if step < 1 or (index - lowest) % step:
            raise BenchError(
                f"--shard auto: SLURM_ARRAY_TASK_ID={index} is not on the array's grid "
                f"(min {lowest}, step {step}); use a contiguous array such as --array=0-{count - 1}"
            )
        position = (index - lowest) // step  # 0-based
        source = f"SLURM_ARRAY_TASK_ID={index} (min {lowest}, step {step}, count {count})"
    elif name == "JOB_COMPLETION_INDEX":
        count = _required(env, COUNT_VARIABLE, name)
        position = index
        source = f"JOB_COMPLETION_INDEX={index}, {COUNT_VARIABLE}={count}"
    elif name == "BENCH_SHARD_INDEX":
        count = _required(env, COUNT_VARIABLE, name)
        position = index - 1
        source = f"BENCH_SHARD_INDEX={index}, {COUNT_VARIABLE}={count}"
    else:
        count = _required(env, "CI_NODE_TOTAL", name)
        position = index - 1
        source = f"CI_NODE_INDEX={index}, CI_NODE_TOTAL={count}"
    if count < 1 or not 0 <= position < count:
        raise BenchError(
            f"--shard auto: {source} gives shard {position + 1} of {count}; "
            "the shard must be between 1 and the count"
        )
    return Shard(position + 1, count, source=source)
