"""An LSTM variational autoencoder of short windows (the calcium tutorial's, ``shared/seeds/001_…``).

Encoder: ``LSTM(hidden)`` over the window's features, its hidden state after the last step →
two dense layers to the mean and the log-variance of a ``latent``-dimensional Gaussian.
Decoder: the latent vector repeated at every step of the window (Keras ``RepeatVector``) →
``LSTM(hidden, return_sequences=True)`` → a dense read-out per step (Keras ``Dense`` on a
sequence). With the tutorial's sizes (hidden 64, latent 256, 3 input features per frame,
windows of 20 frames) it has 132,929 parameters, as the Keras model (see :func:`n_params`).

Randomness: in training (``train=True``) the latent is ``mean + exp(logvar / 2) · ε`` with ε
drawn from the ``noise`` stream of the ``rngs`` given to ``__call__`` (the reparameterisation
trick); at evaluation (``train=False``) the latent is the mean, so the output is deterministic.
(The tutorial's Keras layer sampled at prediction time as well.)

Initialisation: the LSTMs as :mod:`neurolearn.models.lstm` (Keras' defaults); the mean and
log-variance layers Glorot-normal with zero biases (the tutorial's ``VariationalLayer``); the
read-out Glorot-uniform with a zero bias (Keras' ``Dense``).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from .lstm import CELLS, _check_features, _check_input, make_cell, zero_carry

__all__ = ["LSTMVAE", "LSTMVAEConfig", "build", "kl_divergence", "n_params"]


@dataclass(frozen=True)
class LSTMVAEConfig:
    """Architecture of :class:`LSTMVAE`.

    Attributes:
        hidden: units of the encoder's and of the decoder's LSTM.
        latent: dimensions of the latent Gaussian.
        cell: ``"optimized"`` or ``"plain"`` (see :class:`neurolearn.models.lstm.LSTMConfig`).
    """

    hidden: int = 64
    latent: int = 256
    cell: str = "optimized"

    def __post_init__(self):
        for name in ("hidden", "latent"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"LSTMVAEConfig {name} must be an integer >= 1, got {v!r}")
        if self.cell not in CELLS:
            raise ValueError(f"LSTMVAEConfig cell must be one of {CELLS}, got {self.cell!r}")


def n_params(in_features: int, out_features: int = 1, *, hidden: int = 64, latent: int = 256):
    """The parameter count of the Keras model (and of :class:`LSTMVAE`): an LSTM of ``h`` units
    reading ``n`` features has ``4·h·(n + h + 1)``, a dense layer ``n·m + m``."""
    lstm = 4 * hidden * (in_features + hidden + 1) + 4 * hidden * (latent + hidden + 1)
    return lstm + 2 * (hidden * latent + latent) + hidden * out_features + out_features


def kl_divergence(mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """KL(N(mean, exp(logvar)) ‖ N(0, I)) of each row, summed over the latent dimensions:
    ``-½ Σ (1 + logvar - mean² - exp(logvar))`` (the tutorial's ``kl_loss``), shape (batch,)."""
    return -0.5 * jnp.sum(1.0 + logvar - jnp.square(mean) - jnp.exp(logvar), axis=-1)


class LSTMVAE(nnx.Module):
    """The tutorial's LSTM-VAE.

    Args:
        cfg: the architecture (default ``LSTMVAEConfig()``).
        in_features: input features per step (the tutorial: 3, [x, Δx, x²]).
        out_features: reconstructed values per step (the tutorial: 1, the calcium trace).
        rngs: initialisation randomness (``params`` stream).

    Shapes: ``encode``: ``(batch, steps, in_features) -> 2 × (batch, latent)``; ``decode``:
    ``(batch, latent) -> (batch, steps, out_features)``.
    """

    def __init__(
        self,
        cfg: LSTMVAEConfig | None = None,
        *,
        in_features: int,
        out_features: int = 1,
        rngs: nnx.Rngs,
    ):
        cfg = LSTMVAEConfig() if cfg is None else cfg
        if not isinstance(cfg, LSTMVAEConfig):
            raise TypeError(f"cfg must be an LSTMVAEConfig, got {type(cfg).__name__}")
        _check_features(in_features, out_features)
        h, z = cfg.hidden, cfg.latent
        self.encoder = nnx.RNN(make_cell(cfg.cell, in_features, h, rngs), rngs=False)
        glorot_normal = nnx.initializers.glorot_normal()
        self.to_mean = nnx.Linear(h, z, kernel_init=glorot_normal, rngs=rngs)
        self.to_logvar = nnx.Linear(h, z, kernel_init=glorot_normal, rngs=rngs)
        self.decoder = nnx.RNN(make_cell(cfg.cell, z, h, rngs), rngs=False)
        self.readout = nnx.Linear(
            h, out_features, kernel_init=nnx.initializers.glorot_uniform(), rngs=rngs
        )
        self.cfg = cfg
        self.in_features = in_features
        self.out_features = out_features

    @property
    def receptive_field(self) -> None:
        """None: every output step depends on the whole window (through the latent)."""
        return None

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """``(mean, logvar)`` of the latent Gaussian of each window, each (batch, latent)."""
        _check_input(x, self.in_features)
        h = self.encoder(x, initial_carry=zero_carry(x.shape[0], self.cfg.hidden))[:, -1]
        return self.to_mean(h), self.to_logvar(h)

    def decode(self, z: jax.Array, steps: int) -> jax.Array:
        """The window of ``steps`` steps that latent ``z`` (batch, latent) decodes to,
        (batch, steps, out_features)."""
        if z.ndim != 2 or z.shape[-1] != self.cfg.latent:
            raise ValueError(
                f"latent vectors must have shape (batch, {self.cfg.latent}), got {tuple(z.shape)}"
            )
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        repeated = jnp.broadcast_to(z[:, None, :], (z.shape[0], steps, z.shape[1]))
        h = self.decoder(repeated, initial_carry=zero_carry(z.shape[0], self.cfg.hidden))
        return self.readout(h)

    def sample(self, n: int, steps: int, *, key: jax.Array) -> jax.Array:
        """``n`` windows decoded from latents drawn from the prior N(0, I),
        (n, steps, out_features)."""
        z = jax.random.normal(key, (n, self.cfg.latent), jnp.float32)
        return self.decode(z, steps)

    def __call__(
        self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None
    ) -> dict[str, jax.Array]:
        """Encode, sample the latent (training) or take its mean (evaluation), decode.

        Args:
            x: ``(batch, steps, in_features)``.
            train: draw the latent with the reparameterisation trick from ``rngs.noise()``;
                False: use the mean (deterministic).
            rngs: needs a ``noise`` stream when ``train``.

        Returns:
            ``{"recon": (batch, steps, out_features), "mean": (batch, latent),
            "logvar": (batch, latent)}``.
        """
        mean, logvar = self.encode(x)
        if train:
            if rngs is None:
                raise ValueError(
                    "train=True needs rngs with a 'noise' stream for the reparameterisation, "
                    "e.g. rngs=nnx.Rngs(noise=key)"
                )
            eps = jax.random.normal(rngs.noise(), mean.shape, mean.dtype)
            z = mean + jnp.exp(0.5 * logvar) * eps
        else:
            z = mean
        return {"recon": self.decode(z, x.shape[1]), "mean": mean, "logvar": logvar}


def build(cfg: LSTMVAEConfig, *, in_features: int, out_features: int, rngs: nnx.Rngs) -> LSTMVAE:
    """The :class:`LSTMVAE` of ``cfg``."""
    return LSTMVAE(cfg, in_features=in_features, out_features=out_features, rngs=rngs)
