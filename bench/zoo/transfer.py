"""Transfer learning as the seed notes do it: a ResNet-50 with a replaced classifier head and
frozen layers, and a wrapper that returns a backbone's intermediate feature maps.

Both start from torchvision builders with `weights=None`: nothing is downloaded, the weights are
random, and params, FLOPs, latency and memory do not depend on their values. Frozen parameters
(`requires_grad = False`) show up as trainable_params < params and, in `train` mode, as a
backward that stops at the first trainable layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torchvision
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

RESNET_STAGES = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")


def resnet50_finetune(
    num_classes: int = 100, trainable: Sequence[str] = (), inplace: bool = True
) -> nn.Module:
    """torchvision's ResNet-50 with `fc` replaced by Linear(2048, num_classes).

    Every parameter is frozen except the new head and the stages named in `trainable` (any of
    conv1, bn1, layer1 ... layer4), as in the notes' "fix the other parameters, train only the
    classifier" example.
    """
    unknown = sorted(set(trainable) - set(RESNET_STAGES))
    if unknown:
        raise ValueError(f"unknown stage {unknown[0]!r}; allowed: {', '.join(RESNET_STAGES)}")
    model = torchvision.models.resnet50(weights=None)
    for param in model.parameters():
        param.requires_grad = False
    for name in trainable:
        for param in getattr(model, name).parameters():
            param.requires_grad = True
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    for module in model.modules():
        if isinstance(module, nn.ReLU):
            module.inplace = inplace
    return model


def feature_extractor(
    backbone: str = "resnet18",
    layers: Sequence[str] = ("layer1", "layer2", "layer3", "layer4"),
    **backbone_kwargs: object,
) -> nn.Module:
    """A torchvision backbone traced (torch.fx) to return the named nodes' outputs as a dict.

    `layers` are node names of the backbone (`torchvision.models.feature_extraction.
    get_graph_node_names` lists them). Modules after the last requested node (a classifier head)
    are not part of the traced graph, so they add neither parameters nor FLOPs.
    """
    if not layers:
        raise ValueError("layers must name at least one node")
    builder = getattr(torchvision.models, backbone, None)
    if builder is None or not callable(builder):
        raise ValueError(f"torchvision.models has no builder {backbone!r}")
    model = builder(weights=None, **backbone_kwargs)
    return create_feature_extractor(model, return_nodes={name: name for name in layers})
