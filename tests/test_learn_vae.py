"""neurolearn.models.LSTMVAE: the calcium tutorial's LSTM-VAE: shapes, the Keras parameter count,
the KL term against its closed form, and the reparameterisation's use of the ``noise`` stream."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from neurolearn.models import LSTMVAE, LSTMVAEConfig, build, model_config
from neurolearn.models.vae import kl_divergence, n_params


def count(make) -> int:
    """Parameters of the model ``make()`` builds (shapes only: nothing is initialised)."""
    model = nnx.eval_shape(make)
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))


@pytest.fixture(scope="module")
def vae():
    return LSTMVAE(LSTMVAEConfig(hidden=8, latent=5), in_features=3, rngs=nnx.Rngs(0))


def test_the_tutorials_sizes_have_132929_parameters_with_three_features_per_frame():
    # Keras: encoder LSTM(64) on F features 4·64·(F+64+1), two Dense(64→256), decoder LSTM(64) on
    # the repeated 256-d latent 4·64·(256+64+1), Dense(64→1): 132,929 for F = 3 ([x, Δx, x²])
    assert n_params(3) == 132_929
    assert [n_params(f) for f in (1, 2, 4)] == [132_417, 132_673, 133_185]
    assert count(lambda: LSTMVAE(in_features=3, rngs=nnx.Rngs(0))) == 132_929
    cfg = LSTMVAEConfig(hidden=8, latent=5)
    small = count(lambda: LSTMVAE(cfg, in_features=2, out_features=3, rngs=nnx.Rngs(1)))
    assert small == n_params(2, 3, hidden=8, latent=5)


def test_shapes_and_the_encode_decode_round_trip(vae):
    x = jax.random.normal(jax.random.key(1), (4, 11, 3))
    mean, logvar = vae.encode(x)
    assert mean.shape == logvar.shape == (4, 5)
    assert vae.decode(mean, 11).shape == (4, 11, 1)
    assert vae.decode(mean, 3).shape == (4, 3, 1)  # any number of steps
    out = vae(x)
    assert set(out) == {"recon", "mean", "logvar"}
    assert out["recon"].shape == (4, 11, 1)
    np.testing.assert_allclose(out["recon"], vae.decode(mean, 11), rtol=1e-6, atol=1e-6)
    s = vae.sample(6, 11, key=jax.random.key(2))
    assert s.shape == (6, 11, 1) and np.all(np.isfinite(s))
    with pytest.raises(ValueError, match=r"shape \(batch, steps, 3\)"):
        vae.encode(x[..., :2])
    with pytest.raises(ValueError, match=r"shape \(batch, 5\)"):
        vae.decode(mean[:, :4], 11)


def test_kl_term_matches_the_closed_form_of_two_gaussians():
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(7, 4))
    var = rng.uniform(0.2, 3.0, size=(7, 4))
    # KL(N(mu, var) || N(0, 1)) per dimension: (var + mu² - 1 - log var) / 2
    want = 0.5 * np.sum(var + mu**2 - 1.0 - np.log(var), axis=-1)
    got = kl_divergence(jnp.asarray(mu), jnp.log(jnp.asarray(var)))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert float(kl_divergence(jnp.zeros((1, 3)), jnp.zeros((1, 3)))[0]) == 0.0
    # and against a Monte Carlo estimate of E_q[log q - log p] for one row
    z = mu[0] + np.sqrt(var[0]) * rng.normal(size=(200_000, 4))
    log_q = -0.5 * (np.log(2 * np.pi * var[0]) + (z - mu[0]) ** 2 / var[0]).sum(-1)
    log_p = -0.5 * (np.log(2 * np.pi) + z**2).sum(-1)
    assert float(np.mean(log_q - log_p)) == pytest.approx(want[0], rel=0.02)


def test_reparameterisation_draws_from_the_noise_stream_in_training_only(vae):
    x = jax.random.normal(jax.random.key(3), (3, 9, 3))
    a = vae(x, train=True, rngs=nnx.Rngs(noise=1, dropout=5))
    b = vae(x, train=True, rngs=nnx.Rngs(noise=2, dropout=5))
    c = vae(x, train=True, rngs=nnx.Rngs(noise=1, dropout=6))  # same noise key, other dropout
    assert not np.allclose(a["recon"], b["recon"])
    np.testing.assert_array_equal(a["recon"], c["recon"])
    np.testing.assert_array_equal(a["mean"], b["mean"])  # the encoder is deterministic
    e1 = vae(x, train=False, rngs=nnx.Rngs(noise=1))
    e2 = vae(x, train=False, rngs=nnx.Rngs(noise=2))
    np.testing.assert_array_equal(e1["recon"], e2["recon"])
    np.testing.assert_allclose(e1["recon"], vae.decode(e1["mean"], 9), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="'noise' stream"):
        vae(x, train=True)


def test_registered_as_lstm_vae_with_validated_settings():
    cfg = model_config({"name": "lstm_vae", "latent": 16, "hidden": 4})
    assert isinstance(cfg, LSTMVAEConfig) and cfg.hidden == 4 and cfg.latent == 16
    assert model_config("lstm_vae") == LSTMVAEConfig(hidden=64, latent=256)
    model = build(cfg, in_features=3, out_features=1, rngs=nnx.Rngs(0))
    assert isinstance(model, LSTMVAE) and model.receptive_field is None
    with pytest.raises(ValueError, match="latent must be an integer >= 1"):
        LSTMVAEConfig(latent=0)
    with pytest.raises(ValueError, match="cell must be one of"):
        LSTMVAEConfig(cell="gru")
