"""torchvision's weight metadata as an oracle: which models carry published counts, and the
builder arguments of their pretrained configuration.

torchvision's `_ops` (GMACs at the weights' crop size) and `num_params` describe the model as
built *with* weights, and its builders change some arguments when given weights (their
`_ovewrite_named_param` calls). Building with `weights=None` and the same arguments gives the
same architecture without downloading anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# googlenet builds with aux heads to load the checkpoint, then drops them unless asked (so its
# num_params has none); inception_v3 keeps its aux head (its num_params includes it).
PRETRAINED_ARGUMENTS: dict[str, dict[str, Any]] = {
    "googlenet": {"aux_logits": False, "transform_input": True, "init_weights": False},
    "inception_v3": {"aux_logits": True, "transform_input": True, "init_weights": False},
}


def default_weights(name: str) -> Any:
    from torchvision.models import get_model_weights

    return get_model_weights(name).DEFAULT


def oracle_models() -> list[str]:
    """Every classification builder whose default weights publish `_ops` and `num_params`."""
    import torchvision
    from torchvision.models import list_models

    names = []
    for name in list_models(module=torchvision.models):
        meta = default_weights(name).meta
        if "_ops" in meta and "num_params" in meta:
            names.append(name)
    return names


def builder_arguments(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments torchvision's builder uses with these weights."""
    kwargs: dict[str, Any] = {"num_classes": len(meta["categories"])}
    kwargs.update(PRETRAINED_ARGUMENTS.get(name, {}))
    if name.startswith("vit_"):  # ViT builders size the position embedding to the weights
        kwargs["image_size"] = meta["min_size"][0]
    if name.startswith("maxvit"):
        kwargs["input_size"] = meta["min_size"]
    return kwargs


def crop_size(name: str) -> int:
    """The square input side the weights were evaluated at (their `_ops` is at this size)."""
    return int(default_weights(name).transforms().crop_size[0])


def quantized_oracle_models() -> list[str]:
    """Every quantized classification builder (`quantized_resnet18`, ...) whose default weights
    publish `_ops` and `num_params`.

    For these, torchvision states the *float* model's figures: `_ops` and `num_params` equal
    those of the weights' `unquantized` counterpart (torchvision's own tests compare
    `num_params` with the unquantized weights', since `parameters()` cannot see packed weights),
    for the model as built to load the checkpoint (inception_v3 with its aux head).
    """
    import torchvision.models.quantization
    from torchvision.models import list_models

    names = []
    for name in list_models(module=torchvision.models.quantization):
        meta = default_weights(name).meta
        if "_ops" in meta and "num_params" in meta:
            names.append(name)
    return names


def quantized_builder_arguments(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The quantized builder's arguments for these weights: the float model's pretrained
    arguments, `quantize=True`, and the weights' backend (fbgemm or qnnpack) where this torch
    has it. The builder sets torch's process-wide quantized engine to that backend."""
    import torch

    kwargs = builder_arguments(name.removeprefix("quantized_"), meta)
    kwargs["quantize"] = True
    if meta.get("backend") in torch.backends.quantized.supported_engines:
        kwargs["backend"] = meta["backend"]
    return kwargs


# --- The other families: segmentation, video, optical flow, detection ---------------------------
#
# torchvision computed their `_ops` with the script of its pull request 6936: one forward pass of
# the model as its weights build it, at an input size per family. The sizes below reproduce every
# published figure that does not depend on the data (see `data_dependent_reason`).

FAMILIES: tuple[str, ...] = ("segmentation", "video", "optical_flow", "detection")

# Clips of 16 frames (torchvision's script used t=16; the weights' own clip length for most).
VIDEO_FRAMES = 16
# RAFT's count is c1*A + c2*A^2 in the number A of cells at 1/8 resolution (the all-pairs
# correlation is the square term); solving both RAFT sizes' `_ops` for A gives 4096 = (512/8)^2,
# and two 512x512 frames reproduce both published figures exactly.
OPTICAL_FLOW_SIDE = 512

# Detection builders that swap the backbone's BatchNorm2d for FrozenBatchNorm2d when given
# weights (`norm_layer = FrozenBatchNorm2d if is_trained else nn.BatchNorm2d`): the frozen
# layers hold their scale and shift as buffers, so `num_params` leaves them out.
FROZEN_BATCH_NORM: frozenset[str] = frozenset(
    {
        "fasterrcnn_mobilenet_v3_large_320_fpn",
        "fasterrcnn_mobilenet_v3_large_fpn",
        "fasterrcnn_resnet50_fpn",
        "fcos_resnet50_fpn",
        "keypointrcnn_resnet50_fpn",
        "maskrcnn_resnet50_fpn",
        "retinanet_resnet50_fpn",
    }
)


@dataclass(frozen=True)
class OracleConfig:
    """One published figure to check: a builder and the weights that share its `_ops` and
    `num_params` (RAFT's six large weights are one architecture and one figure)."""

    family: str
    name: str
    weights: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.name}.{'+'.join(self.weights)}"

    @property
    def meta(self) -> dict[str, Any]:
        return _weights(self.name, self.weights[0]).meta


