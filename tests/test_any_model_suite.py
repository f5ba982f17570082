"""suites/any-model.toml runs offline and counts every model exactly: two positional inputs, token
ids by keyword, a Hugging Face BERT from its config, fcn_resnet50 (aux head) at 520 and RetinaNet
fed a list of 800x800 images, against torchvision's weights metadata or the closed form."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bench.cli import main

SUITE = Path(__file__).parents[1] / "suites" / "any-model.toml"


def bert_base_macs(seq: int, hidden: int = 768, layers: int = 12) -> int:
    """Per layer: Q, K, V and output projections (4 h^2 per token), the feed-forward (8 h^2 per
    token), the attention scores and their product with V (2 s h per token); then the pooler
    (one h x h linear on the first token)."""
    per_token = 12 * hidden * hidden + 2 * seq * hidden
    return layers * seq * per_token + hidden * hidden


@pytest.mark.slow
def test_the_any_model_suite_counts_every_model_exactly(tmp_path: Path, capsys) -> None:
    pytest.importorskip("transformers")
    from torchvision.models.detection import RetinaNet_ResNet50_FPN_Weights
    from torchvision.models.segmentation import FCN_ResNet50_Weights

    args = ["run", str(SUITE), "--out", str(tmp_path), "--metrics", "params,flops"]
    assert main(args) == 0
    run_dir = Path(capsys.readouterr().out.strip())
    rows = list(csv.DictReader((run_dir / "results.csv").open(encoding="utf-8")))
    by_case = {(r["model"], r["batch_size"], r["dims"]): r for r in rows}
    assert all(r["status"] == "ok" for r in rows), [(r["model"], r["error"]) for r in rows]

    fusion = by_case["image_and_features", "8", ""]
    assert fusion["input_shape"] == "8x3x32x32,8x16"
    assert int(fusion["macs"]) == 8 * (32 * 3 * 9 * 32 * 32 + 16 * 32 + 64 * 10)

    d, f, layers = 256, 1024, 4
    for seq in (128, 512):
        tokens = by_case["token_encoder", "1", f"seq={seq}"]
        assert tokens["input_shape"] == f"1x{seq},1x{seq}"
        per_token = 4 * d * d + 2 * d * f + 2 * seq * d
        assert int(tokens["macs"]) == layers * seq * per_token

    bert = by_case["bert_base", "1", "seq=128"]
    assert int(bert["params"]) == 109_482_240  # BERT-base with its pooler
    assert int(bert["macs"]) == bert_base_macs(128)

    for name, weights in (
        ("fcn_resnet50", FCN_ResNet50_Weights.DEFAULT),
        ("retinanet_resnet50_fpn", RetinaNet_ResNet50_FPN_Weights.DEFAULT),
    ):
        row = by_case[name, "1", ""]
        assert int(row["params"]) == weights.meta["num_params"]
        assert round(int(row["macs"]) / 1e9, 3) == weights.meta["_ops"]
    assert by_case["retinanet_resnet50_fpn", "1", ""]["input_shape"] == "1x3x800x800"
