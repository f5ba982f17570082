"""The seed notes' models, written afresh (the notes' snippets have bugs), built by factories.

Use them in a suite as `factory = "bench.zoo:<name>"`. Every factory takes keyword arguments only
and builds random weights; `inplace` switches every in-place activation on or off.
"""

from bench.zoo.cnn import cifar10_net, mnist_cnn
from bench.zoo.mlp import mlp, mlp_bn, mlp_relu
from bench.zoo.resnet import inception_block, resnet
from bench.zoo.unet import unet

__all__ = [
    "cifar10_net",
    "inception_block",
    "mlp",
    "mlp_bn",
    "mlp_relu",
    "mnist_cnn",
    "resnet",
    "unet",
]
