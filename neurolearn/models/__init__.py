"""Models (Flax NNX): one concept per module."""

from .cnn import ConvNet1D as ConvNet1D
