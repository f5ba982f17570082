"""What identifies a case across runs, machines and files: one key, derived in one place.

Resume (which requested cases a run finished), shards (which machine runs which case), merge
(which rows answer which case), compare (which BASE row pairs with which NEW row) and the report
(which rows repeat one case) all ask the same question, so they share this key. It holds what
the suite *asks for* (model, mode, device, dtype, requested batch, the variant axes, swept
dimensions, repetition), never what was measured: an `--oom-backoff` row that ran b4 answers the
case that asked for b8, and carries `backoff_from` beside its key. The input shape is not part
of the key: it follows from the model's definition, and a definition that changed is a different
question (resume refuses it; compare names it), not a different case.

A key is built from a Case (or a tensor experiment's case), from a run.json entry, or from a
results.csv row; the three agree, and a test holds them to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from bench.records.inputs import dims_text

MODEL = "model"
EXPERIMENT = "experiment"
MODEL_INPLACE = "model_inplace"  # the `experiment` cell of a compare_inplace model row


@dataclass(frozen=True, order=True)
class CaseKey:
    """One requested case. Model cases: `name` is the model, `variant` the compare_inplace build
    ("" otherwise). Tensor experiments: `name` is the experiment, `variant` `family/variant`,
    `numel` the tensor size; `batch` is None and the model-only axes keep their defaults."""

    kind: str
    name: str
    device: str
    dtype: str
    batch: int | None = None
    mode: str = "eval"
    variant: str = ""
    memory_format: str = "contiguous"
    compile: str = "eager"
    dims: str = ""
    numel: int | None = None
    repeat: int | None = None
    cache: str = "warm"

    @property
    def label(self) -> str:
        """How progress lines, warnings and reports name the case."""
        if self.kind == EXPERIMENT:
            return f"{self.name} {self.variant} n={self.numel} {self.device} {self.dtype}"
        parts = [self.name, self.device, self.dtype]
        if self.batch is not None:
            parts.append(f"b{self.batch}")
        parts += [self.dims, self.variant]
        if self.memory_format != "contiguous":
            parts.append(self.memory_format)
        if self.compile != "eager":
            parts.append(f"compile={self.compile}")
        if self.cache != "warm":
            parts.append(f"cache={self.cache}")
        if self.mode != "eval":
            parts.append(self.mode)
        if self.repeat is not None:
            parts.append(f"#{self.repeat}")
        return " ".join(p for p in parts if p)

    def to_json(self) -> dict[str, Any]:
        """As run.json stores it: every field by name, so a new field never shifts old ones."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> CaseKey:
        """A stored key: a dict (run.json format 2) or the positional lists format 1 wrote for
        shards. ValueError on anything else."""
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            if not {"kind", "name", "device", "dtype"} <= value.keys() <= known:
                raise ValueError(f"not a case key: {value!r}")
            return cls(**value)
        if isinstance(value, list) and len(value) == 11 and value[0] == MODEL:
            _, name, mode, device, dtype, batch, variant, layout, compiled, repeat, dims = value
            return cls(
                MODEL,
                name,
                device,
                dtype,
                batch,
                mode,
                variant,
                layout,
                compiled,
                dims,
                repeat=repeat,
            )
        if isinstance(value, list) and len(value) == 7 and value[0] == EXPERIMENT:
            _, experiment, family, variant, device, dtype, numel = value
            return cls(
                EXPERIMENT, experiment, device, dtype, variant=f"{family}/{variant}", numel=numel
            )
        raise ValueError(f"not a case key: {value!r}")


def key_of(case: Any) -> CaseKey:
    """The key of a model case (bench.records.Case) or a tensor experiment case.

    A backoff case (`backoff_from` set) answers the batch it backed off from."""
    if hasattr(case, "model"):
        requested = case.backoff_from if case.backoff_from is not None else case.batch_size
        return CaseKey(
            kind=MODEL,
            name=case.model.name,
            device=case.device,
            dtype=case.dtype,
            batch=requested,
            mode=case.mode,
            variant=case.inplace_variant,
            memory_format=case.memory_format,
            compile=case.compile,
            dims=dims_text(case.dims),
            repeat=case.repeat,
            cache=case.cache,
        )
    return CaseKey(
        kind=EXPERIMENT,
        name=case.experiment,
        device=case.device,
        dtype=case.dtype,
        variant=case.variant.key,
        numel=case.numel,
    )


def is_experiment_entry(entry: Mapping[str, Any]) -> bool:
    """A tensor experiment's row or run.json entry (a compare_inplace model row names its
    experiment too, `model_inplace`, but is a model case)."""
    return bool(entry.get("experiment")) and entry.get("experiment") != MODEL_INPLACE


def key_of_entry(entry: Mapping[str, Any]) -> tuple[CaseKey, int | None]:
    """The requested case a run.json entry (or a results.csv row: cells are text) answers, and,
    on an `--oom-backoff` row, the smaller batch it ran (None on an ordinary row). One case can
    have several backoff rows (b4 ran out of memory, then b2, then b1 ran), so the pair, not the
    key alone, names one row."""
    if is_experiment_entry(entry):
        key = CaseKey(
            kind=EXPERIMENT,
            name=str(entry["experiment"]),
            device=str(entry["device"]),
            dtype=str(entry["dtype"]),
            variant=f"{entry['model']}/{entry['variant']}",
            numel=_int(entry.get("numel")),
        )
        return key, None
    backoff_from = _int(entry.get("backoff_from"))
    batch = _int(entry.get("batch_size"))
    key = CaseKey(
        kind=MODEL,
        name=str(entry["model"]),
        device=str(entry["device"]),
        dtype=str(entry["dtype"]),
        batch=backoff_from if backoff_from is not None else batch,
        mode=str(entry.get("mode") or "eval"),
        variant=str(entry.get("variant") or "") if entry.get("experiment") == MODEL_INPLACE else "",
        memory_format=str(entry.get("memory_format") or "contiguous"),
        compile=str(entry.get("compile") or "eager"),
        dims=str(entry.get("dims") or ""),
        repeat=_int(entry.get("repeat")),
        cache=str(entry.get("cache") or "warm"),
    )
    return key, None if backoff_from is None else batch


def _int(value: Any) -> int | None:
    """run.json holds ints; a results.csv cell holds their text ("" for none). ValueError on
    anything else."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    return int(value)
