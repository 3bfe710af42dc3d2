"""Realism statistics: checked on constructed signals, then on the real Spikefinder cells."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy.signal import resample

from neurosim.observe.calcium import double_exponential
from neurosim.observe.realism import (
    event_amplitudes,
    kernel_stats,
    linear_kernel,
    native_frame_rate,
    summarize,
    synthetic_twin,
)
from neurosim.spikefinder import Recording, read_recording


def test_linear_kernel_recovers_a_known_kernel():
    rng = np.random.default_rng(0)
    s = rng.poisson(0.03, size=20_000).astype(float)
    lags = np.arange(301) / 100.0
    k = 0.2 * double_exponential(lags, 0.05, 0.8)
    x = np.convolve(s, k)[: len(s)] + 0.01 * rng.standard_normal(len(s))
    got_lags, h = linear_kernel(x, s, 100.0, ridge=1e-3)
    np.testing.assert_allclose(h[got_lags >= 0], k, atol=0.01)
    st = kernel_stats(got_lags, h)
    assert st["peak"] == pytest.approx(0.2, rel=0.1)
    assert st["decay_s"] == pytest.approx(0.8 + 0.1, abs=0.15)  # 1/e from the peak


def test_event_amplitudes_group_spikes():
    f = 100.0
    x = np.zeros(3000)
    s = np.zeros(3000)
    s[500] = 1  # isolated single spike
    s[1500] = s[1510] = s[1520] = 1  # a 3-spike burst
    s[1600] = 1  # 0.8 s after the burst: not isolated, skipped
    x[500:700] = 1.0
    x[1500:1800] = 3.0
    n, a = event_amplitudes(x, s, f, smooth_s=0.001)
    assert n.tolist() == [1, 3]
    np.testing.assert_allclose(a, [1.0, 3.0], atol=1e-6)


def test_native_frame_rate_of_resampled_traces(spikefinder_dir):
    rng = np.random.default_rng(1)
    native = rng.standard_normal((3, 2000)).cumsum(axis=1)  # 100 s at 20 Hz
    up = [resample(x, 10_000) for x in native]
    assert native_frame_rate(up, 100.0) == pytest.approx(20.0, abs=0.5)
    # the real files were acquired at ≈ 7.8 Hz (set 4), ≈ 59 Hz (set 5) and 50 Hz (set 6)
    for k, rate in ((4, 7.8), (5, 59.1), (6, 50.0)):
        rec = read_recording(spikefinder_dir / f"{k}.train.calcium.csv.gz")
        assert native_frame_rate(rec.calcium, 100.0) == pytest.approx(rate, abs=0.6)


def test_ogb1_twin_of_set4_matches_the_real_statistics(spikefinder_dir):
    """Regression test of the tuned OGB-1 preset against real cells of set 4 (first 150 s)."""
    rec = read_recording(spikefinder_dir / "4.train.calcium.csv.gz")
    cut = 15_000
    real = Recording(
        [c[:cut] for c in rec.calcium[1:3]], [s[:cut] for s in rec.spikes[1:3]], 100.0, rec.source
    )
    twin, nu = synthetic_twin(real, "ogb1", 7.8, key=jax.random.key(0), fit_iterations=2)
    r, t = summarize(real), summarize(twin)
    np.testing.assert_allclose(t.nu, r.nu, rtol=0.05)  # fitted
    assert np.all((nu > 1) & (nu < 30))
    assert np.median(t.decay_s) == pytest.approx(np.median(r.decay_s), rel=0.35)
    assert np.median(t.kernel_peak) == pytest.approx(np.median(r.kernel_peak), rel=0.5)
    np.testing.assert_allclose(np.median(t.acf, 0), np.median(r.acf, 0), atol=0.1)


def _bursty_counts(n_frames, seed):
    rng = np.random.default_rng(seed)
    s = np.zeros(n_frames)
    onsets = rng.choice(n_frames - 10, size=n_frames // 150, replace=False)
    for t in onsets:
        s[t : t + 3] += rng.integers(1, 4, size=3)
    return s


def test_twin_noise_fit_widens_its_bracket_beyond_50():
    """A cell whose native ν is 500 (a strong indicator) is fitted at ~500, not at the old
    bracket's edge of 50."""
    from neurosim.observe import CalciumConfig, get_indicator
    from neurosim.observe.realism import _twin_cell

    ind = get_indicator("ogb1").replace(amplitude=40.0)
    s = _bursty_counts(3000, 0)
    x = _twin_cell(s, ind, 50.0, 500.0, CalciumConfig(), jax.random.key(7))
    real = Recording([x], [s], 100.0, "constructed")
    twin, nu = synthetic_twin(real, ind, 50.0, key=jax.random.key(1), fit_iterations=2)
    assert 250 < nu[0] < 1000
    np.testing.assert_allclose(summarize(twin).nu, summarize(real).nu, rtol=0.05)


def test_twin_noise_fit_marks_a_cell_it_cannot_match():
    """White noise at 100 Hz is noisier (after normalisation) than any twin Fourier-resampled
    from 20 Hz can be: the cell is reported and its ν is NaN, not silently the bracket edge."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(3000)
    s = _bursty_counts(3000, 1)
    real = Recording([x], [s], 100.0, "constructed")
    with pytest.warns(RuntimeWarning, match="cell 0: no native ν"):
        twin, nu = synthetic_twin(real, "ogb1", 20.0, key=jax.random.key(1), fit_iterations=0)
    assert np.isnan(nu[0]) and len(twin.calcium[0]) == 3000
