"""run.json back into the records the report renders: the report's only input is run.json.

`bench run` renders its report from what it has just written, read back through here, and
`bench report RUN_DIR` does the same later; so the two cannot disagree, and the same run.json
always gives the same report, byte for byte. Statistics are recomputed from the raw samples by
the same constructors that computed them during the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.errors import BenchError
from bench.records import (
    Case,
    CountDetails,
    InputSpec,
    LayerRow,
    MemoryStats,
    ModelSpec,
    Result,
    latency_from_entry,
    parse_dims_text,
    parse_shapes_text,
)
from bench.store.rundir import RUN_JSON


class RunReadError(BenchError):
    """A directory that is not a bench run, or a run.json this version cannot read."""


def read_record(
    run_dir: Path, error: type[BenchError] = RunReadError, purpose: str = ""
) -> dict[str, Any]:
    """run.json of a run directory, or `error` in one line saying why it is not one; `purpose`
    (e.g. "cannot resume") ends the message. The one reader for report, resume and merge."""
    tail = f"; {purpose}" if purpose else ""
    path = run_dir / RUN_JSON
    if not run_dir.is_dir():
        raise error(f"{run_dir}: not a directory, so it is not a bench run directory{tail}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: not found; {run_dir} is not a bench run directory{tail}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: unreadable ({type(exc).__name__}){tail}") from None
    if not isinstance(record, dict) or not isinstance(record.get("cases"), list):
        raise error(f"{path}: not a bench run record (no 'cases' list){tail}")
    return record


def _memory(detail: dict[str, Any] | None) -> MemoryStats | None:
    if not detail:
        return None
    return MemoryStats(
        peak_allocated_bytes=detail["peak_allocated_bytes"],
        resident_bytes=detail["resident_bytes"],
        source=detail["source"],
        peak_reserved_bytes=detail.get("peak_reserved_bytes"),
        param_bytes_by_dtype=detail.get("param_bytes_by_dtype") or {},
        buffer_bytes_by_dtype=detail.get("buffer_bytes_by_dtype") or {},
        resident_by_kind=detail.get("resident_by_kind") or {},
        rss_peak_bytes=detail.get("rss_peak_bytes"),
        pass_s=detail.get("pass_s"),
    )


def _counting(entry: dict[str, Any]) -> CountDetails | None:
    counting = entry.get("counting")
    if not counting:
        return None
    return CountDetails(
        counted_on=counting.get("flops_counted_on"),
        uncounted_ops=counting.get("uncounted_ops") or {},
        macs_by_op=counting.get("macs_by_op") or {},
        buffers=entry.get("buffers"),
        model_size_bytes=entry.get("model_size_bytes"),
        fvcore_macs=entry.get("fvcore_macs"),
        fvcore_note=counting.get("fvcore_note") or "",
        fvcore_skipped_ops=counting.get("fvcore_skipped_ops") or {},
        layers=tuple(LayerRow(**layer) for layer in counting.get("layers") or ()),
        data_dependent_ops=counting.get("data_dependent_ops") or {},
        weight_dtypes=entry.get("weight_dtypes"),
    )


def _case(entry: dict[str, Any], base_dir: Path) -> Case:
    batch = int(entry["batch_size"])
    shapes = parse_shapes_text(str(entry["input_shape"]))
    variant = entry.get("variant") if entry.get("experiment") == "model_inplace" else ""
    mode = entry.get("mode") or "eval"
    spec = ModelSpec(
        name=entry["model"],
        factory=entry.get("factory") or "",
        input_shape=shapes[0][1:] if len(shapes) == 1 else (),
        # the shapes as they ran (swept dimensions already resolved): enough to label and report
        inputs=tuple(InputSpec(shape=shape[1:]) for shape in shapes) if len(shapes) > 1 else (),
        batch_sizes=(batch,),
        kwargs=entry.get("kwargs") or {},
        modes=(mode,),
        compare_inplace=bool(variant),
    )
    return Case(
        suite=entry["suite"],
        model=spec,
        device=entry["device"],
        dtype=entry["dtype"],
        batch_size=batch,
        base_dir=base_dir,
        mode=mode,
        inplace_variant=variant or "",
        backoff_from=entry.get("backoff_from"),
        memory_format=entry.get("memory_format") or "contiguous",
        compile=entry.get("compile") or "eager",
        repeat=entry.get("repeat"),
        dims=parse_dims_text(entry.get("dims") or ""),
    )


def model_result(entry: dict[str, Any], base_dir: Path) -> Result:
    """One model case's Result, as the run measured it."""
    return Result(
        case=_case(entry, base_dir),
        status=entry["status"],
        error=entry.get("error") or "",
        params=entry.get("params"),
        trainable_params=entry.get("trainable_params"),
        macs=entry.get("macs"),
        latency=latency_from_entry(entry),
        peak_memory_bytes=entry.get("peak_memory_bytes"),
        notes=tuple(entry.get("notes") or ()),
        memory=_memory(entry.get("memory")),
        counting=_counting(entry),
        matmul_peak_gflops=entry.get("matmul_peak_gflops"),
        threads=entry.get("threads"),
        interop_threads=entry.get("interop_threads"),
        numerics_flags=entry.get("numerics_flags") or {},
        compile_ms=entry.get("compile_ms"),
        graph_breaks=entry.get("graph_breaks"),
        matches_reference=entry.get("matches_reference"),
    )


def is_experiment_entry(entry: dict[str, Any]) -> bool:
    """Tensor-experiment rows carry the expression they timed; model rows a factory."""
    return "code" in entry and entry.get("experiment") not in (None, "model_inplace")


def results_from_record(record: dict[str, Any], where: Path) -> list[Any]:
    """Every case of run.json as a Result or ExperimentResult, in the run's order."""
    from bench.experiments.readback import experiment_result  # imports torch: only when needed

    base_dir = Path(str(record.get("suite_file") or where)).parent
    results: list[Any] = []
    for number, entry in enumerate(record["cases"], start=1):
        try:
            if is_experiment_entry(entry):
                results.append(experiment_result(entry))
            else:
                results.append(model_result(entry, base_dir))
        except (KeyError, ValueError, TypeError) as exc:
            raise RunReadError(
                f"{where / RUN_JSON}: case {number}: malformed ({type(exc).__name__}: {exc})"
            ) from None
    return results
