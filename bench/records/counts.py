"""Frozen records of what the counting probes found for one case (no torch import here, so the
report and storage stages stay light)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

COUNTED_ON = ("meta", "real")

# A second counter that disagrees with ours by more than this fraction is flagged in the report.
CROSSCHECK_TOLERANCE = 0.05


@dataclass(frozen=True)
class LayerRow:
    """One line of the torchinfo layer table."""

    depth: int
    layer: str
    output_shape: str
    params: int
    trainable: str


@dataclass(frozen=True)
class CountDetails:
    """What the parameter, FLOP and cross-check probes found, beyond the contract columns.

    `counted_on` says whether FLOPs were counted on the meta device (shapes only) or on real
    tensors (the model could not run on meta; `notes` on the result say why).
    `uncounted_ops` are ops that ran without a FLOP formula (elementwise, norms, pooling, ...),
    with their call counts: what `macs` leaves out.
    """

    counted_on: str | None = None
    uncounted_ops: Mapping[str, int] = field(default_factory=dict)
    macs_by_op: Mapping[str, int] = field(default_factory=dict)
    buffers: int | None = None
    model_size_bytes: int | None = None
    fvcore_macs: int | None = None
    fvcore_note: str = ""
    fvcore_skipped_ops: Mapping[str, int] = field(default_factory=dict)
    layers: tuple[LayerRow, ...] = ()
    # ops whose output size depends on the data (nonzero, NMS, x[mask]) that ran while counting,
    # with call counts: when any ran, the MACs hold for this input and these weights only
    data_dependent_ops: Mapping[str, int] = field(default_factory=dict)
    # the weights' storage dtypes, most elements first (`qint8+float32` for a quantized model)
    weight_dtypes: str | None = None
    # `--allow-partial-counts`: the ops that multiply and accumulate but have no formula, left
    # out of a total kept anyway (without the option such a total is empty, never partial)
    partial_ops: Mapping[str, int] = field(default_factory=dict)

    @property
    def partial(self) -> bool | None:
        """Whether the MACs leave out contractions (allowed); None when nothing was counted."""
        return None if self.counted_on is None else bool(self.partial_ops)

    # data-dependent ops ran, but a second, differently seeded input gave the same total (a
    # top-k router: each expert's share moves, the sum does not): not flagged
    total_fixed: bool = False

    @property
    def data_dependent(self) -> bool | None:
        """Whether the FLOP count depends on the data; None when no count was made."""
        if self.counted_on is None:
            return None
        return bool(self.data_dependent_ops) and not self.total_fixed

    def __post_init__(self) -> None:
        if self.counted_on is not None and self.counted_on not in COUNTED_ON:
            raise ValueError(f"counted_on {self.counted_on!r} is not one of {COUNTED_ON}")


CONTRACTION_WORDS: frozenset[str] = frozenset(
    {
        "mm",
        "mv",
        "bmm",
        "addmm",
        "addmv",
        "addbmm",
        "baddbmm",
        "dot",
        "vdot",
        "matmul",
        "linear",
        "einsum",
        "bilinear",
        "trilinear",
        "tensordot",
        "cdist",
        "euclidean",
        "conv",
        "conv1d",
        "conv2d",
        "conv3d",
        "convolution",
        "tbc",
        "rnn",
        "lstm",
        "gru",
        "attention",
    }
)
"""Words of an op's name (split at `_`) that say it contracts: sums products."""


def multiplies_and_accumulates(op: str) -> bool:
    """Whether an op's name says it contracts (sums products): a matmul, convolution, attention
    or recurrent kernel, as opposed to elementwise work, norms, pooling and data movement. An
    op like this without a formula would leave its MACs out of the total."""
    name = op.split(".", 1)[-1]
    return any(word in CONTRACTION_WORDS for word in name.split("_"))


def crosscheck_disagreement(macs: int | None, details: CountDetails | None) -> str | None:
    """Why fvcore and our count differ by more than the tolerance, or None when they agree
    (or either count is missing).

    The reason is the known difference between the two counters that fits: the direction of the
    gap and the ops fvcore itself reported skipping (attention, above all).
    """
    if macs is None or details is None or details.fvcore_macs is None or macs <= 0:
        return None
    fvcore = details.fvcore_macs
    gap = (fvcore - macs) / macs
    if abs(gap) <= CROSSCHECK_TOLERANCE:
        return None
    skipped = dict(details.fvcore_skipped_ops)
    contractions = {
        op: n for op, n in skipped.items() if multiplies_and_accumulates(op.replace("::", "."))
    }
    if gap < 0 and contractions:
        names = ", ".join(f"{op} x{n}" for op, n in sorted(contractions.items()))
        reason = f"fvcore has no handler for these contractions, which it skipped: {names}"
    elif gap < 0:
        # nothing fvcore skipped multiplies: the gap is not one this check can explain
        names = ", ".join(f"{op} x{n}" for op, n in sorted(skipped.items())[:5])
        reason = "unexplained: the ops fvcore skipped do no multiply-accumulates" + (
            f" ({names})" if names else ""
        )
    else:
        reason = "fvcore also counts norms, pooling, upsampling and elementwise ops"
    return f"fvcore {fvcore / 1e9:.3f} vs ours {macs / 1e9:.3f} GMACs ({100 * gap:+.1f}%): {reason}"
