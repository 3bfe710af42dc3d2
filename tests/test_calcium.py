"""Calcium forward model: transients, indicators, noise level, spike sources.

References used: closed-form double exponentials evaluated independently of the recursion,
``numpy.convolve``, scipy's Kolmogorov–Smirnov test, and the definition of ν (CASCADE).
"""

from __future__ import annotations

import math

import jax
import numpy as np
import pytest
from scipy import stats

from neurosim.observe import (
    PRESETS,
    CalciumConfig,
    SpikeTrains,
    bin_spikes,
    bursty_spike_times,
    calcium_transients,
    double_exponential,
    fluorescence,
    get_indicator,
    kernel_peak_time_s,
    noise_level,
    poisson_spike_times,
    random_rates,
    simulate_calcium,
    spike_times_from_counts,
    spike_times_from_raster,
)

QUIET = CalciumConfig(noise_level=None, noise_sigma=0.0, drift_sd=0.0)


def _brute_force(times, frame_rate, n_frames, tau_r, tau_d):
    """Σ_s k((n+1)/f − t_s), evaluated directly from the closed form."""
    t_n = (np.arange(n_frames) + 1) / frame_rate
    out = np.zeros(n_frames)
    for ts in times[np.isfinite(times)]:
        out += double_exponential(t_n - ts, tau_r, tau_d)
    return out


# ------------------------------------------------------------------------------- transients


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_single_spike_has_preset_amplitude_and_decay(name, key):
    ind = get_indicator(name)
    f = 1000.0  # fine frames: the sampled peak is within 1 ms of the true peak
    spikes = SpikeTrains(np.array([[0.5, np.inf]]), 6.0)
    rec = simulate_calcium(spikes, ind, QUIET.replace(frame_rate_hz=f), key=key)
    trace = rec.clean_dff[0]
    # amplitude: the preset's single-spike ΔF/F
    assert trace.max() == pytest.approx(ind.amplitude, rel=2e-3)
    # time of the peak: the closed-form peak of the double exponential
    t_peak = (np.argmax(trace) + 1) / f - 0.5
    assert t_peak == pytest.approx(kernel_peak_time_s(ind.tau_rise_s, ind.tau_decay_s), abs=1.5e-3)
    # decay: the calcium (before the indicator map) falls as exp(-t/τ_d) well after the rise
    ca = rec.calcium[0]
    t = (np.arange(len(ca)) + 1) / f - 0.5
    sel = (t > 0.5 + 10 * ind.tau_rise_s) & (t < 0.5 + 3 * ind.tau_decay_s)
    slope = np.polyfit(t[sel], np.log(ca[sel]), 1)[0]
    assert -1 / slope == pytest.approx(ind.tau_decay_s, rel=1e-2)
    # and the linear version of the preset decays the same way in ΔF/F
    lin = simulate_calcium(
        spikes, ind.replace(nonlinearity="linear"), QUIET.replace(frame_rate_hz=f), key=key
    ).clean_dff[0]
    np.testing.assert_allclose(lin, ind.amplitude * ca, rtol=1e-5, atol=1e-7)


