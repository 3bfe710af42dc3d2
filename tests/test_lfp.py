"""The LFP forward model on synthetic currents and spikes (no network needed).

References: an explicit loop over cells and samples for the Mazzoni et al. proxy, closed-form
distance weights, set unions for the multi-unit label, and scipy's Welch spectrum for the noise.
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from scipy.signal import welch

from neurosim.observe.lfp import (
    LFPConfig,
    distance_weights,
    lfp_proxy,
    mua_label,
    nearest_cells,
    ring_distance,
    simulate_lfp,
)
from neurosim.observe.noise import colored_noise, line_noise


def test_proxy_matches_explicit_sum():
    rng = np.random.default_rng(0)
    T, N = 200, 12
    a = rng.normal(size=(T, N))
    g = rng.normal(size=(T, N))
    w = rng.random(N)
    out = lfp_proxy(a, g, w, delay_samples=6, alpha=1.65)
    ref = np.zeros(T)
    for t in range(T):
        for i in range(N):
            ref[t] += w[i] * (abs(a[max(t - 6, 0), i]) - 1.65 * abs(g[t, i]))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_ampa_is_delayed_and_gaba_is_not():
    T, N = 100, 3
    a = np.zeros((T, N))
    g = np.zeros((T, N))
    a[40, 1] = 1.0  # an AMPA pulse at 40 ms
    g[70, 2] = 1.0  # a GABA pulse at 70 ms
    cfg = LFPConfig(sample_rate_hz=1000.0)
    out = lfp_proxy(a, g, np.ones(N), delay_samples=cfg.delay_samples, alpha=cfg.gaba_weight)
    assert cfg.delay_samples == 6
    assert np.flatnonzero(out > 0).tolist() == [46]
    assert np.flatnonzero(out < 0).tolist() == [70]
    assert out[70] == pytest.approx(-1.65)


def test_distance_weights_wrap_around_the_ring():
    pos = np.array([0, 1, 150, 299, 20])
    d = ring_distance(pos, 0.0, 300)
    np.testing.assert_array_equal(d, [0, 1, 150, 1, 20])
    w = distance_weights(pos, 0.0, 300, 20.0)
    np.testing.assert_allclose(w, np.exp(-np.array([0, 1, 150, 1, 20]) / 20.0))
    assert w[4] == pytest.approx(math.exp(-1))
    # the k nearest of E cells 0..299 and I cells 300..599 (same positions) at electrode 150
    both = np.concatenate([np.arange(300), np.arange(300)])
    np.testing.assert_array_equal(nearest_cells(both, 150.0, 300, 4), [149, 150, 151, 450])


def test_label_rate_is_the_mua_rate():
    """The label is 1 exactly in the samples where one of the k recorded cells fired."""
    rng = np.random.default_rng(1)
    n_cells, T, fs = 40, 20_000, 1000.0
    rate = 15.0  # Hz per cell
    times, cells = [], []
    for c in range(n_cells):
        t = np.sort(rng.uniform(0, T / fs, rng.poisson(rate * T / fs)))
        times.append(t)
        cells.append(np.full(t.size, c))
    times, cells = np.concatenate(times), np.concatenate(cells)
    recorded = [3, 4, 5, 6]
    label = mua_label(times, cells, recorded, T, fs)
    # reference: the set of samples holding a spike of a recorded cell
    hit = {int(math.floor(t * fs)) for t, c in zip(times, cells, strict=True) if c in recorded}
    assert set(np.flatnonzero(label).tolist()) == hit
    # and the MUA rate matches independent Poisson cells: 1 − exp(−k·r·dt) per sample
    expected = 1 - math.exp(-len(recorded) * rate / fs)
    assert label.mean() == pytest.approx(expected, abs=4 * math.sqrt(expected / T))


def test_colored_noise_spectrum_and_line_noise():
    x = colored_noise(2**16, 1000.0, key=jax.random.key(0), exponent=1.0)
    assert x.std() == pytest.approx(1.0) and abs(x.mean()) < 1e-9
    f, p = welch(x, fs=1000.0, nperseg=4096)
    band = (f > 2) & (f < 200)
    slope = np.polyfit(np.log(f[band]), np.log(p[band]), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)
    y = line_noise(10_000, 1000.0, key=jax.random.key(1), amplitude=2.0, frequency_hz=50.0)
    assert y.std() == pytest.approx(2.0 / math.sqrt(2), rel=1e-3)
    f2, p2 = welch(y, fs=1000.0, nperseg=1000)
    assert f2[np.argmax(p2)] == pytest.approx(50.0)


def test_simulate_lfp_on_synthetic_network(key):
    """A synchronous excitatory volley near the electrode shows up 6 ms later; far away, not."""
    rng = np.random.default_rng(2)
    n, T = 300, 3000
    pos = np.concatenate([np.arange(n), np.arange(n)])  # E cells then I cells
    i_e = 0.1 + 0.01 * rng.random((T, 2 * n))
    i_i = 0.05 + 0.01 * rng.random((T, 2 * n))
    i_e[1000:1005, 140:160] += 5.0  # volley onto E cells near the electrode (150)
    i_e[2000:2005, 0:20] += 5.0  # the same volley far away
    cfg = LFPConfig(noise_sd=0.0, mua_cells=4)
    spikes_t = np.array([0.5, 0.5004, 1.2, 2.7])
    spikes_c = np.array([150, 449, 10, 151])
    rec = simulate_lfp(
        i_e, i_i, spikes_t, spikes_c, pos, cfg, key=key, pyramidal=np.arange(2 * n) < n
    )
    assert np.argmax(rec.lfp) in range(1006, 1011)
    base = np.median(rec.lfp)
    far = rec.lfp[2006:2011].max() - base
    assert far > 0  # the far volley is seen, weakly (weight exp(-140/20))
    assert rec.lfp[1006:1011].max() - base > 100 * far
    assert rec.lfp.mean() == pytest.approx(0, abs=1e-9) and rec.lfp.std() == pytest.approx(1)
    np.testing.assert_array_equal(rec.mua_cells, [149, 150, 151, 450])
    assert np.flatnonzero(rec.spike).tolist() == [500, 2700]  # cell 10 is not recorded
    noisy = simulate_lfp(
        i_e,
        i_i,
        spikes_t,
        spikes_c,
        pos,
        cfg.replace(noise_sd=0.5),
        key=key,
        pyramidal=np.arange(2 * n) < n,
    )
    assert np.std(noisy.lfp - noisy.proxy) == pytest.approx(0.5, rel=1e-6)


def test_bad_lfp_input(key):
    with pytest.raises(ValueError, match="electrode_position"):
        LFPConfig(electrode_position=300.0)
    with pytest.raises(ValueError, match="mua_cells"):
        LFPConfig(mua_cells=0)
    with pytest.raises(ValueError, match="currents should be"):
        simulate_lfp(np.zeros((10, 3)), np.zeros((10, 4)), [], [], np.arange(3), key=key)
    with pytest.raises(ValueError, match="constant"):
        simulate_lfp(np.ones((10, 3)), np.ones((10, 3)), [], [], np.arange(3), key=key)
