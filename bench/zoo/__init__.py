"""The seed notes' models, written afresh (the notes' snippets have bugs), built by factories.

Use them in a suite as `factory = "bench.zoo:<name>"`. Every factory takes keyword arguments only
(the configuration a user varies: channels, classes, widths, depth) and builds random weights;
`inplace` switches every in-place activation on or off where the model has activations.
"""

from bench.zoo.alexnet import alexnet
from bench.zoo.cnn import cifar10_net, mnist_cnn
from bench.zoo.config import from_config
from bench.zoo.fusion import image_and_features
from bench.zoo.inception import googlenet, inception_block
from bench.zoo.mlp import mlp, mlp_bn, mlp_relu
from bench.zoo.resnet import resnet
from bench.zoo.text import hf_text, text_encoder, token_encoder
from bench.zoo.transfer import feature_extractor, resnet50_finetune
from bench.zoo.unet import unet
from bench.zoo.vgg import vgg
from bench.zoo.vision import torchvision_model

__all__ = [
    "alexnet",
    "cifar10_net",
    "feature_extractor",
    "from_config",
    "googlenet",
    "hf_text",
    "image_and_features",
    "inception_block",
    "mlp",
    "mlp_bn",
    "mlp_relu",
    "mnist_cnn",
    "resnet",
    "resnet50_finetune",
    "text_encoder",
    "token_encoder",
    "torchvision_model",
    "unet",
    "vgg",
]