def test_zero_noise_linear_indicator_is_convolution(key):
    f, n = 100.0, 3000
    rng = np.random.default_rng(1)
    counts = rng.poisson(0.05, size=(3, n))
    # spikes exactly at frame starts: the model is a discrete convolution with k((j+1)/f)
    times = spike_times_from_counts(counts, f)  # centres; move them to the frame starts
    # (+1 ns so that float rounding of k/f keeps each spike inside frame k)
    starts = SpikeTrains(np.floor(times.times_s * f) / f + 1e-9, times.duration_s)
    ind = PRESETS["gcamp6f"].replace(nonlinearity="linear")
    rec = simulate_calcium(starts, ind, QUIET.replace(frame_rate_hz=f), key=key)
    kernel = ind.amplitude * double_exponential(
        (np.arange(n) + 1) / f, ind.tau_rise_s, ind.tau_decay_s
    )
    for i in range(3):
        expected = np.convolve(counts[i], kernel)[:n]
        np.testing.assert_allclose(rec.dff[i], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(rec.spike_counts, counts)


def test_transients_match_closed_form_at_arbitrary_spike_times():
    rng = np.random.default_rng(2)
    f, n = 30.0, 900
    times = np.sort(rng.uniform(0, n / f, size=(2, 40)), axis=1)
    times[1, 30:] = np.inf
    ca = calcium_transients(times, n, f, 0.05, 0.7)
    for i in range(2):
        np.testing.assert_allclose(
            ca[i], _brute_force(times[i], f, n, 0.05, 0.7), rtol=1e-4, atol=1e-5
        )
    # instant rise: a pure exponential
    ca0 = calcium_transients(times[:1], n, f, 0.0, 0.7)
    np.testing.assert_allclose(ca0[0], _brute_force(times[0], f, n, 0.0, 0.7), rtol=1e-4, atol=1e-5)


def test_host_summed_influx_equals_the_former_xla_scatter(key):
    """The per-frame influx is summed on the host (deterministic on any device); it equals the
    XLA scatter-add it replaced (``.at[flat].add``, nondeterministic on GPU) to float32
    rounding, for bursts with many spikes per frame and per-spike weights."""
    import jax.numpy as jnp

    from neurosim.observe.calcium import _scan_two_ar1, _spike_inputs

    rates, _ = random_rates(6, 20.0, key=key, mean_rate_hz=20.0)
    st = bursty_spike_times(rates, 20.0, key=key, mean_burst_size=6.0, intra_burst_isi_s=0.003)
    w = np.exp(0.3 * np.random.default_rng(0).standard_normal(st.times_s.shape))
    n, f = 400, 20.0  # 50 ms frames: bursts pile up in a frame
    tau_r, tau_d = np.full(6, 0.05), np.linspace(0.4, 1.5, 6)
    new = calcium_transients(st.times_s, n, f, tau_r, tau_d, spike_weights=w)
    flat, wd, wr, gd, gr = _spike_inputs(st.times_s, n, f, tau_r, tau_d, w)
    assert np.bincount(flat).max() >= 5  # several spikes share a frame
    size = n * 6
    old_d = jnp.zeros(size, jnp.float32).at[flat].add(wd.astype(np.float32)).reshape(n, 6)
    old_r = jnp.zeros(size, jnp.float32).at[flat].add(wr.astype(np.float32)).reshape(n, 6)
    old = np.asarray(_scan_two_ar1(old_d, old_r, gd, gr).T)
    np.testing.assert_allclose(new, old, rtol=1e-5, atol=1e-6)
    # and both are the closed form
    for i in range(6):
        ref = np.zeros(n)
        t_n = (np.arange(n) + 1) / f
        for ts, wi in zip(st.times_s[i], w[i], strict=True):
            if np.isfinite(ts) and ts < n / f:
                ref += wi * double_exponential(t_n - ts, tau_r[i], tau_d[i])
        np.testing.assert_allclose(new[i], ref, rtol=1e-4, atol=1e-4)


def test_indicator_maps():
    c = np.linspace(0, 30, 301)
    for ind in PRESETS.values():
        y = np.asarray(fluorescence(c, ind))
        assert y[0] == pytest.approx(0, abs=1e-7)
        assert float(fluorescence(1.0, ind)) == pytest.approx(ind.amplitude, rel=1e-5)
        assert np.all(np.diff(y) > 0)  # monotone
        assert y[-1] < ind.f_max  # saturating
    # Hill: closed form with the published constants
    g = PRESETS["gcamp6s"]
    x = g.ca_rest_nM + g.ca_per_spike_nM * 4.0
    h = lambda v: v**g.hill_n / (v**g.hill_n + g.kd_nM**g.hill_n)  # noqa: E731
    assert float(fluorescence(4.0, g)) == pytest.approx(
        g.f_max * (h(x) - h(g.ca_rest_nM)), rel=1e-5
    )
    # GCaMPs supralinear at first, OGB-1 sublinear
    assert float(fluorescence(2.0, g)) > 2 * g.amplitude
    o = PRESETS["ogb1"]
    assert float(fluorescence(2.0, o)) < 2 * o.amplitude
    p = g.replace(nonlinearity="polynomial", p2=0.5, p3=0.01)
    assert float(fluorescence(2.0, p)) == pytest.approx(
        g.amplitude * (2 + 0.5 * 4 + 0.01 * 8) / 1.51, rel=1e-5
    )


# ------------------------------------------------------------------------------ noise level


def test_noise_level_definition():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.02, size=200_000)
    # white noise: ν = 100 · 0.954 · σ / sqrt(f)
    assert noise_level(x, 100.0) == pytest.approx(100 * 0.02 * math.sqrt(2) * 0.6745 / 10, rel=0.01)
    y = np.array([0.0, 0.1, 0.1, 0.3])  # |diffs| 0.1, 0, 0.2: median 0.1
    assert noise_level(y, 25.0) == pytest.approx(100 * 0.1 / 5)


