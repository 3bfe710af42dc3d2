"""neurolearn.models.ConvNet1D: the seed's parameter count, Keras Conv1D semantics, causality."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from neurolearn.models import ConvNet1D


def n_params(model) -> int:
    return sum(int(np.size(p)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


def keras_count(channels, kernels, c_in=1, c_out=1):
    total, c = 0, c_in
    for ch, k in zip(channels, kernels, strict=True):
        total += k * c * ch + ch
        c = ch
    return total + c * c_out + c_out


def test_seed_model_has_219_parameters():
    assert n_params(ConvNet1D(rngs=nnx.Rngs(0))) == 219
    assert n_params(ConvNet1D(causal=True, rngs=nnx.Rngs(0))) == 219
    for ch, k in (((4, 8), (7, 3)), ((3,), (1,))):
        assert n_params(ConvNet1D(2, 3, channels=ch, kernels=k, rngs=nnx.Rngs(0))) == keras_count(
            ch, k, 2, 3
        )


def _reference_forward(model, x, causal):
    """Keras Conv1D semantics in NumPy: cross-correlation, 'same' (centred) or causal padding."""
    h = np.asarray(x, np.float64)
    for conv in model.convs:
        w = np.asarray(conv.kernel[...], np.float64)  # (k, c_in, c_out)
        b = np.asarray(conv.bias[...], np.float64)
        k = w.shape[0]
        left = k - 1 if causal else (k - 1) // 2
        pad = np.pad(h, ((0, 0), (left, k - 1 - left), (0, 0)))
        out = np.zeros(h.shape[:2] + (w.shape[2],))
        for j in range(k):
            out += pad[:, j : j + h.shape[1], :] @ w[j]
        h = np.maximum(out + b, 0.0)
    wo = np.asarray(model.readout.kernel[...], np.float64)
    return h @ wo + np.asarray(model.readout.bias[...], np.float64)


@pytest.mark.parametrize("causal", [False, True])
def test_forward_matches_a_numpy_reference(causal):
    model = ConvNet1D(causal=causal, rngs=nnx.Rngs(1))
    x = np.random.default_rng(0).normal(size=(3, 40, 1)).astype(np.float32)
    np.testing.assert_allclose(
        np.asarray(model(jnp.asarray(x))),
        _reference_forward(model, x, causal),
        rtol=1e-4,
        atol=1e-5,
    )


@pytest.mark.parametrize("causal", [False, True])
def test_receptive_field_and_causality(causal):
    model = ConvNet1D(causal=causal, rngs=nnx.Rngs(0))
    assert model.receptive_field == 15
    x = jax.random.normal(jax.random.key(1), (64, 50, 1))
    jac = jax.vmap(jax.grad(lambda xi: model(xi[None])[0, 25, 0]))(x)
    touched = np.flatnonzero(np.abs(np.asarray(jac)).sum(axis=(0, 2)) > 0)
    if causal:
        assert (touched.min(), touched.max()) == (25 - 14, 25)  # past and present only
    else:
        assert (touched.min(), touched.max()) == (25 - 7, 25 + 7)  # centred


def test_bad_architecture_is_rejected():
    with pytest.raises(ValueError, match="same length"):
        ConvNet1D(channels=(2, 6), kernels=(11,), rngs=nnx.Rngs(0))
