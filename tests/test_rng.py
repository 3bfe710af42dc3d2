"""The counter-based random numbers: distribution, independence, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from neurosim import rng


def _draw(fn, n_streams=1000, n_steps=200, key=0, **kw):
    """(steps, streams) numbers from ``fn(seeds, counter)``."""
    seeds = rng.stream_seeds(jax.random.key(key), jnp.arange(n_streams), tag=3)
    counters = jnp.arange(n_steps, dtype=jnp.uint32)
    return np.asarray(jax.vmap(lambda k: fn(seeds, k, **kw))(counters))


def test_uniform_is_uniform_and_open():
    u = _draw(rng.uniform)
    assert u.min() > 0 and u.max() < 1
    assert stats.kstest(u.ravel(), "uniform").pvalue > 1e-3
    # 23 bits of resolution: many distinct values
    assert np.unique(u).size > 0.9 * u.size


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_normal_is_standard_normal(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        z = _draw(rng.normal, dtype=dtype)
    assert np.all(np.isfinite(z))
    n = z.size
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.std() - 1) < 5 / np.sqrt(2 * n)
    assert stats.kstest(z.ravel(), "norm").pvalue > 1e-3
    assert abs(stats.kurtosis(z.ravel())) < 0.05


def test_independent_across_streams_and_in_time():
    z = _draw(rng.normal, n_streams=500, n_steps=400)
    n = z.shape[0] * (z.shape[1] - 1)
    bound = 5 / np.sqrt(n)
    assert abs(np.mean(z[:, 1:] * z[:, :-1])) < bound  # neighbouring streams
    assert abs(np.mean(z[1:] * z[:-1])) < bound  # successive counters
    # whole correlation matrix between streams: no pair stands out
    c = np.corrcoef(z.T)
    off = c[~np.eye(len(c), dtype=bool)]
    assert np.max(np.abs(off)) < 6 / np.sqrt(z.shape[0])


def test_deterministic_and_key_dependent():
    a = _draw(rng.uniform, n_streams=10, n_steps=5, key=1)
    b = _draw(rng.uniform, n_streams=10, n_steps=5, key=1)
    c = _draw(rng.uniform, n_streams=10, n_steps=5, key=2)
    np.testing.assert_array_equal(a, b)
    assert np.mean(a == c) < 0.01


def test_stream_seed_depends_only_on_stream_index():
    key = jax.random.key(5)
    all_ = rng.stream_seeds(key, jnp.arange(100), tag=1)
    some = rng.stream_seeds(key, jnp.array([7, 42, 99]), tag=1)
    np.testing.assert_array_equal(np.asarray(all_)[[7, 42, 99]], np.asarray(some))
    other_tag = rng.stream_seeds(key, jnp.arange(100), tag=2)
    assert np.mean(np.asarray(all_) == np.asarray(other_tag)) < 0.05


@pytest.mark.parametrize("lam", [0.03, 0.5, 3.0])
def test_poisson_counts_follow_poisson(lam):
    kmax = rng.poisson_kmax(lam)
    k = _draw(rng.poisson_small, n_streams=2000, n_steps=50, lam=lam, kmax=kmax).ravel()
    values, counts = np.unique(k, return_counts=True)
    expected = stats.poisson.pmf(values, lam) * k.size
    keep = expected > 5
    chi2 = np.sum((counts[keep] - expected[keep]) ** 2 / expected[keep])
    assert stats.chi2.sf(chi2, max(int(keep.sum()) - 1, 1)) > 1e-3
    assert abs(k.mean() - lam) < 5 * np.sqrt(lam / k.size)


def test_poisson_kmax_tail_and_errors():
    for lam in (0.01, 1.0, 10.0):
        k = rng.poisson_kmax(lam, tail=1e-12)
        assert stats.poisson.sf(k, lam) < 1e-12
    with pytest.raises(ValueError, match="-1"):
        rng.poisson_kmax(-1.0)
    with pytest.raises(ValueError, match="Poisson mean per step 120 is above 30"):
        rng.poisson_kmax(120.0)
