"""Our count, fvcore's and torchvision's published `_ops`, side by side, for torchvision's
classification models (pretrained configuration, weights' crop size, batch 1).

Ours is counted on the meta device (and, with --real, also on real tensors under inference mode,
which exercises the fused attention paths); fvcore needs a real forward pass, so big models cost
real compute: --max-gmacs bounds which models run (default 8). Prints a markdown table and the
models whose fvcore count is more than 5% away from ours.

    PYTHONPATH=. python benchmarks/counting_crosscheck.py [--max-gmacs 8] [--real] [names...]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import torch
from torchvision.models import get_model_builder

from bench.measure.counting.fvcore_check import fvcore_macs
from bench.measure.counting.meta import META, build_on_meta
from bench.measure.counting.ops import count_ops
from bench.records.counts import CROSSCHECK_TOLERANCE
from tests.oracle import (
    builder_arguments,
    crop_size,
    default_weights,
    oracle_models,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="models (default: all with _ops <= --max-gmacs)")
    parser.add_argument("--max-gmacs", type=float, default=8.0)
    parser.add_argument("--real", action="store_true", help="also count on real tensors")
    args = parser.parse_args()
    names = args.names or [
        n for n in oracle_models() if default_weights(n).meta["_ops"] <= args.max_gmacs
    ]
    print("| model | _ops | ours (meta) | ours (real) | fvcore | fvcore vs ours | fvcore skipped |")
    print("|---|---:|---:|---:|---:|---:|---|")
    flagged = []
    for name in names:
        meta = default_weights(name).meta
        kwargs, side = builder_arguments(name, meta), crop_size(name)
        builder = get_model_builder(name)
        shape = (1, 3, side, side)
        model = build_on_meta(builder, kwargs).eval()
        with torch.inference_mode():
            ours = count_ops(partial(model, torch.empty(shape, device=META))).macs
        torch.manual_seed(0)
        real = builder(**kwargs).eval()
        example = torch.randn(shape)
        real_macs = ""
        if args.real:
            with torch.inference_mode():
                real_macs = f"{count_ops(partial(real, example)).macs / 1e9:.3f}"
        fvcore = fvcore_macs(real, example)
        gap = "" if fvcore.macs is None else f"{100 * (fvcore.macs - ours) / ours:+.2f}%"
        if fvcore.macs is not None and abs(fvcore.macs - ours) > CROSSCHECK_TOLERANCE * ours:
            flagged.append(name)
        skipped = ", ".join(
            f"{op} x{n}" for op, n in fvcore.skipped_ops.items() if not op.startswith("aten::add")
        )
        fv_text = "" if fvcore.macs is None else f"{fvcore.macs / 1e9:.3f}"
        print(
            f"| {name} | {meta['_ops']} | {ours / 1e9:.3f} | {real_macs} | {fv_text} | {gap} "
            f"| {skipped or fvcore.note} |",
            flush=True,
        )
    print(
        f"\nfvcore more than {CROSSCHECK_TOLERANCE:.0%} from ours: {', '.join(flagged) or 'none'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