def _weights(name: str, member: str) -> Any:
    from torchvision.models import get_model_weights

    return get_model_weights(name)[member]


def family_configurations(family: str) -> list[OracleConfig]:
    """Every builder of a torchvision family (`torchvision.models.<family>`) with every distinct
    published (`_ops`, `num_params`) pair among its weights."""
    import importlib

    from torchvision.models import get_model_weights, list_models

    module = importlib.import_module(f"torchvision.models.{family}")
    configs = []
    for name in list_models(module=module):
        figures: dict[tuple[Any, ...], list[str]] = {}
        for weights in get_model_weights(name):
            meta = weights.meta
            if "_ops" in meta and "num_params" in meta:
                key = (meta["_ops"], meta["num_params"], len(meta.get("keypoint_names", ())))
                figures.setdefault(key, []).append(weights.name)
        configs += [OracleConfig(family, name, tuple(members)) for members in figures.values()]
    return configs


def family_builder_arguments(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The builder's keyword arguments for these weights' architecture, with nothing to
    download: what the builder's `_ovewrite_value_param` calls set when given the weights."""
    import inspect

    from torchvision.models import get_model_builder

    accepted = inspect.signature(get_model_builder(name)).parameters
    kwargs: dict[str, Any] = {"weights": None}
    if "weights_backbone" in accepted:
        kwargs["weights_backbone"] = None
    if "categories" in meta:
        kwargs["num_classes"] = len(meta["categories"])
    if "keypoint_names" in meta:
        kwargs["num_keypoints"] = len(meta["keypoint_names"])
    if "aux_loss" in accepted:  # fcn and deeplabv3 weights carry the auxiliary classifier
        kwargs["aux_loss"] = True
    return kwargs


def pretrained_architecture(name: str, model: Any) -> Any:
    """The model as its builder makes it with weights: frozen batch norm in the backbone of the
    builders in FROZEN_BATCH_NORM (the same arithmetic, fewer parameters)."""
    if name in FROZEN_BATCH_NORM:
        from bench.zoo.vision import freeze_batchnorm

        freeze_batchnorm(model.backbone)
    return model


def data_dependent_reason(name: str) -> str | None:
    """Why a model's MACs depend on its weights and input, or None when they do not."""
    import inspect

    from torchvision.models import get_model_builder
    from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN

    built = inspect.signature(get_model_builder(name)).return_annotation
    if isinstance(built, type) and issubclass(built, GeneralizedRCNN):
        return (
            "R-CNN: the RoI heads run on the proposals that survive the RPN's score threshold "
            "and NMS, and the mask/keypoint heads on the boxes that pass the detection score "
            "threshold, so the MACs follow the weights and the image"
        )
    return None


def input_side(config: OracleConfig, model: Any) -> int:
    """The square input side torchvision's `_ops` was computed at."""
    if config.family == "optical_flow":
        return OPTICAL_FLOW_SIDE
    if config.family == "detection":  # an image the model's transform does not rescale
        return int(model.transform.min_size[0])
    transforms = _weights(config.name, config.weights[0]).transforms()
    if config.family == "segmentation":
        return int(transforms.resize_size[0])
    return int(transforms.crop_size[0])  # video


def example_inputs(
    config: OracleConfig, model: Any, make: Callable[[tuple[int, ...]], Any]
) -> tuple[Any, ...]:
    """The positional arguments of one forward pass; `make(shape)` makes one tensor (empty on
    meta, seeded random on real tensors)."""
    side = input_side(config, model)
    if config.family == "video":
        return (make((1, 3, VIDEO_FRAMES, side, side)),)
    if config.family == "optical_flow":  # two frames
        return (make((1, 3, side, side)), make((1, 3, side, side)))
    if config.family == "detection":  # a list of images
        return ([make((3, side, side))],)
    return (make((1, 3, side, side)),)
