"""A 1-D convolutional network that maps a sequence to a sequence of the same length.

The hh-voltage seed's model: Conv1D layers with ReLU, then a per-step Dense layer (Keras'
``TimeDistributed(Dense)``), 'same' padding. With channels (2, 6, 16) and kernels (11, 5, 1) it
has 219 parameters. ``causal=True`` pads on the left only, so the output at step t depends on
inputs up to t (what a real-time predictor can use); 'same' padding sees ``(k-1)//2`` steps of
the future per layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
from flax import nnx

__all__ = ["CNNConfig", "ConvNet1D", "build"]


@dataclass(frozen=True)
class CNNConfig:
    """Settings of :class:`ConvNet1D` (defaults: the hh-voltage seed's 219-parameter model).

    Attributes:
        channels: output channels of each Conv1D layer.
        kernels: kernel sizes (steps) of each Conv1D layer.
        causal: left padding only (no look-ahead) instead of 'same'.
    """

    channels: tuple[int, ...] = (2, 6, 16)
    kernels: tuple[int, ...] = (11, 5, 1)
    causal: bool = False

    def __post_init__(self):
        if len(self.channels) != len(self.kernels) or not self.channels:
            raise ValueError(
                f"config model.channels {list(self.channels)} and model.kernels "
                f"{list(self.kernels)} must be non-empty lists of the same length"
            )
        if any(k < 1 for k in self.kernels) or any(c < 1 for c in self.channels):
            raise ValueError(
                f"config model.channels and model.kernels must be >= 1, got "
                f"{list(self.channels)} and {list(self.kernels)}"
            )


class ConvNet1D(nnx.Module):
    """Conv1D stack + per-step linear read-out.

    Args:
        in_channels: input features per step.
        out_channels: outputs per step.
        channels: output channels of each convolution.
        kernels: kernel size (steps) of each convolution (odd sizes keep 'same' centred).
        causal: left padding only (output at t sees inputs ≤ t).
        rngs: initialisation randomness (Glorot-uniform kernels, zero biases, as Keras).

    Shapes:
        ``(batch, steps, in_channels) -> (batch, steps, out_channels)``; any ``steps``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        channels: Sequence[int] = (2, 6, 16),
        kernels: Sequence[int] = (11, 5, 1),
        causal: bool = False,
        rngs: nnx.Rngs,
    ):
        if len(channels) != len(kernels) or not channels:
            raise ValueError(
                f"channels {list(channels)} and kernels {list(kernels)} must be non-empty and "
                "of the same length"
            )
        if any(k < 1 for k in kernels) or any(c < 1 for c in channels):
            raise ValueError(f"kernels and channels must be >= 1, got {kernels}, {channels}")
        init = nnx.initializers.glorot_uniform()
        padding = "CAUSAL" if causal else "SAME"
        layers = []
        c_in = in_channels
        for c, k in zip(channels, kernels, strict=True):
            layers.append(
                nnx.Conv(c_in, c, kernel_size=(k,), padding=padding, kernel_init=init, rngs=rngs)
            )
            c_in = c
        self.convs = nnx.List(layers)
        self.readout = nnx.Linear(c_in, out_channels, kernel_init=init, rngs=rngs)
        self.kernels = tuple(int(k) for k in kernels)
        self.causal = bool(causal)

    @property
    def receptive_field(self) -> int:
        """Input steps that influence one output step: ``1 + Σ(k − 1)``."""
        return 1 + sum(k - 1 for k in self.kernels)

    def __call__(self, x: jax.Array, *, train: bool = False, rngs=None) -> jax.Array:
        """``(batch, steps, in_channels) -> (batch, steps, out_channels)`` (``train`` and
        ``rngs`` are accepted for the common model signature; nothing here is random)."""
        for conv in self.convs:
            x = nnx.relu(conv(x))
        return self.readout(x)


def build(cfg: CNNConfig, *, in_features: int, out_features: int, rngs: nnx.Rngs) -> ConvNet1D:
    """The :class:`ConvNet1D` of ``cfg`` (model registry entry ``cnn``)."""
    return ConvNet1D(
        in_features,
        out_features,
        channels=cfg.channels,
        kernels=cfg.kernels,
        causal=cfg.causal,
        rngs=rngs,
    )