@pytest.mark.parametrize(
    ("nu", "rate", "name"),
    [(1.0, 100.0, "gcamp6s"), (2.0, 30.0, "ogb1"), (5.0, 100.0, "gcamp6f"), (3.0, 7.5, "gcamp5k")],
)
def test_noise_level_matches_request(nu, rate, name, key):
    spikes = bursty_spike_times(4.0, 120.0, key=jax.random.fold_in(key, 1), n_cells=20)
    cfg = CalciumConfig(
        frame_rate_hz=rate, noise_level=nu, drift_sd=0.05, neuropil_coef=0.3, amplitude_cv_cell=0.3
    )
    rec = simulate_calcium(spikes, name, cfg, key=key)
    measured = noise_level(rec.dff, rate)  # measured independently of the generator's report
    np.testing.assert_allclose(rec.noise_level, measured, rtol=1e-4)  # float32 differences
    # where the signal alone is noisier than requested no noise can be added (σ = 0), and the
    # report says so; everywhere else the request is met
    feasible = rec.noise_sigma > 0
    assert feasible.mean() >= 0.9
    np.testing.assert_allclose(measured[feasible], nu, rtol=0.01)
    assert np.all(measured[~feasible] > nu)


def test_unreachable_noise_level_is_reported(key):
    spikes = bursty_spike_times(10.0, 60.0, key=key, n_cells=3)
    cfg = CalciumConfig(noise_level=0.05, drift_sd=0.0)
    rec = simulate_calcium(spikes, "gcamp6s", cfg, key=key)
    np.testing.assert_array_equal(rec.noise_sigma, 0.0)
    assert np.all(rec.noise_level > 0.05)
    # no noise: the recording is the clean signal plus drift, and ν is its own
    np.testing.assert_allclose(rec.noise_level, noise_level(rec.dff, 100.0), rtol=1e-4)
    np.testing.assert_allclose(rec.dff, rec.clean_dff, atol=1e-6)


def test_noise_grows_with_signal(key):
    """Shot-like noise: residual variance is larger where the fluorescence is high."""
    spikes = poisson_spike_times(8.0, 300.0, key=key, n_cells=4)
    rec = simulate_calcium(spikes, "gcamp6s", CalciumConfig(noise_level=2.0, drift_sd=0.0), key=key)
    resid = rec.dff - rec.clean_dff
    hi = rec.clean_dff > np.percentile(rec.clean_dff, 90)
    lo = rec.clean_dff < np.percentile(rec.clean_dff, 30)
    ratio = resid[hi].var() / resid[lo].var()
    expected = np.mean(1 + rec.clean_dff[hi]) / np.mean(1 + rec.clean_dff[lo])
    assert ratio == pytest.approx(expected, rel=0.1)


def test_same_key_same_recording_other_key_differs(key):
    spikes = poisson_spike_times(5.0, 20.0, key=key, n_cells=3)
    a = simulate_calcium(spikes, "ogb1", key=key)
    b = simulate_calcium(spikes, "ogb1", key=key)
    c = simulate_calcium(spikes, "ogb1", key=jax.random.key(1))
    np.testing.assert_array_equal(a.dff, b.dff)
    assert not np.allclose(a.dff, c.dff)


def test_spike_counts_sum_to_simulated_spikes(key):
    spikes = bursty_spike_times(6.0, 50.0, key=key, n_cells=7)
    rec = simulate_calcium(spikes, "gcamp6f", CalciumConfig(frame_rate_hz=30.0), key=key)
    np.testing.assert_array_equal(rec.spike_counts.sum(axis=1), spikes.counts())
    assert rec.spike_counts.shape == (7, 1500)


# ----------------------------------------------------------------------------- spike sources


