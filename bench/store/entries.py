"""One case of the run record, both ways: `entry_of(result)` writes it, `result_of(entry)` reads
it back, side by side so the two cannot drift apart.

The entry is the case's results.csv row plus everything the row was computed from and the row
cannot hold: raw latency samples, the memory pass's breakdown, what the FLOP count covered, notes,
numerics flags, the machine's ceiling, and the case exactly as the suite defined it (the whole
model entry and timing settings). So reading an entry back gives the Result the run measured,
statistics recomputed by the same constructors, and `entry_of(result_of(entry)) == entry`: a
resumed or merged run writes what the original run wrote. Entries written before the case was
recorded (run.json format 1) read back with the case rebuilt from the row, enough to label and
report it. A failing case's traceback is not in the entry: it is in run.log.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from bench.records import (
    Case,
    CountDetails,
    InputSpec,
    InstructionCount,
    LayerRow,
    MemoryStats,
    ModelSpec,
    Result,
    TimingSettings,
    is_experiment_entry,
    latency_from_entry,
    parse_dims_text,
    parse_shapes_text,
)
from bench.store.digests import file_sha256


def json_value(value: Any) -> Any:
    """`value` as the record stores it (a datetime becomes its text), so comparisons with a
    stored value compare like with like."""
    return json.loads(json.dumps(value, default=str))


def entry_of(result: Any) -> dict[str, Any]:
    """The run record's entry for a model Result or an ExperimentResult."""
    if not isinstance(result, Result):
        return json_value(result.record())  # experiment rows describe themselves
    lat = result.latency
    return json_value(
        {
            **result.row(),
            "factory": result.case.model.factory,
            "kwargs": dict(result.case.model.kwargs),
            "definition": case_definition(result.case),
            "case": _case_record(result.case),
            "warmup_iterations": lat.warmup_iterations if lat else None,
            "latency_samples_ms": list(lat.samples_ms) if lat else [],
            "notes": list(result.notes),
            "memory": result.memory.detail() if result.memory else None,
            "counting": _counting_record(result.counting),
            # CUDA host wall per sample, the CI's confidence, flags as measured
            "latency_wall_samples_ms": list(lat.wall_samples_ms) if lat else [],
            "latency_ci_confidence": lat.confidence if lat else None,
            "latency_measure_s": lat.measure_s if lat else None,
            # `--processes N`: [samples, samples per block] of each worker process, in order
            "latency_process_sizes": [list(p) for p in lat.process_sizes] if lat else [],
            # the contention probe's raw reading (the row has its share and verdict)
            "contention": dataclasses.asdict(lat.contention) if lat and lat.contention else None,
            # CUDA with NVML: the SM clock after each sample, the default clock, the reasons
            "sm_clocks": dataclasses.asdict(lat.clocks) if lat and lat.clocks else None,
            "numerics_flags": dict(result.numerics_flags),
            "matmul_peak_gflops": result.matmul_peak_gflops,
            # `--metrics instructions`: the repeats and the functions behind the row's count
            "instruction_count": result.instructions.record() if result.instructions else None,
        }
    )


def result_of(entry: dict[str, Any], base_dir: Path) -> Any:
    """A Result or ExperimentResult from its entry; KeyError, ValueError or TypeError when the
    entry is not what bench writes. `base_dir` stands in for the suite's folder on entries that
    do not record it."""
    if is_experiment_entry(entry):
        from bench.experiments.readback import experiment_result  # imports torch

        return experiment_result(entry)
    return model_result(entry, base_dir)


def case_definition(case: Case) -> dict[str, Any]:
    """Everything in the suite that decides what a case measures.

    `--resume` refuses a run whose finished rows were defined differently: rows of a `16x8`
    input next to rows of `32x3x8`, or of another checkpoint, must never share a table. The
    checkpoint is identified by its content, not its name.
    """
    spec = case.model
    # the shorthand is recorded as before, so runs made before `inputs` existed still resume
    inputs: dict[str, Any] = (
        {"inputs": [i.definition() for i in spec.inputs]}
        if spec.inputs
        else {"input_shape": list(spec.input_shape)}
    )
    if spec.batch_as_list:
        inputs["batch_as_list"] = True
    file = factory_file(spec.factory, case.base_dir)
    if file is not None:  # the model's code is part of its definition
        inputs["factory_file_sha256"] = file_sha256(file)
    return json_value(
        {
            "factory": spec.factory,
            "kwargs": dict(spec.kwargs),
            **inputs,
            "checkpoint_sha256": file_sha256(spec.checkpoint) if spec.checkpoint else None,
            "trust_checkpoint": spec.trust_checkpoint,
            "budget_s": case.timing.budget_s,
            "precision": case.timing.precision,
            "threads": case.timing.threads,
        }
    )


def factory_file(factory: str, base_dir: Path) -> Path | None:
    """The file a `path/to/file.py:callable` factory loads (as bench.model.factory resolves
    it), None for an importable module's."""
    module_part = factory.rpartition(":")[0]
    return (base_dir / module_part).resolve() if module_part.endswith(".py") else None


