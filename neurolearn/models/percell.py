"""A per-cell model for populations: one temporal filter shared by the cells of a type, plus a
recurrent summary of the whole population.

For an input window ``x`` of shape (batch, steps, C·n) whose channels are C blocks of n cells
(the ring-counts layout: n counts then n external inputs), the output for cell i is::

    out_i = MLP_g(i)(x[:, -K:, i], x[:, -K:, n + i], …)  +  readout(LSTM(population means))_i

where ``g(i)`` is the cell's group (E: the first ``n / groups`` cells, I: the rest, as neurosim
orders them), the MLP (shared by every cell of a group) sees the cell's own C channels over the
last K = ``filter_steps`` steps of the window, and the LSTM reads the mean of each channel block over each group per step (C·G
features). The read-out's bias is one value per cell (its baseline rate); the read-out's kernel
lets each cell weigh the population state. This uses the ring's structure: cells of a type obey
the same dynamics, and they interact through the population.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
from flax import nnx

from .lstm import make_cell, zero_carry

__all__ = ["PerCellConfig", "PerCellModel", "build"]


@dataclass(frozen=True)
class PerCellConfig:
    """Settings of :class:`PerCellModel`.

    Attributes:
        filter_steps: the last steps of the window the per-cell filter sees.
        filter_hidden: hidden units of each group's per-cell MLP (0: a linear filter).
        context_hidden: hidden units of the population LSTM (0: no population context).
        groups: cell groups with their own filter (2: E then I, in equal numbers).
    """

    filter_steps: int = 4
    filter_hidden: int = 16
    context_hidden: int = 32
    groups: int = 2

    def __post_init__(self):
        if self.filter_steps < 1:
            raise ValueError(f"config model.filter_steps must be >= 1, got {self.filter_steps}")
        if self.filter_hidden < 0 or self.context_hidden < 0 or self.groups < 1:
            raise ValueError(
                "config model.filter_hidden and model.context_hidden must be >= 0 and "
                f"model.groups >= 1, got {self.filter_hidden}, {self.context_hidden}, "
                f"{self.groups}"
            )


class PerCellModel(nnx.Module):
    """Per-cell filters shared within groups + a population LSTM (see the module docstring).

    Args:
        cfg: the settings.
        in_features: C·n channels per step (C blocks of n cells).
        out_features: n, the number of cells.
        rngs: initialisation randomness.

    Shapes:
        ``(batch, steps, C·n) -> (batch, n)``.
    """

    def __init__(self, cfg: PerCellConfig, *, in_features: int, out_features: int, rngs):
        n = out_features
        if in_features % n or n % cfg.groups:
            raise ValueError(
                f"a per-cell model needs in_features ({in_features}) to be a multiple of the "
                f"cells ({n}) and the cells a multiple of model.groups ({cfg.groups})"
            )
        self.cfg = cfg
        self.n, self.c = n, in_features // n
        g, m, k = cfg.groups, cfg.filter_hidden, cfg.filter_steps * self.c
        init = nnx.initializers.glorot_uniform()
        keys = jax.random.split(rngs.params(), 2 * g)
        if m:
            self.w1 = nnx.Param(jnp.stack([init(keys[i], (k, m)) for i in range(g)]))
            self.b1 = nnx.Param(jnp.zeros((g, m)))
            self.w2 = nnx.Param(jnp.stack([init(keys[g + i], (m, 1))[:, 0] for i in range(g)]))
        else:
            self.w1 = nnx.Param(jnp.stack([init(keys[i], (k, 1))[:, 0] for i in range(g)]))
        ctx = cfg.context_hidden
        if ctx:
            self.context = nnx.RNN(make_cell("optimized", self.c * g, ctx, rngs), rngs=False)
        self.readout = nnx.Linear(max(ctx, 1), n, kernel_init=init, rngs=rngs)

    receptive_field = None

    def __call__(self, x: jax.Array, *, train: bool = False, rngs=None) -> jax.Array:
        b, t, _ = x.shape
        n, c, g = self.n, self.c, self.cfg.groups
        per = x.reshape(b, t, c, g, n // g)  # channel block, group, cell within group
        k = self.cfg.filter_steps
        if t < k:
            raise ValueError(f"windows of {t} steps are shorter than model.filter_steps={k}")
        # each cell's own channels over the last k steps: (b, group, cell, c·k)
        own = jnp.transpose(per[:, -k:], (0, 3, 4, 2, 1)).reshape(b, g, n // g, c * k)
        if self.cfg.filter_hidden:
            h = nnx.relu(
                jnp.einsum("bgck,gkm->bgcm", own, self.w1[...]) + self.b1[...][None, :, None, :]
            )
            local = jnp.einsum("bgcm,gm->bgc", h, self.w2[...])
        else:
            local = jnp.einsum("bgck,gk->bgc", own, self.w1[...])
        local = local.reshape(b, n)
        if self.cfg.context_hidden:
            pop = per.mean(axis=-1).reshape(b, t, c * g)
            h = self.cfg.context_hidden
            hidden = self.context(pop, initial_carry=zero_carry(b, h))[:, -1]
            return local + self.readout(hidden)
        return local + self.readout(jnp.zeros((b, 1), x.dtype))


def build(cfg: PerCellConfig, *, in_features: int, out_features: int, rngs) -> PerCellModel:
    """The :class:`PerCellModel` of ``cfg`` (model registry entry ``percell``)."""
    return PerCellModel(cfg, in_features=in_features, out_features=out_features, rngs=rngs)
