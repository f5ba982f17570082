"""The zoo's models: output shapes, and parameter counts worked out by hand from layer sizes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bench import zoo
from bench.errors import CaseUnsupported


def conv(cin: int, cout: int, k: int, bias: bool = True) -> int:
    return cin * cout * k * k + (cout if bias else 0)


def linear(fin: int, fout: int) -> int:
    return fin * fout + fout


def params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def out(model: nn.Module, *shape: int) -> torch.Tensor:
    torch.manual_seed(0)
    with torch.no_grad():
        return model.eval()(torch.randn(*shape))


def meta_shape(model: nn.Module, *shape: int) -> torch.Size:
    """The output shape of a forward at `shape`, on the meta device: the same shape arithmetic,
    none of the compute (the model moves to meta; its parameter counts stay)."""
    with torch.no_grad():
        return model.eval().to("meta")(torch.empty(*shape, device="meta")).shape


def test_alexnet_variant_takes_four_channels_and_gives_ten_classes() -> None:
    model = zoo.alexnet()
    assert meta_shape(model, 2, 4, 224, 224) == (2, 10)
    expected = (
        conv(4, 64, 11)
        + conv(64, 192, 5)
        + conv(192, 384, 3)
        + conv(384, 256, 3)
        + conv(256, 256, 3)
        + linear(256 * 6 * 6, 4096)
        + linear(4096, 4096)
        + linear(4096, 10)
    )
    assert params(model) == expected == 57_052_554
    # torchvision's alexnet (3 channels, 1000 classes) differs only in the first conv and head
    assert params(zoo.alexnet(in_channels=3, num_classes=1000)) == 61_100_840


def test_vgg16_from_its_configuration_matches_the_paper_count() -> None:
    model = zoo.vgg(16)
    assert out(model, 1, 3, 64, 64).shape == (1, 1000)  # the adaptive pool takes any size
    widths = [(3, 64), (64, 64), (64, 128), (128, 128), (128, 256), (256, 256), (256, 256)]
    widths += [(256, 512), (512, 512), (512, 512), (512, 512), (512, 512), (512, 512)]
    expected = sum(conv(a, b, 3) for a, b in widths)
    expected += linear(512 * 7 * 7, 4096) + linear(4096, 4096) + linear(4096, 1000)
    assert params(model) == expected == 138_357_544  # torchvision's published vgg16 num_params


def test_vgg_from_a_custom_list() -> None:
    model = zoo.vgg([8, "M", 16, "M"], in_channels=1, num_classes=10, hidden=32, pool_size=2)
    assert out(model, 3, 1, 28, 28).shape == (3, 10)
    expected = conv(1, 8, 3) + conv(8, 16, 3) + linear(16 * 2 * 2, 32)
    expected += linear(32, 32) + linear(32, 10)
    assert params(model) == expected == 4_714
    with_bn = zoo.vgg(
        [8, "M"], in_channels=1, num_classes=10, hidden=32, pool_size=2, batch_norm=True
    )
    assert params(with_bn) == conv(1, 8, 3) + 2 * 8 + linear(8 * 4, 32) + linear(32, 32) + 330


@pytest.mark.parametrize("config", [[], ["M"], [8, 0], 12])
def test_vgg_refuses_bad_configurations(config: object) -> None:
    with pytest.raises(ValueError):
        zoo.vgg(config)  # type: ignore[arg-type]


def inception(cin: int, c1: int, c2: tuple[int, int], c3: tuple[int, int], c4: int) -> int:
    return (
        conv(cin, c1, 1)
        + conv(cin, c2[0], 1)
        + conv(c2[0], c2[1], 3)
        + conv(cin, c3[0], 1)
        + conv(c3[0], c3[1], 5)
        + conv(cin, c4, 1)
    )


def test_inception_block_3a() -> None:
    block = zoo.inception_block()
    assert out(block, 1, 192, 28, 28).shape == (1, 64 + 128 + 32 + 32, 28, 28)
    assert params(block) == inception(192, 64, (96, 128), (16, 32), 32) == 163_696
    small = zoo.inception_block(cin=8, c1=4, c2=(4, 8), c3=(2, 4), c4=4)
    assert out(small, 2, 8, 7, 7).shape == (2, 20, 7, 7)
    assert params(small) == inception(8, 4, (4, 8), (2, 4), 4)


def test_inception_block_is_importable_from_its_old_place_in_the_zoo() -> None:
    from bench.zoo.inception import InceptionBlock

    assert isinstance(zoo.inception_block(), InceptionBlock)


def test_googlenet_is_nine_inception_blocks() -> None:
    model = zoo.googlenet(num_classes=10)
    assert meta_shape(model, 1, 3, 224, 224) == (1, 10)
    assert (
        sum(isinstance(m, nn.Module) and type(m).__name__ == "InceptionBlock" for m in model) == 9
    )
    blocks = [
        (192, 64, (96, 128), (16, 32), 32),
        (256, 128, (128, 192), (32, 96), 64),
        (480, 192, (96, 208), (16, 48), 64),
        (512, 160, (112, 224), (24, 64), 64),
        (512, 128, (128, 256), (24, 64), 64),
        (512, 112, (144, 288), (32, 64), 64),
        (528, 256, (160, 320), (32, 128), 128),
        (832, 256, (160, 320), (32, 128), 128),
        (832, 384, (192, 384), (48, 128), 128),
    ]
    stem = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3)
    expected = stem + sum(inception(*b) for b in blocks) + linear(384 + 384 + 128 + 128, 10)
    assert params(model) == expected


def test_googlenet_width_scales_every_channel_count() -> None:
    model = zoo.googlenet(in_channels=1, num_classes=10, width=0.25)
    assert out(model, 2, 1, 64, 64).shape == (2, 10)
    assert model[-1].in_features == 96 + 96 + 32 + 32  # (384 + 384 + 128 + 128) / 4


def test_resnet_configuration() -> None:
    model = zoo.resnet(depth=18, num_classes=10, in_channels=1, width=16)
    assert out(model, 2, 1, 64, 64).shape == (2, 10)
    # one more input channel adds one 7x7 slice to each of the stem's 64 filters (no bias)
    assert params(zoo.resnet(depth=18, in_channels=4)) - params(zoo.resnet(depth=18)) == 64 * 49
    with pytest.raises(ValueError):
        zoo.resnet(depth=20)


def test_unet_keeps_the_spatial_size() -> None:
    model = zoo.unet(in_channels=1, num_classes=3, base=4, depth=2)
    assert out(model, 2, 1, 32, 32).shape == (2, 3, 32, 32)


def bottleneck(cin: int, width: int, downsample: bool) -> int:
    """Three convs without bias, each followed by a batch norm (weight and bias)."""
    total = conv(cin, width, 1, False) + 2 * width
    total += conv(width, width, 3, False) + 2 * width
    total += conv(width, 4 * width, 1, False) + 2 * 4 * width
    if downsample:
        total += conv(cin, 4 * width, 1, False) + 2 * 4 * width
    return total


def test_resnet50_with_a_new_head_and_frozen_layers() -> None:
    model = zoo.resnet50_finetune(num_classes=100)
    assert meta_shape(model, 2, 3, 224, 224) == (2, 100)
    # torchvision's resnet50 has 25,557,032 parameters, of which fc is Linear(2048, 1000)
    assert params(model) == 25_557_032 - linear(2048, 1000) + linear(2048, 100)
    assert trainable(model) == linear(2048, 100) == 204_900
    tuned = zoo.resnet50_finetune(num_classes=100, trainable=("layer4",))
    layer4 = bottleneck(1024, 512, True) + 2 * bottleneck(2048, 512, False)
    assert trainable(tuned) == layer4 + linear(2048, 100)
    with pytest.raises(ValueError, match="unknown stage"):
        zoo.resnet50_finetune(trainable=("layer5",))


def test_feature_extractor_returns_each_stage() -> None:
    model = zoo.feature_extractor("resnet18")
    maps = out(model, 1, 3, 64, 64)
    assert {k: tuple(v.shape) for k, v in maps.items()} == {
        "layer1": (1, 64, 16, 16),
        "layer2": (1, 128, 8, 8),
        "layer3": (1, 256, 4, 4),
        "layer4": (1, 512, 2, 2),
    }
    # the classifier head is not in the traced graph: resnet18 less Linear(512, 1000)
    assert params(model) == 11_689_512 - linear(512, 1000)
    assert list(out(zoo.feature_extractor("resnet18", layers=["layer2"]), 1, 3, 64, 64)) == [
        "layer2"
    ]


def test_text_encoder() -> None:
    model = zoo.text_encoder(d_model=32, nhead=4, num_layers=2, dim_feedforward=64)
    assert out(model, 2, 10, 32).shape == (2, 10, 32)
    d, ff = 32, 64
    layer = linear(d, 3 * d) + linear(d, d) + linear(d, ff) + linear(ff, d) + 2 * 2 * d
    assert params(model) == 2 * layer + 2 * d


def test_hf_text_without_transformers_is_unsupported_not_an_error() -> None:
    try:
        import transformers  # noqa: F401
    except ImportError:
        with pytest.raises(CaseUnsupported, match="hf extra"):
            zoo.hf_text("bert")
    else:
        model = zoo.hf_text("bert", hidden=32, num_layers=1, heads=2)
        assert out(model, 1, 8, 32).shape == (1, 8, 32)


def test_torchvision_adapter_never_downloads_a_backbone(monkeypatch) -> None:
    import torchvision

    seen: dict[str, object] = {}

    def builder(weights=None, progress=True, weights_backbone="imagenet", num_classes=91):
        seen.update(weights=weights, weights_backbone=weights_backbone, num_classes=num_classes)
        return nn.Identity()

    monkeypatch.setattr(torchvision.models, "get_model_builder", lambda name: builder)
    zoo.torchvision_model("some_detector", num_classes=3)
    assert seen == {"weights": None, "weights_backbone": None, "num_classes": 3}


def test_torchvision_adapter_builds_a_classifier_and_refuses_weights() -> None:
    model = zoo.torchvision_model("resnet18", num_classes=10)
    assert params(model) == 11_689_512 - linear(512, 1000) + linear(512, 10)
    with pytest.raises(ValueError, match="nothing is downloaded"):
        zoo.torchvision_model("resnet18", weights_backbone="x")
    with pytest.raises(ValueError, match="no model"):
        zoo.torchvision_model("resnet_nope")


def test_frozen_batchnorm_moves_the_affine_parameters_to_buffers() -> None:
    torch.manual_seed(0)
    plain = zoo.torchvision_model("resnet18")
    torch.manual_seed(0)
    frozen = zoo.torchvision_model("resnet18", frozen_batchnorm=True)
    bn_affine = sum(
        p.numel() for m in plain.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()
    )
    assert bn_affine == 9600 and params(frozen) == params(plain) - bn_affine
    plain.eval(), frozen.eval()
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(plain(x), frozen(x), atol=1e-5)  # the same function


def test_from_config_builds_the_model_class_from_its_config_class() -> None:
    pytest.importorskip("transformers")
    model = zoo.from_config(
        model="transformers:BertModel",
        config="transformers:BertConfig",
        config_kwargs={
            "vocab_size": 100,
            "hidden_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 32,
            "max_position_embeddings": 8,
        },
        model_kwargs={"add_pooling_layer": False},
    )
    embeddings = 100 * 16 + 8 * 16 + 2 * 16 + 2 * 16  # words, positions, token types, LayerNorm
    layer = 4 * linear(16, 16) + 2 * 16 + linear(16, 32) + linear(32, 16) + 2 * 16
    assert params(model) == embeddings + layer


def test_from_config_without_the_package_is_unsupported_not_an_error() -> None:
    with pytest.raises(CaseUnsupported):
        zoo.from_config(model="no_such_package_xyz:Model", config="no_such_package_xyz:Config")
    with pytest.raises(ValueError):
        zoo.from_config(model="transformers.BertModel", config="transformers:BertConfig")