def _case_record(case: Case) -> dict[str, Any]:
    """What the row does not say about the case: the whole model entry, its timing settings
    and the folder its factory paths resolve against."""
    spec = case.model
    return {
        "model": {
            "name": spec.name,
            "factory": spec.factory,
            "input_shape": list(spec.input_shape),
            "batch_sizes": list(spec.batch_sizes),
            "kwargs": dict(spec.kwargs),
            "modes": list(spec.modes),
            "compare_inplace": spec.compare_inplace,
            "checkpoint": None if spec.checkpoint is None else str(spec.checkpoint),
            "trust_checkpoint": spec.trust_checkpoint,
            "dtypes": None if spec.dtypes is None else list(spec.dtypes),
            "memory_formats": list(spec.memory_formats),
            "compile": list(spec.compile),
            "cache": list(spec.cache),
            "graphs": spec.graphs,
            "inputs": [i.definition() for i in spec.inputs],
            "dims": [[name, list(values)] for name, values in spec.dims],
            "batch_as_list": spec.batch_as_list,
        },
        "timing": dataclasses.asdict(case.timing),
        "base_dir": str(case.base_dir),
    }


def _spec_from_record(model: dict[str, Any]) -> ModelSpec:
    dtypes = model["dtypes"]
    return ModelSpec(
        name=model["name"],
        factory=model["factory"],
        input_shape=tuple(model["input_shape"]),
        batch_sizes=tuple(model["batch_sizes"]),
        kwargs=model["kwargs"],
        modes=tuple(model["modes"]),
        compare_inplace=model["compare_inplace"],
        checkpoint=None if model["checkpoint"] is None else Path(model["checkpoint"]),
        trust_checkpoint=model["trust_checkpoint"],
        dtypes=None if dtypes is None else tuple(dtypes),
        memory_formats=tuple(model["memory_formats"]),
        compile=tuple(model["compile"]),
        cache=tuple(model.get("cache") or ("warm",)),
        graphs=bool(model.get("graphs", False)),
        inputs=tuple(
            InputSpec(
                shape=tuple(i["shape"]),
                dtype=i.get("dtype"),
                low=i.get("low"),
                high=i.get("high"),
                name=i.get("name", ""),
            )
            for i in model["inputs"]
        ),
        dims=tuple((name, tuple(values)) for name, values in model["dims"]),
        batch_as_list=model["batch_as_list"],
    )


def _stub_spec(entry: dict[str, Any], batch: int, mode: str, variant: str) -> ModelSpec:
    """A format-1 entry's model, from its row: the shapes as they ran (swept dimensions already
    resolved), enough to label and report the case."""
    shapes = parse_shapes_text(str(entry["input_shape"]))
    return ModelSpec(
        name=entry["model"],
        factory=entry.get("factory") or "",
        input_shape=shapes[0][1:] if len(shapes) == 1 else (),
        inputs=tuple(InputSpec(shape=shape[1:]) for shape in shapes) if len(shapes) > 1 else (),
        batch_sizes=(batch,),
        kwargs=entry.get("kwargs") or {},
        modes=(mode,),
        compare_inplace=bool(variant),
    )


def _case(entry: dict[str, Any], base_dir: Path) -> Case:
    batch = int(entry["batch_size"])
    variant = entry.get("variant") if entry.get("experiment") == "model_inplace" else ""
    mode = entry.get("mode") or "eval"
    recorded = entry.get("case")
    if isinstance(recorded, dict):
        spec = _spec_from_record(recorded["model"])
        timing = TimingSettings(**recorded["timing"])
        base_dir = Path(recorded["base_dir"])
    else:
        spec, timing = _stub_spec(entry, batch, mode, variant or ""), TimingSettings()
    return Case(
        suite=entry["suite"],
        model=spec,
        device=entry["device"],
        dtype=entry["dtype"],
        batch_size=batch,
        base_dir=base_dir,
        mode=mode,
        timing=timing,
        inplace_variant=variant or "",
        backoff_from=entry.get("backoff_from"),
        memory_format=entry.get("memory_format") or "contiguous",
        compile=entry.get("compile") or "eager",
        cache=entry.get("cache") or "warm",
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
        instructions=_instructions(entry.get("instruction_count")),
    )


def _counting_record(details: CountDetails | None) -> dict[str, Any] | None:
    """What the FLOP count covered: MACs per counted op, and the ops it ran without a formula."""
    if details is None:
        return None
    return {
        "flops_counted_on": details.counted_on,
        "macs_by_op": dict(details.macs_by_op),
        "uncounted_ops": dict(details.uncounted_ops),
        "fvcore_note": details.fvcore_note,
        "fvcore_skipped_ops": dict(details.fvcore_skipped_ops),
        "data_dependent_ops": dict(details.data_dependent_ops),
        "partial_ops": dict(details.partial_ops),
        "total_fixed": details.total_fixed,
        # the torchinfo table, so `bench report` can rebuild the report from the record alone
        "layers": [dataclasses.asdict(layer) for layer in details.layers],
    }


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
        partial_ops=counting.get("partial_ops") or {},
        total_fixed=bool(counting.get("total_fixed")),
        weight_dtypes=entry.get("weight_dtypes"),
    )


def _instructions(record: dict[str, Any] | None) -> InstructionCount | None:
    return InstructionCount.from_record(record) if record else None


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
