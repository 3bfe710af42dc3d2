"""The counter-based Poisson kicks: the Poisson law, independence, reproducibility."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

from neurosim.ring import rng


@pytest.mark.parametrize("mu", [0.0325, 0.0275, 0.4, 3.0, 700.5, 746.0, 1000.0])
def test_thresholds_are_the_poisson_cdf(mu):
    # 746, 1000: exp(-mu) underflows; the thresholds must still be the CDF (not an empty list)
    t = rng.poisson_thresholds(mu)
    m = np.arange(len(t))
    assert len(t) > mu
    np.testing.assert_allclose(t / 2.0**31, stats.poisson.cdf(m, mu), rtol=0, atol=2.0**-31)
    # every tail still listed is >= 2^-32; the next one is not
    assert stats.poisson.sf(len(t), mu) * 2.0**31 < 0.5 + 1e-6


def test_negative_mean_is_an_error():
    with pytest.raises(ValueError, match="Poisson mean per step must be finite and >= 0, got -0.1"):
        rng.poisson_thresholds(-0.1)


def test_event_counts_follow_poisson_and_are_independent():
    mu = 0.65 * 0.05
    thr = rng.poisson_thresholds(mu)
    seeds = np.asarray(rng.trial_seeds(jax.random.key(0), 1))[0]
    c = np.asarray(rng.kick_counts(seeds, 600, 0, 4000, thr))  # 2.4 M cell-steps
    # chi-square of the count histogram against Poisson(mu), 0, 1, 2, >= 3 events
    obs = np.array([(c == 0).sum(), (c == 1).sum(), (c == 2).sum(), (c >= 3).sum()])
    p = stats.poisson.pmf([0, 1, 2], mu)
    exp = c.size * np.append(p, 1 - p.sum())
    chi2 = ((obs - exp) ** 2 / exp).sum()
    assert chi2 < stats.chi2.ppf(0.999, df=3), (obs, exp)
    assert c.max() >= 2
    # per-cell totals over 4000 steps: Poisson(4000 mu), tested with KS on the PIT
    tot = c.sum(0)
    u = stats.poisson.cdf(tot - 1, 4000 * mu) + np.random.default_rng(0).random(
        600
    ) * stats.poisson.pmf(tot, 4000 * mu)
    assert stats.kstest(u, "uniform").pvalue > 1e-3
    # neighbours in space and in time are uncorrelated
    x = c.astype(float) - mu
    z = 4.5 / np.sqrt(x.size)
    for a, b in [(x[:, :-1], x[:, 1:]), (x[:-1], x[1:]), (x[:, :300], x[:, 300:]), (x[:-7], x[7:])]:
        r = (a * b).mean() / x.var()
        assert abs(r) < z, r


def test_trials_differ_and_repeat():
    thr = rng.poisson_thresholds(0.5)
    s = np.asarray(rng.trial_seeds(jax.random.key(1), 3))
    a = np.asarray(rng.kick_counts(s[0], 100, 0, 500, thr))
    b = np.asarray(rng.kick_counts(s[1], 100, 0, 500, thr))
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.02
    np.testing.assert_array_equal(a, np.asarray(rng.kick_counts(s[0], 100, 0, 500, thr)))
    # a later window of steps continues the same stream
    np.testing.assert_array_equal(a[200:], np.asarray(rng.kick_counts(s[0], 100, 200, 300, thr)))
    # trial seeds do not depend on how many trials are asked for
    np.testing.assert_array_equal(
        s[2], np.asarray(rng.trial_seeds(jax.random.key(1), 1, offset=2))[0]
    )


def test_hash_is_a_bijection_on_a_sample():
    x = np.arange(0, 2**20, dtype=np.uint32) * np.uint32(4099)
    h = rng.hash32(x)
    assert np.unique(h).size == x.size
    np.testing.assert_array_equal(h, np.asarray(rng.hash32(jax.numpy.asarray(x))))


def test_very_high_rate_still_drives_the_cells():
    """rate 20000/ms at dt = 0.05 ms: 1000 events per cell and step (it used to give none)."""
    from neurosim.ring import ring_params
    from neurosim.ring.model import kick_thresholds

    ind, shared = kick_thresholds(ring_params("fig1", rate_ext_per_ms=20000.0))
    assert len(shared) == 0
    seeds = np.asarray(rng.trial_seeds(jax.random.key(0), 1))[0]
    c = np.asarray(rng.kick_counts(seeds, 600, 0, 20, ind))  # 12,000 cell-steps
    assert c.mean() == pytest.approx(1000.0, abs=4 * np.sqrt(1000.0 / c.size))
    assert c.var() == pytest.approx(1000.0, rel=0.1)


def test_hash_matches_a_transcription_and_pinned_values():
    """The ring's hash is neurosim.rng.hash32; datasets stay reproducible only if it never changes.

    Reference: lowbias32 transcribed with Python integers; pinned values of the hash, the cell
    constants, the step keys and a trial's kick counts (as made by the first release).
    """
    import neurosim.rng

    def lowbias32(x):
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)

    x = np.array([0, 1, 2, 0x12345678, 0xFFFFFFFF], np.uint32)
    pinned = [0x0, 0x688990C0, 0xD1132181, 0xF5E71C96, 0x6768824A]
    assert [lowbias32(int(v)) for v in x] == pinned
    h = rng.hash32(x)
    assert isinstance(h, np.ndarray) and h.dtype == np.uint32 and h.tolist() == pinned
    assert np.asarray(rng.hash32(jax.numpy.asarray(x))).tolist() == pinned
    assert np.asarray(neurosim.rng.hash32(x)).tolist() == pinned
    assert rng.cell_constants(4).tolist() == [0x85517A3B, 0x044CEA48, 0x47823E59, 0xA886256C]
    s = np.array([0xDEADBEEF, 0x01234567, 5, 6], np.uint32)
    k = rng.step_key(s[0], s[1], jax.numpy.arange(3))
    assert np.asarray(k).tolist() == [0xB09E6AC9, 0xD47808B0, 0xF2F73A23]
    thr = rng.poisson_thresholds(0.65 * 0.05)
    assert thr.tolist() == [2078812382, 2146373784, 2147471657, 2147483551, 2147483647]
    c = np.asarray(rng.kick_counts(s, 600, 0, 2000, thr))
    assert c.sum() == 38878 and int((c * np.arange(600)).sum() % 1000003) == 704195
