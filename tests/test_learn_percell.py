"""neurolearn.models.percell: shapes, what each cell's output may depend on, and a NumPy
reference of the per-cell filter."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from neurolearn.models.percell import PerCellConfig, PerCellModel

N, C, T = 12, 2, 6  # 12 cells (6 E, 6 I), 2 channel blocks (counts, input), 6 steps


def model(**kw):
    return PerCellModel(PerCellConfig(**kw), in_features=C * N, out_features=N, rngs=nnx.Rngs(0))


def test_shape_and_parameter_count():
    m = model(filter_steps=3, filter_hidden=5, context_hidden=4)
    x = jnp.asarray(np.random.default_rng(0).normal(size=(7, T, C * N)), jnp.float32)
    assert m(x).shape == (7, N)
    n = sum(int(np.size(p)) for p in jax.tree.leaves(nnx.state(m, nnx.Param)))
    lstm = 4 * (4 * (4 + C * 2) + 4)  # 4 hidden, inputs: C blocks × 2 groups of means
    filt = 2 * (3 * C * 5 + 5 + 5)  # per group: (k·c → m), bias, (m → 1)
    assert n == lstm + filt + 4 * N + N


def test_without_context_a_cell_depends_only_on_its_own_recent_channels():
    m = model(filter_steps=2, filter_hidden=3, context_hidden=0)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, T, C * N)).astype(np.float32)
    base = np.asarray(m(jnp.asarray(x)))
    for step, channel, changed in (
        (T - 1, 3, {3}),  # cell 3's count at the last step: only cell 3 changes
        (T - 2, N + 8, {8}),  # cell 8's input one step earlier: only cell 8
        (T - 3, 3, set()),  # older than filter_steps: nothing changes
    ):
        y = x.copy()
        y[0, step, channel] += 1.0
        diff = np.flatnonzero(np.abs(np.asarray(m(jnp.asarray(y))) - base)[0] > 1e-6)
        assert set(diff.tolist()) == changed, (step, channel)


def test_the_population_context_sees_the_whole_window():
    m = model(filter_steps=1, filter_hidden=0, context_hidden=4)
    x = np.random.default_rng(2).normal(size=(1, T, C * N)).astype(np.float32)
    y = x.copy()
    y[0, 0, 5] += 3.0  # the first step of one cell: only the population means see it
    d = np.abs(np.asarray(m(jnp.asarray(y))) - np.asarray(m(jnp.asarray(x))))[0]
    assert (d > 1e-7).all()


def test_linear_filter_matches_a_numpy_reference():
    m = model(filter_steps=3, filter_hidden=0, context_hidden=0)
    x = np.random.default_rng(3).normal(size=(2, T, C * N)).astype(np.float32)
    w = np.asarray(m.w1[...])  # (groups, k·c): channel-major over the last k steps
    out = np.zeros((2, N))
    for i in range(N):
        g = i // (N // 2)
        own = np.stack([x[:, -3:, i], x[:, -3:, N + i]], axis=1).reshape(2, -1)
        out[:, i] = own @ w[g]
    bias = np.asarray(m.readout.bias[...])
    np.testing.assert_allclose(np.asarray(m(jnp.asarray(x))), out + bias, rtol=1e-5, atol=1e-5)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="multiple of the cells"):
        PerCellModel(PerCellConfig(), in_features=25, out_features=12, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="shorter than model.filter_steps=4"):
        model()(jnp.zeros((1, 3, C * N)))
    with pytest.raises(ValueError, match="filter_steps must be >= 1"):
        PerCellConfig(filter_steps=0)
