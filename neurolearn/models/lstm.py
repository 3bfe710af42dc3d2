"""A stacked (unidirectional) LSTM with a linear read-out.

Layers: ``nnx.RNN(LSTM cell)`` per entry of ``LSTMConfig.hidden``, dropout after each layer, then
``nnx.Linear``. ``readout="last"`` maps a window to one output vector (the last layer's hidden
state after the last step, Keras ``LSTM(return_sequences=False)``); ``readout="sequence"`` gives an
output at every step (Keras ``return_sequences=True`` + ``TimeDistributed(Dense)``), and the
output at step t depends on inputs up to t only (causal).

Initialisation follows Keras' ``LSTM`` defaults, not flax's: Glorot-uniform input kernels,
orthogonal recurrent kernels (both drawn for all four gates at once, shapes ``(in, 4h)`` and
``(h, 4h)``), zero biases except the forget gate's, which start at 1 (``unit_forget_bias``). Both
cell implementations get the same weights from the same seed, so ``cell="optimized"`` and
``cell="plain"`` compute the same function. The read-out is Glorot-uniform with a zero bias.

The modules hold parameters only (no RNG state): the recurrent state starts at zero, and dropout
draws its masks from the ``rngs`` passed to ``__call__``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["LSTM", "LSTMConfig", "build", "lstm_layer"]

READOUTS = ("last", "sequence")
CELLS = ("optimized", "plain")
IMPLS = ("rnn", "vjp")

# Gate order along the 4h axis of flax's OptimizedLSTMCell (jnp.split into i, f, g, o), and the
# names of the per-gate Linear layers of LSTMCell (input part, recurrent part).
GATES = ("i", "f", "g", "o")
_PLAIN_INPUT = ("ii", "if_", "ig", "io")
_PLAIN_HIDDEN = ("hi", "hf", "hg", "ho")


def _check_recurrent_config(cfg) -> None:
    """Validate (and normalise ``hidden`` to a tuple of ints) the fields shared by the configs."""
    name = type(cfg).__name__
    hidden = cfg.hidden
    if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
        raise ValueError(
            f"{name} hidden must be a sequence of layer sizes, e.g. (64,), got {hidden!r}"
        )
    hidden = tuple(hidden)
    if not hidden or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(
            f"{name} hidden must be a non-empty sequence of integer layer sizes >= 1, "
            f"got {cfg.hidden!r}"
        )
    object.__setattr__(cfg, "hidden", hidden)
    dropout = cfg.dropout
    if (
        isinstance(dropout, bool)
        or not isinstance(dropout, (int, float))
        or not math.isfinite(dropout)
        or not 0.0 <= dropout < 1.0
    ):
        raise ValueError(f"{name} dropout must be a rate in [0, 1), got {dropout!r}")
    if cfg.readout not in READOUTS:
        raise ValueError(f"{name} readout must be one of {READOUTS}, got {cfg.readout!r}")
    if cfg.cell not in CELLS:
        raise ValueError(f"{name} cell must be one of {CELLS}, got {cfg.cell!r}")


def _check_features(in_features: int, out_features: int) -> None:
    for label, n in (("in_features", in_features), ("out_features", out_features)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"{label} must be an integer >= 1, got {n!r}")


def _check_input(x: jax.Array, in_features: int) -> None:
    if x.ndim != 3 or x.shape[-1] != in_features:
        raise ValueError(
            f"input must have shape (batch, steps, {in_features}), got {tuple(x.shape)}"
        )
    if x.shape[1] < 1:
        raise ValueError(f"input must have at least one step, got shape {tuple(x.shape)}")


def _check_train_rngs(train: bool, rate: float, rngs) -> None:
    if train and rate > 0 and rngs is None:
        raise ValueError(
            f"train=True with dropout {rate} needs rngs with a 'dropout' stream, e.g. "
            "rngs=nnx.Rngs(dropout=key)"
        )


@partial(jax.jit, static_argnums=(1, 2))
def _keras_weights(key: jax.Array, in_features: int, hidden: int):
    """Keras' LSTM initialisation in the fused layout (gates i, f, g, o), in one compiled call.

    Returns:
        ``(W (in, 4h), U (h, 4h), b (4h,))`` and the same split per gate, as three 4-tuples.
    """
    k_in, k_rec = jax.random.split(key)
    w = nnx.initializers.glorot_uniform()(k_in, (in_features, 4 * hidden), jnp.float32)
    u = nnx.initializers.orthogonal()(k_rec, (hidden, 4 * hidden), jnp.float32)
    b = jnp.zeros((4 * hidden,), jnp.float32).at[hidden : 2 * hidden].set(1.0)
    per_gate = tuple(tuple(jnp.split(a, 4, axis=-1)) for a in (w, u, b))
    return (w, u, b), per_gate


def _placeholder(key, shape, dtype=jnp.float32):
    # replaced by make_cell right away; NumPy zeros cost no compilation
    return np.zeros(shape, dtype)


def make_cell(kind: str, in_features: int, hidden: int, rngs: nnx.Rngs) -> nnx.Module:
    """One LSTM cell with Keras' initialisation (see the module docstring).

    Args:
        kind: ``"optimized"`` (``nnx.OptimizedLSTMCell``: one ``(in, 4h)`` and one ``(h, 4h)``
            kernel, gates i, f, g, o) or ``"plain"`` (``nnx.LSTMCell``: one Linear per gate).
        in_features: inputs per step.
        hidden: hidden units h.
        rngs: draws exactly one key from the ``params`` stream, whatever ``kind``.

    Returns:
        The cell; its carry is ``(c, h)``, each ``(batch, hidden)``.
    """
    if kind not in CELLS:
        raise ValueError(f"cell must be one of {CELLS}, got {kind!r}")
    key = rngs.params()
    (w, u, b), (ws, us, bs) = _keras_weights(key, in_features, hidden)
    cls = nnx.OptimizedLSTMCell if kind == "optimized" else nnx.LSTMCell
    cell = cls(
        in_features,
        hidden,
        kernel_init=_placeholder,
        recurrent_kernel_init=_placeholder,
        bias_init=_placeholder,
        rngs=nnx.Rngs(params=key),
    )
    if kind == "optimized":
        cell.dense_i.kernel.set_value(w)
        cell.dense_h.kernel.set_value(u)
        cell.dense_h.bias.set_value(b)
    else:
        for j, (gi, gh) in enumerate(zip(_PLAIN_INPUT, _PLAIN_HIDDEN, strict=True)):
            getattr(cell, gi).kernel.set_value(ws[j])
            getattr(cell, gh).kernel.set_value(us[j])
            getattr(cell, gh).bias.set_value(bs[j])
    return cell


def fused_weights(cell: nnx.Module) -> tuple[jax.Array, jax.Array, jax.Array]:
    """A cell's parameters in the fused layout, whatever its class.

    Returns:
        ``(W (in, 4h), U (h, 4h), b (4h,))`` with the gates in the order i, f, g, o: the gate
        pre-activations of one step are ``x @ W + h @ U + b``.
    """
    if isinstance(cell, nnx.OptimizedLSTMCell):
        return cell.dense_i.kernel[...], cell.dense_h.kernel[...], cell.dense_h.bias[...]
    if isinstance(cell, nnx.LSTMCell):
        w = jnp.concatenate([getattr(cell, n).kernel[...] for n in _PLAIN_INPUT], axis=-1)
        u = jnp.concatenate([getattr(cell, n).kernel[...] for n in _PLAIN_HIDDEN], axis=-1)
        b = jnp.concatenate([getattr(cell, n).bias[...] for n in _PLAIN_HIDDEN], axis=-1)
        return w, u, b
    raise TypeError(f"expected an nnx.OptimizedLSTMCell or nnx.LSTMCell, got {type(cell)}")


def zero_carry(batch: int, hidden: int) -> tuple[jax.Array, jax.Array]:
    """The initial ``(c, h)`` of an LSTM cell: zeros of shape ``(batch, hidden)``."""
    z = jnp.zeros((batch, hidden), jnp.float32)
    return z, z


def _lstm_scan(w, u, b, x):
    """Forward pass of one layer, time-major ``x (T, B, in)``: hidden states, cells, gates."""
    _, batch, _ = x.shape
    h = u.shape[0]
    xp = jnp.einsum("tbi,ig->tbg", x, w) + b[None, None, :]  # all steps' projections at once

    def body(carry, xp_t):
        h_prev, c_prev = carry
        z = xp_t + h_prev @ u
        i = jax.nn.sigmoid(z[..., :h])
        f = jax.nn.sigmoid(z[..., h : 2 * h])
        g = jnp.tanh(z[..., 2 * h : 3 * h])
        o = jax.nn.sigmoid(z[..., 3 * h :])
        c = f * c_prev + i * g
        h_new = o * jnp.tanh(c)
        return (h_new, c), (h_new, c, jnp.concatenate([i, f, g, o], axis=-1))

    z0 = jnp.zeros((batch, h), x.dtype)
    _, (hs, cs, gates) = jax.lax.scan(body, (z0, z0), xp)
    return hs, cs, gates


@jax.custom_vjp
def lstm_layer(w, u, b, x):
    """One LSTM layer from a zero state with a hand-written backward pass.

    Args:
        w, u, b: the fused weights ``(in, 4h)``, ``(h, 4h)``, ``(4h,)`` (gates i, f, g, o; as
            :func:`fused_weights`).
        x: ``(steps, batch, in)``, time-major.

    Returns:
        ``(steps, batch, h)``: the hidden state after every step, as ``nnx.RNN`` of the cell
        (batch-major there).

    The backward pass runs one reverse scan that carries ``(dh, dc)`` and does one matmul a step
    (``dz @ uᵀ``); the gradients of ``w``, ``u``, ``b`` and ``x`` are then each one matmul (or
    sum) over all steps at once, where JAX's derivative of the scan accumulates them step by step.
    """
    return _lstm_scan(w, u, b, x)[0]


def _lstm_layer_fwd(w, u, b, x):
    hs, cs, gates = _lstm_scan(w, u, b, x)
    return hs, (w, u, x, hs, cs, gates)


def _lstm_layer_bwd(res, dhs):
    w, u, x, hs, cs, gates = res
    _, batch, h = hs.shape
    zero = jnp.zeros((1, batch, h), hs.dtype)
    c_prev = jnp.concatenate([zero, cs[:-1]], axis=0)
    h_prev = jnp.concatenate([zero, hs[:-1]], axis=0)
    u_t = u.T

    def body(carry, inp):
        dh_next, dc_next = carry
        dh_t, g4, c, cp = inp
        i, f, g, o = (g4[..., k * h : (k + 1) * h] for k in range(4))
        tc = jnp.tanh(c)
        dh = dh_t + dh_next
        dc = dc_next + dh * o * (1.0 - tc * tc)
        dz = jnp.concatenate(
            [
                dc * g * i * (1.0 - i),
                dc * cp * f * (1.0 - f),
                dc * i * (1.0 - g * g),
                dh * tc * o * (1.0 - o),
            ],
            axis=-1,
        )
        return (dz @ u_t, dc * f), dz

    zc = jnp.zeros((batch, h), hs.dtype)
    _, dz = jax.lax.scan(body, (zc, zc), (dhs, gates, cs, c_prev), reverse=True)
    dw = jnp.einsum("tbi,tbg->ig", x, dz)
    du = jnp.einsum("tbh,tbg->hg", h_prev, dz)
    db = dz.sum(axis=(0, 1))
    dx = jnp.einsum("tbg,ig->tbi", dz, w)
    return dw, du, db, dx


lstm_layer.defvjp(_lstm_layer_fwd, _lstm_layer_bwd)


@dataclass(frozen=True)
class LSTMConfig:
    """Architecture of :class:`LSTM`.

    Attributes:
        hidden: hidden units of each stacked layer, first to last.
        dropout: dropout rate after each layer (between layers and before the read-out); used
            only when the model is called with ``train=True``.
        readout: ``"last"`` (one output vector per window, from the last step's hidden state)
            or ``"sequence"`` (an output at every step).
        cell: ``"optimized"`` (``nnx.OptimizedLSTMCell``, one matmul for the four gates) or
            ``"plain"`` (``nnx.LSTMCell``, one per gate); the same function and initialisation.
        impl: ``"rnn"`` (``nnx.RNN`` over the cell, differentiated by JAX) or ``"vjp"``
            (:func:`lstm_layer`: the inputs of all steps projected by one matmul, and a
            hand-written backward pass whose weight gradients are one matmul each over all
            steps); the same parameters and function (equal to float32 rounding).
    """

    hidden: tuple[int, ...] = (64,)
    dropout: float = 0.0
    readout: str = "last"
    cell: str = "optimized"
    impl: str = "rnn"

    def __post_init__(self):
        _check_recurrent_config(self)
        if self.impl not in IMPLS:
            raise ValueError(f"LSTMConfig impl must be one of {IMPLS}, got {self.impl!r}")


class LSTM(nnx.Module):
    """Stacked LSTM + dropout + linear read-out.

    Args:
        cfg: the architecture (default ``LSTMConfig()``).
        in_features: input features per step.
        out_features: outputs per window ("last") or per step ("sequence").
        rngs: initialisation randomness (``params`` stream).

    Shapes:
        ``(batch, steps, in_features) -> (batch, out_features)`` for ``readout="last"``,
        ``-> (batch, steps, out_features)`` for ``"sequence"``; any ``steps >= 1``. The outputs
        are unbounded (no activation after the read-out).

    Parameters:
        ``4·(h·(h + in) + h)`` per layer of ``h`` units reading ``in`` features (Keras' count),
        plus ``h_last·out_features + out_features`` for the read-out.
    """

    def __init__(
        self,
        cfg: LSTMConfig | None = None,
        *,
        in_features: int,
        out_features: int,
        rngs: nnx.Rngs,
    ):
        cfg = LSTMConfig() if cfg is None else cfg
        if not isinstance(cfg, LSTMConfig):
            raise TypeError(f"cfg must be an LSTMConfig, got {type(cfg).__name__}")
        _check_features(in_features, out_features)
        layers = []
        n_in = in_features
        for h in cfg.hidden:
            layers.append(nnx.RNN(make_cell(cfg.cell, n_in, h, rngs), rngs=False))
            n_in = h
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
        """None: a recurrent model's output can depend on every earlier step (unbounded)."""
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
            ``(batch, out_features)`` ("last") or ``(batch, steps, out_features)``
            ("sequence").
        """
        _check_input(x, self.in_features)
        _check_train_rngs(train, self.cfg.dropout, rngs)
        deterministic = not train
        h = x
        n = len(self.layers)
        for k, (layer, size) in enumerate(zip(self.layers, self.cfg.hidden, strict=True)):
            if self.cfg.impl == "vjp":
                w, u, b = fused_weights(layer.cell)
                h = jnp.swapaxes(lstm_layer(w, u, b, jnp.swapaxes(h, 0, 1)), 0, 1)
            else:
                h = layer(h, initial_carry=zero_carry(x.shape[0], size))
            if k == n - 1 and self.cfg.readout == "last":
                h = h[:, -1]  # the hidden state after the last step
            h = self.dropout(h, deterministic=deterministic, rngs=rngs)
        return self.readout(h)


def build(cfg: LSTMConfig, *, in_features: int, out_features: int, rngs: nnx.Rngs) -> LSTM:
    """The :class:`LSTM` of ``cfg`` (``LSTM(cfg, in_features=..., out_features=..., rngs=...)``)."""
    return LSTM(cfg, in_features=in_features, out_features=out_features, rngs=rngs)
