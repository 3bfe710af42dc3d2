"""A 1-D convolutional network: a sequence to a sequence of the same length, or a window to one
value.

Sequence to sequence (``window=None``): the hh-voltage seed's model, Conv1D layers with ReLU,
then a per-step Dense layer (Keras' ``TimeDistributed(Dense)``), 'same' padding. With channels
(2, 6, 16) and kernels (11, 5, 1) it has 219 parameters. ``causal=True`` pads on the left only,
so the output at step t depends on inputs up to t (what a real-time predictor can use); 'same'
padding sees ``(k-1)//2`` steps of the future per layer.

Window to value (``window=W``): convolutions without padding (Keras 'valid'), optional max
pooling after each (``pools``), a per-step Dense + ReLU of ``dense`` units, then Flatten and a
Dense read-out: one output per window of exactly W steps. The Spikefinder "elephant" CNN
(Rupprecht and Bhatt, ``shared/seeds/002_…``): channels (50, 60, 70), kernels (41, 21, 7),
pools (1, 2, 2), dense 300, window 128: 120,131 parameters.
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
        causal: left padding only (no look-ahead) instead of 'same' (sequence models).
        pools: max-pool size after each convolution (1: none; empty: none anywhere).
        dense: units of a per-step Dense + ReLU before the read-out (0: none).
        window: None (sequence to sequence, padded convolutions) or the steps of the input
            window (unpadded convolutions, Flatten, one output per window).
    """

    channels: tuple[int, ...] = (2, 6, 16)
    kernels: tuple[int, ...] = (11, 5, 1)
    causal: bool = False
    pools: tuple[int, ...] = ()
    dense: int = 0
    window: int | None = None

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
        check_layout(self.channels, self.kernels, self.pools, self.dense, self.window,
                     self.causal, prefix="config model.")  # fmt: skip


def check_layout(channels, kernels, pools, dense, window, causal, *, prefix="") -> int | None:
    """Validate pooling, dense and window settings; the steps left before the Flatten of a
    window model (None for a sequence model)."""
    if pools and len(pools) != len(channels):
        raise ValueError(
            f"{prefix}pools {list(pools)} must be empty or have one size per convolution "
            f"({len(channels)})"
        )
    if any(p < 1 for p in pools):
        raise ValueError(f"{prefix}pools must be >= 1, got {list(pools)}")
    if dense < 0:
        raise ValueError(f"{prefix}dense must be >= 0 units, got {dense}")
    if window is None:
        if any(p != 1 for p in pools):
            raise ValueError(
                f"{prefix}pools {list(pools)} need a window model (set {prefix}window): pooling "
                "shortens the sequence"
            )
        return None
    if causal:
        raise ValueError(
            f"{prefix}causal applies to sequence models; a window model has no padding"
        )
    steps = int(window)
    for i, k in enumerate(kernels):
        steps -= k - 1
        if steps < 1:
            raise ValueError(
                f"{prefix}window {window} is too short for the unpadded kernels "
                f"{list(kernels)}: nothing is left after convolution {i + 1}"
            )
        p = pools[i] if pools else 1
        steps //= p
        if steps < 1:
            raise ValueError(
                f"{prefix}window {window} is too short: nothing is left after pool {i + 1} "
                f"(size {p})"
            )
    return steps


class ConvNet1D(nnx.Module):
    """Conv1D stack + per-step linear read-out.

    Args:
        in_channels: input features per step.
        out_channels: outputs per step.
        channels: output channels of each convolution.
        kernels: kernel size (steps) of each convolution (odd sizes keep 'same' centred).
        causal: left padding only (output at t sees inputs ≤ t).
        pools, dense, window: see :class:`CNNConfig`.
        rngs: initialisation randomness (Glorot-uniform kernels, zero biases, as Keras).

    Shapes:
        ``(batch, steps, in_channels) -> (batch, steps, out_channels)``, any ``steps``
        (``window=None``); ``(batch, window, in_channels) -> (batch, out_channels)`` (a window
        model).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        *,
        channels: Sequence[int] = (2, 6, 16),
        kernels: Sequence[int] = (11, 5, 1),
        causal: bool = False,
        pools: Sequence[int] = (),
        dense: int = 0,
        window: int | None = None,
        rngs: nnx.Rngs,
    ):
        if len(channels) != len(kernels) or not channels:
            raise ValueError(
                f"channels {list(channels)} and kernels {list(kernels)} must be non-empty and "
                "of the same length"
            )
        if any(k < 1 for k in kernels) or any(c < 1 for c in channels):
            raise ValueError(f"kernels and channels must be >= 1, got {kernels}, {channels}")
        left = check_layout(channels, kernels, tuple(pools), dense, window, causal)
        init = nnx.initializers.glorot_uniform()
        padding = "VALID" if window is not None else "CAUSAL" if causal else "SAME"
        layers = []
        c_in = in_channels
        for c, k in zip(channels, kernels, strict=True):
            layers.append(
                nnx.Conv(c_in, c, kernel_size=(k,), padding=padding, kernel_init=init, rngs=rngs)
            )
            c_in = c
        self.convs = nnx.List(layers)
        self.hidden = nnx.Linear(c_in, dense, kernel_init=init, rngs=rngs) if dense else None
        c_in = dense or c_in
        flat = c_in * left if window is not None else c_in
        self.readout = nnx.Linear(flat, out_channels, kernel_init=init, rngs=rngs)
        self.kernels = tuple(int(k) for k in kernels)
        self.pools = tuple(int(p) for p in pools) or (1,) * len(self.kernels)
        self.causal = bool(causal)
        self.window = None if window is None else int(window)

    @property
    def receptive_field(self) -> int:
        """Input steps that influence one output: ``1 + Σ(k − 1)`` (a sequence model), the
        window (a window model)."""
        if self.window is not None:
            return self.window
        return 1 + sum(k - 1 for k in self.kernels)

    def __call__(self, x: jax.Array, *, train: bool = False, rngs=None) -> jax.Array:
        """``(batch, steps, in_channels) -> (batch, steps, out_channels)``, or ``(batch,
        out_channels)`` for a window model (``train`` and ``rngs`` are accepted for the common
        model signature; nothing here is random)."""
        if self.window is not None and x.shape[1] != self.window:
            raise ValueError(f"this model takes windows of {self.window} steps, got {x.shape[1]}")
        for conv, p in zip(self.convs, self.pools, strict=True):
            x = nnx.relu(conv(x))
            if p > 1:
                x = nnx.max_pool(x, (p,), strides=(p,))
        if self.hidden is not None:
            x = nnx.relu(self.hidden(x))
        if self.window is not None:
            x = x.reshape(x.shape[0], -1)
        return self.readout(x)


def build(cfg: CNNConfig, *, in_features: int, out_features: int, rngs: nnx.Rngs) -> ConvNet1D:
    """The :class:`ConvNet1D` of ``cfg`` (model registry entry ``cnn``)."""
    return ConvNet1D(
        in_features,
        out_features,
        channels=cfg.channels,
        kernels=cfg.kernels,
        causal=cfg.causal,
        pools=cfg.pools,
        dense=cfg.dense,
        window=cfg.window,
        rngs=rngs,
    )
