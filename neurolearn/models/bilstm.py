"""A stacked bidirectional LSTM with a linear head: the LFP notebook's Keras model.

Each layer is ``nnx.Bidirectional(RNN(cell_fwd), RNN(cell_bwd))`` with two separate cells
(separate parameters); its output at step t is ``[h_fwd(t), h_bwd(t)]`` where ``h_fwd(t)`` has
read ``x_1..x_t`` and ``h_bwd(t)`` has read ``x_T..x_t`` (``nnx.Bidirectional`` returns the
backward outputs in time order). Dropout follows every layer, then ``nnx.Linear``.

``readout="last"`` is Keras' ``Bidirectional(LSTM(h, return_sequences=False))`` for the last
layer: the forward direction's state after the last step, ``h_fwd(T)``, concatenated with the
backward direction's state after it has read the whole sequence backwards, ``h_bwd(1)``, i.e.
``[out[:, -1, :h], out[:, 0, h:]]``. (``out[:, -1]`` would pair ``h_fwd(T)`` with a backward
state that has read ``x_T`` only.) ``readout="sequence"`` gives an output at every step, which
depends on the whole window (not causal).

With the defaults and ``in_features=out_features=1`` it is the notebook's
``Bidirectional(LSTM(64, return_sequences=True)) → Dropout(0.2) → Bidirectional(LSTM(32)) →
Dropout(0.2) → Dense(1, sigmoid)`` with 75,073 parameters (33,792 + 41,216 + 65), except that
the model returns the **logit**: the sigmoid is applied by the loss and by the predictions.
Initialisation as Keras (see :mod:`neurolearn.models.lstm`).

``impl="fused"`` computes the same function with the same parameter tree differently: per
layer, the inputs of all steps are projected by one matmul per direction, then one
``jax.lax.scan`` runs both directions together (the backward one on the reversed sequence,
batched over the direction axis). It is not faster everywhere: on a 2-core CPU a training step
took longer than with ``nnx.Bidirectional`` (whose two independent scans XLA can run side by
side); see ``benchmarks/bench_lstm_cells.py`` and its results.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from .lstm import (
    _check_features,
    _check_input,
    _check_recurrent_config,
    _check_train_rngs,
    fused_weights,
    make_cell,
    zero_carry,
)

__all__ = ["BiLSTM", "BiLSTMConfig", "build"]

HEADS = ("linear",)
IMPLS = ("bidirectional", "fused")


@dataclass(frozen=True)
class BiLSTMConfig:
    """Architecture of :class:`BiLSTM`.

    Attributes:
        hidden: hidden units per direction of each stacked layer (a layer outputs ``2·h``
            features per step).
        dropout: dropout rate after each layer (between layers and before the head); used only
            when the model is called with ``train=True``.
        readout: ``"last"`` (one vector per window: the forward state after the last step and
            the backward state after the first, concatenated, as Keras) or ``"sequence"``
            (an output at every step).
        cell: ``"optimized"`` (``nnx.OptimizedLSTMCell``) or ``"plain"`` (``nnx.LSTMCell``);
            the same function and initialisation.
        head: ``"linear"`` (one Dense layer, no activation: logits).
        impl: ``"bidirectional"`` (``nnx.Bidirectional`` of two ``nnx.RNN``) or ``"fused"``
            (both directions in one scan after one input projection; the same parameters and
            outputs, not necessarily faster: see the module docstring).
    """

    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.2
    readout: str = "last"
    cell: str = "optimized"
    head: str = "linear"
    impl: str = "bidirectional"

    def __post_init__(self):
        _check_recurrent_config(self)
        if self.head not in HEADS:
            raise ValueError(f"BiLSTMConfig head must be one of {HEADS}, got {self.head!r}")
        if self.impl not in IMPLS:
            raise ValueError(f"BiLSTMConfig impl must be one of {IMPLS}, got {self.impl!r}")


def _fused_layer(layer: nnx.Bidirectional, x: jax.Array) -> jax.Array:
    """One bidirectional layer as one scan: ``(B, T, in) -> (B, T, 2h)``, same as ``layer(x)``."""
    cell_f, cell_b = layer.forward_rnn.cell, layer.backward_rnn.cell
    wf, uf, bf = fused_weights(cell_f)
    wb, ub, bb = fused_weights(cell_b)
    u = jnp.stack([uf, ub])  # (2, h, 4h)
    # Gate inputs of every step, direction-major and time first: (T, 2, B, 4h); the backward
    # direction reads the reversed sequence.
    proj = jnp.stack([x @ wf + bf[None, None, :], jnp.flip(x, axis=1) @ wb + bb[None, None, :]])
    proj = jnp.transpose(proj, (2, 0, 1, 3))
    gate, act = cell_f.gate_fn, cell_f.activation_fn

    def step(carry, p):
        c, h = carry  # (2, B, h)
        z = p + jnp.einsum("dbh,dhk->dbk", h, u)
        i, f, g, o = jnp.split(z, 4, axis=-1)
        c = gate(f) * c + gate(i) * act(g)
        h = gate(o) * act(c)
        return (c, h), h

    c0, _ = zero_carry(x.shape[0], cell_f.hidden_features)
    c0 = jnp.stack([c0, c0])
    _, hs = jax.lax.scan(step, (c0, c0), proj)  # (T, 2, B, h)
    fwd = jnp.transpose(hs[:, 0], (1, 0, 2))
    bwd = jnp.transpose(jnp.flip(hs[:, 1], axis=0), (1, 0, 2))  # back in time order
    return jnp.concatenate([fwd, bwd], axis=-1)


class BiLSTM(nnx.Module):
    """Stacked bidirectional LSTM + dropout + linear head (outputs logits).

    Args:
        cfg: the architecture (default ``BiLSTMConfig()``, the LFP notebook's model).
        in_features: input features per step.
        out_features: outputs per window ("last") or per step ("sequence").
        rngs: initialisation randomness (``params`` stream).

    Shapes:
        ``(batch, steps, in_features) -> (batch, out_features)`` for ``readout="last"``,
        ``-> (batch, steps, out_features)`` for ``"sequence"``; any ``steps >= 1``. The outputs
        are logits: apply ``jax.nn.sigmoid`` for probabilities (the loss does it itself).

    Parameters:
        ``2·4·(h·(h + in) + h)`` per layer of ``h`` units per direction reading ``in`` features
        (``in = 2·h_prev`` after the first), plus ``2·h_last·out_features + out_features``.
    """

    def __init__(
        self,
        cfg: BiLSTMConfig | None = None,
        *,
        in_features: int,
        out_features: int,
        rngs: nnx.Rngs,
    ):
        cfg = BiLSTMConfig() if cfg is None else cfg
        if not isinstance(cfg, BiLSTMConfig):
            raise TypeError(f"cfg must be a BiLSTMConfig, got {type(cfg).__name__}")
        _check_features(in_features, out_features)
        layers = []
        n_in = in_features
        for h in cfg.hidden:
            forward = nnx.RNN(make_cell(cfg.cell, n_in, h, rngs), rngs=False)
            backward = nnx.RNN(make_cell(cfg.cell, n_in, h, rngs), rngs=False)
            layers.append(nnx.Bidirectional(forward, backward, rngs=False))
            n_in = 2 * h
        self.layers = nnx.List(layers)
        self.dropout = nnx.Dropout(cfg.dropout)
        self.readout = nnx.Linear(
            n_in, out_features, kernel_init=nnx.initializers.glorot_uniform(), rngs=rngs
        )
        self.cfg = cfg
        self.in_features = in_features
        self.out_features = out_features

    @property
    def receptive_field(self) -> None:
        """None: every output can depend on every step of the window (unbounded)."""
        return None

    def __call__(
        self, x: jax.Array, *, train: bool = False, rngs: nnx.Rngs | None = None
    ) -> jax.Array:
        """Apply the model.

        Args:
            x: ``(batch, steps, in_features)``.
            train: apply dropout (drawing masks from ``rngs``); False: deterministic.
            rngs: needs a ``dropout`` stream when ``train`` and ``cfg.dropout > 0``.

        Returns:
            Logits, ``(batch, out_features)`` ("last") or ``(batch, steps, out_features)``
            ("sequence").
        """
        _check_input(x, self.in_features)
        _check_train_rngs(train, self.cfg.dropout, rngs)
        deterministic = not train
        h = x
        n = len(self.layers)
        for k, (layer, size) in enumerate(zip(self.layers, self.cfg.hidden, strict=True)):
            if self.cfg.impl == "fused":
                h = _fused_layer(layer, h)
            else:
                carry = zero_carry(x.shape[0], size)
                h = layer(h, initial_carry=(carry, carry))
            if k == n - 1 and self.cfg.readout == "last":
                # Keras: forward state after x_T, backward state after x_T..x_1 (which
                # nnx.Bidirectional puts at step 0, the backward outputs being in time order).
                h = jnp.concatenate([h[:, -1, :size], h[:, 0, size:]], axis=-1)
            h = self.dropout(h, deterministic=deterministic, rngs=rngs)
        return self.readout(h)


def build(cfg: BiLSTMConfig, *, in_features: int, out_features: int, rngs: nnx.Rngs) -> BiLSTM:
    """The :class:`BiLSTM` of ``cfg`` (``BiLSTM(cfg, in_features=..., out_features=..., rngs=...)``)."""
    return BiLSTM(cfg, in_features=in_features, out_features=out_features, rngs=rngs)