def test_poisson_rate_and_exponential_intervals(key):
    st = poisson_spike_times(20.0, 200.0, key=key, n_cells=10)
    n = st.counts()
    # total count: Poisson with mean 40,000
    assert abs(n.sum() - 40_000) < 4 * math.sqrt(40_000)
    isi = np.diff(st.times_s[0][np.isfinite(st.times_s[0])])
    assert stats.kstest(isi, "expon", args=(0, 1 / 20.0)).pvalue > 1e-3
    t = st.times_s
    assert np.all((t[:, 1:] >= t[:, :-1]) | ~np.isfinite(t[:, 1:]))  # rows sorted


def test_inhomogeneous_poisson_follows_rate(key):
    # 2 Hz for 50 s then 30 Hz for 50 s
    rate = np.tile(np.array([[2.0, 30.0]]), (40, 1))
    st = poisson_spike_times(rate, 100.0, key=key)
    first = (st.times_s < 50).sum()
    second = ((st.times_s >= 50) & np.isfinite(st.times_s)).sum()
    assert abs(first - 40 * 100) < 5 * math.sqrt(40 * 100)
    assert abs(second - 40 * 1500) < 5 * math.sqrt(40 * 1500)


def test_random_rates_have_requested_mean(key):
    rates, bin_s = random_rates(
        400, 100.0, key=key, mean_rate_hz=4.0, cell_spread=0.5, modulation=0.8, timescale_s=1.0
    )
    assert bin_s == pytest.approx(0.1)
    assert rates.mean() == pytest.approx(4.0, rel=0.1)
    assert np.all(rates >= 0)


def test_bursty_rate_and_bursts(key):
    st = bursty_spike_times(
        5.0,
        400.0,
        key=key,
        n_cells=20,
        mean_burst_size=3.0,
        intra_burst_isi_s=0.008,
        refractory_s=0.002,
    )
    rate = st.counts().sum() / (20 * 400.0)
    assert rate == pytest.approx(5.0, rel=0.05)
    isi = np.concatenate([np.diff(t[np.isfinite(t)]) for t in st.times_s])
    # a fraction ≈ (E[size] − 1) / E[size] of the intervals are inside bursts (< 30 ms)
    p = 1 / 3.0
    mean_size = (1 - (1 - p) ** 10) / p
    assert np.mean(isi < 0.03) == pytest.approx((mean_size - 1) / mean_size, abs=0.03)
    # refractoriness: no interval shorter than refractory_s, within or across bursts
    assert isi.min() >= 0.002 - 1e-6
    # Poisson with the same rate has far fewer short intervals: burstiness is real
    assert np.mean(isi < 0.03) > 3 * (1 - math.exp(-5.0 * 0.03))


def test_counts_and_raster_conversions(key):
    rng = np.random.default_rng(4)
    counts = rng.poisson(0.3, size=(4, 500))
    st = spike_times_from_counts(counts, 60.0, key=key)
    np.testing.assert_array_equal(bin_spikes(st.times_s, 500, 60.0), counts)
    raster = rng.random((2000, 3)) < 0.01
    st2 = spike_times_from_raster(raster, 0.001)
    np.testing.assert_array_equal(bin_spikes(st2.times_s, 2000, 1000.0), raster.T.astype(int))


# --------------------------------------------------------------------------------- bad input


def test_bad_inputs_are_named(key):
    with pytest.raises(ValueError, match="rate_hz must be >= 0"):
        poisson_spike_times(-1.0, 10.0, key=key, n_cells=2)
    with pytest.raises(ValueError, match="NaN"):
        poisson_spike_times(np.array([1.0, np.nan]), 10.0, key=key)
    with pytest.raises(ValueError, match="duration_s"):
        poisson_spike_times(1.0, 0.0, key=key, n_cells=2)
    with pytest.raises(ValueError, match="unknown indicator 'gcamp9'"):
        get_indicator("gcamp9")
    with pytest.raises(ValueError, match="tau_rise_s < tau_decay_s"):
        PRESETS["ogb1"].replace(tau_rise_s=2.0)
    with pytest.raises(ValueError, match="noise_level must be positive"):
        CalciumConfig(noise_level=0.0)
    with pytest.raises(ValueError, match="frame_rate_hz"):
        CalciumConfig(frame_rate_hz=-5)
    assert get_indicator("GCaMP6s") is PRESETS["gcamp6s"]
    assert get_indicator("OGB-1") is PRESETS["ogb1"]
