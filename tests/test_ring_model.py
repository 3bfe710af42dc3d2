"""The ring simulator against a NumPy transcription of the original code, invariants and errors."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from ring_reference import reference_ring, reference_ring_synaptic
from scipy import integrate, special

from neurosim.ring import RingParams, model, ring_params, rng, simulate_ring
from neurosim.ring.connectivity import (
    adjacency,
    block_adjacency,
    box_sum,
    in_degrees,
    weight_matrix,
)


def _counts_and_v0(p: RingParams, seeds, steps, v0_seed=0):
    st, _ = model.make_static_dyn(p)
    thr, sh = model.kick_thresholds(p)
    counts = np.asarray(rng.kick_counts(seeds, p.n_cells, 0, steps, thr, sh))
    v0 = np.random.default_rng(v0_seed).uniform(0, 0.99, p.n_cells)
    return counts, v0


def _f(p: RingParams):
    return np.concatenate(
        [np.full(p.n_per_type, float(p.f_E)), np.full(p.n_per_type, float(p.f_I))]
    )


# ------------------------------------------------------------------------------- parameters


def test_presets_follow_the_spec():
    p1 = ring_params()
    assert (p1.rate_ext_per_ms, p1.f_E, p1.f_I) == (0.65, 0.07, 0.06)
    assert (p1.s_EE, p1.s_EI, p1.s_IE, p1.s_II, p1.rho) == (0.016, 0.013, 0.018, 0.010, 0.0)
    assert (p1.tau_L_ms, p1.tau_ref_ms, p1.dt_ms, p1.n_cells) == (20.0, 1.0, 0.05, 600)
    assert p1.refractory_steps == 20
    p2 = ring_params("fig2", neighbor_scale=5, rho=0.3)
    assert (p2.rate_ext_per_ms, p2.f_I, p2.s_IE, p2.neighbor_scale, p2.rho) == (
        0.55,
        0.07,
        0.003,
        5,
        0.3,
    )
    p3 = ring_params("fig3", ss=0.02)
    assert p3.s_EE == p3.s_II == 0.02
    assert p3.s_EI == pytest.approx(0.018) and p3.s_IE == pytest.approx(0.018)
    assert ring_params("fig3").s_EE == 0.015
    # the original code's repeated-addition timer gives 11 steps at dt = 0.1; we round
    assert ring_params(dt_ms=0.1).refractory_steps == 10


def test_connectivity_is_the_original_rule():
    assert in_degrees(300, 10) == {"EE": 30, "EI": 31, "IE": 31, "II": 30}
    adj = adjacency(300, 10)
    assert adj.shape == (600, 600) and np.all(np.diag(adj) == 0)
    assert adj[300, 0] == 1 and adj[0, 300] == 1  # E k and I k connect both ways
    n = 300
    for post in (0, 7, 299):
        for pre in range(n):
            d = (post - pre) % n
            assert block_adjacency(n, 10)[post, pre] == int(d <= 15 or d >= 285)
    w = weight_matrix(ring_params())
    assert w[1, 0] == 0.016 and w[301, 0] == 0.018 and w[1, 300] == -0.013 and w[301, 300] == -0.010


@pytest.mark.parametrize("n, scale", [(300, 10), (50, 7), (40, 3), (20, 1), (31, 2)])
def test_box_sum_equals_the_dense_band(n, scale):
    a = block_adjacency(n, scale).astype(np.int64)
    s = np.random.default_rng(n).random((n, 5)) < 0.2
    p = ring_params(n_per_type=n, neighbor_scale=scale)
    got = np.asarray(box_sum(s, p.half_width, axis=0)).astype(np.int64)
    np.testing.assert_array_equal(got, a @ s.astype(np.int64))


# ----------------------------------------------------------------- against the transcription


@pytest.mark.parametrize(
    "overrides",
    [
        dict(),
        dict(preset="fig3", ss=0.03, rho=0.2),
        dict(n_per_type=40, neighbor_scale=4.0, dt_ms=0.1, rate_ext_per_ms=1.2, tau_ref_ms=2.0),
    ],
    ids=["fig1", "fig3-ss0.03-rho0.2", "small-dt0.1"],
)
def test_spikes_match_numpy_transcription_of_their_code(overrides):
    overrides = dict(overrides)
    p = ring_params(overrides.pop("preset", "fig1"), **overrides)
    duration = 400.0
    steps = int(round(duration / p.dt_ms))
    seeds = np.asarray(rng.trial_seeds(jax.random.key(11), 1))
    counts, v0 = _counts_and_v0(p, seeds[0], steps)
    expected = reference_ring(
        weight_matrix(p), _f(p), counts, v0, dt=p.dt_ms, ref_steps=p.refractory_steps
    )
    with jax.enable_x64(True):
        r = simulate_ring(
            p,
            key=None,
            seeds=seeds,
            duration_ms=duration,
            bin_ms=10.0,
            spikes=True,
            external=True,
            v0=v0[None],
            dtype="float64",
        )
    exp_steps, exp_ids = np.nonzero(expected)
    assert exp_steps.size > 500
    np.testing.assert_array_equal(r.spike_steps[0], exp_steps)
    np.testing.assert_array_equal(r.spike_ids[0], exp_ids)
    # the recorded external events are the counts the reference was driven with
    np.testing.assert_array_equal(
        r.external_counts[0], counts.reshape(-1, int(10 / p.dt_ms), p.n_cells).sum(1)
    )


def test_float32_tracks_the_float64_run():
    p = ring_params()
    seeds = np.asarray(rng.trial_seeds(jax.random.key(5), 1))
    r32 = simulate_ring(p, key=None, seeds=seeds, duration_ms=200.0, spikes=True)
    with jax.enable_x64(True):
        r64 = simulate_ring(
            p, key=None, seeds=seeds, duration_ms=200.0, spikes=True, dtype="float64"
        )
    # identical input; rounding can only move a spike after a near-threshold crossing: the first
    # few hundred spikes agree exactly
    n = 300
    np.testing.assert_array_equal(r32.spike_steps[0][:n], r64.spike_steps[0][:n])
    np.testing.assert_array_equal(r32.spike_ids[0][:n], r64.spike_ids[0][:n])


def test_synaptic_variant_matches_transcription():
    p = ring_params(
        "fig1", synaptic=True, s_EE=0.03, s_IE=0.03, s_EI=0.03, s_II=0.02, rate_ext_per_ms=0.8
    )
    duration, every = 300.0, 1.0
    steps, k = int(duration / p.dt_ms), int(every / p.dt_ms)
    seeds = np.asarray(rng.trial_seeds(jax.random.key(2), 1))
    counts, v0 = _counts_and_v0(p, seeds[0], steps)
    # initial currents come from the seeds: read them off the simulator's initial state
    with jax.enable_x64(True):
        st, dyn = model.make_static_dyn(p, "float64")
        coef = model.coefficients(dyn, st, 0)
        s0 = np.asarray(seeds[0])
        state = model.init_state(s0, dyn, coef, st, model._cell_consts(st, 0), v0=v0.reshape(2, -1))
        ie0_sim, ii0_sim = np.asarray(state.i_e).ravel(), np.asarray(state.i_i).ravel()
        spikes, ie, ii = reference_ring_synaptic(
            weight_matrix(p), _f(p), counts, v0, ie0_sim, ii0_sim, dt=p.dt_ms, record_every=k
        )
        r = simulate_ring(
            p,
            key=None,
            seeds=seeds,
            duration_ms=duration,
            bin_ms=every,
            spikes=True,
            currents_every_ms=every,
            v0=v0[None],
            dtype="float64",
        )
    exp_steps, exp_ids = np.nonzero(spikes)
    assert exp_steps.size > 300
    np.testing.assert_array_equal(r.spike_steps[0], exp_steps)
    np.testing.assert_array_equal(r.spike_ids[0], exp_ids)
    np.testing.assert_allclose(r.i_e[0], ie, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(r.i_i[0], ii, rtol=1e-9, atol=1e-12)
    assert r.i_e.shape == (1, steps // k, p.n_cells)


# --------------------------------------------------------------------------------- invariants


def test_invariants_refractoriness_counts_and_voltage():
    p = ring_params("fig3", ss=0.03)
    r = simulate_ring(
        p,
        key=jax.random.key(4),
        n_trials=2,
        duration_ms=500.0,
        bin_ms=5.0,
        spikes=True,
        population=True,
        external=True,
        voltage_every_ms=p.dt_ms,
    )
    R = p.refractory_steps
    for t in range(2):
        steps, ids = r.spike_steps[t], r.spike_ids[t]
        assert steps.size > 1000
        # no spike during refractoriness: successive spikes of a cell are >= R steps apart
        order = np.lexsort((steps, ids))
        s, i = steps[order], ids[order]
        same = i[1:] == i[:-1]
        assert np.diff(s)[same].min() >= R
        # counts per bin sum to the spikes; per-step population counts too
        assert r.counts[t].sum() == steps.size == r.population[t].sum()
        np.testing.assert_array_equal(
            np.bincount(steps, minlength=r.n_steps), r.population[t].sum(axis=1)
        )
        bins = np.zeros_like(r.counts[t], dtype=np.int64)
        np.add.at(bins, (steps // 100, ids), 1)
        np.testing.assert_array_equal(bins, r.counts[t])
        # voltage is held at V_R during the R − 1 frozen steps after a spike, and below V_T always
        v = r.v[t]
        assert v.shape == (r.n_steps, p.n_cells) and np.all(v < p.v_threshold)
        for s0, c in list(zip(steps, ids, strict=True))[:200]:
            hold = v[s0 : min(s0 + R, r.n_steps), c]
            assert np.all(hold == p.v_reset)


def _siegert_hz(mu, sigma, tau_ms, tref_ms):
    val, _ = integrate.quad(lambda u: special.erfcx(-u), (0 - mu) / sigma, (1 - mu) / sigma)
    return 1000.0 / (tref_ms + tau_ms * np.sqrt(np.pi) * val)


def test_zero_coupling_gives_independent_neurons():
    # mean-driven regime (mu = lam·f·tau > 1, small kicks) where the diffusion approximation holds
    p = ring_params(s_EE=0, s_EI=0, s_IE=0, s_II=0, rate_ext_per_ms=2.0, f_E=0.03, f_I=0.035)
    r = simulate_ring(p, key=jax.random.key(9), n_trials=4, duration_ms=3000.0, spikes=True)
    rates = r.rates_hz(200.0)
    for k, f in enumerate((0.03, 0.035)):
        mu, sigma = 2.0 * f * 20.0, np.sqrt(2.0 * f**2 * 20.0 / 2)
        expected = _siegert_hz(mu, sigma, 20.0, 1.0)
        got = rates[:, k * 300 : (k + 1) * 300].mean()
        assert got == pytest.approx(expected, rel=0.03), (k, got, expected)
    # counts of different cells are uncorrelated (|r| within sampling error of 0)
    c = r.counts[0, 20:].astype(float)
    cc = np.corrcoef(c.T)[np.triu_indices(600, 1)]
    assert abs(cc.mean()) < 0.005 and np.abs(cc).max() < 0.35
    # each cell is exactly a single LIF neuron driven by its own kicks (direct scalar simulation)
    steps = 2000
    counts = np.asarray(rng.kick_counts(r.seeds[0], 600, 0, steps, model.kick_thresholds(p)[0]))
    with jax.enable_x64(True):
        r64 = simulate_ring(
            p,
            key=None,
            seeds=r.seeds[:1],
            duration_ms=steps * p.dt_ms,
            spikes=True,
            dtype="float64",
            v0=np.full((1, 600), 0.5),
        )
    for cell in (0, 123, 300, 599):
        f = 0.03 if cell < 300 else 0.035
        v, hold, got = 0.5, 0, []
        for j in range(steps):
            if hold:
                hold -= 1
                continue
            v = v + (0.05 * (-v / 20.0) + f * counts[j, cell])
            if v >= 1.0:
                got.append(j)
                v, hold = 0.0, p.refractory_steps - 1
        assert got == r64.spike_steps[0][r64.spike_ids[0] == cell].tolist()


def test_shared_input_fraction_correlates_kicks():
    for rho in (0.0, 0.5):
        p = ring_params(rho=rho)
        r = simulate_ring(
            p, key=jax.random.key(1), duration_ms=1000.0, bin_ms=0.05, external=True, n_trials=1
        )
        x = r.external_counts[0].astype(float)  # (steps, cells)
        assert x.mean() == pytest.approx(0.65 * 0.05, rel=0.02)
        cc = np.corrcoef(x[:, :50].T)[np.triu_indices(50, 1)].mean()
        assert cc == pytest.approx(rho, abs=0.02)


# ----------------------------------------------------------------------- seeds and batching


def test_same_key_same_spikes_whatever_the_batching():
    kw = dict(duration_ms=300.0, spikes=True)
    key = jax.random.key(123)
    alone = simulate_ring("fig1", key=key, n_trials=1, trial_offset=2, **kw)
    vmapped = simulate_ring("fig1", key=key, n_trials=3, **kw)  # < 8 trials: vmap layout
    lanes = simulate_ring("fig1", key=key, n_trials=9, batch_size=9, **kw)  # trials in lanes
    chunked = simulate_ring("fig1", key=key, n_trials=9, batch_size=4, **kw)
    for other in (vmapped, lanes, chunked):
        np.testing.assert_array_equal(alone.spike_steps[0], other.spike_steps[2])
        np.testing.assert_array_equal(alone.spike_ids[0], other.spike_ids[2])
    np.testing.assert_array_equal(lanes.counts, chunked.counts)
    again = simulate_ring("fig1", key=key, n_trials=3, **kw)
    np.testing.assert_array_equal(again.counts, vmapped.counts)
    other_key = simulate_ring("fig1", key=jax.random.key(124), n_trials=1, **kw)
    assert not np.array_equal(other_key.counts[0], vmapped.counts[0])


def test_parameter_sweep_equals_separate_runs():
    ss = [0.01, 0.03]
    sweep = simulate_ring(
        ring_params("fig3", ss=np.asarray(ss)), key=jax.random.key(0), n_trials=2, duration_ms=200.0
    )
    assert len(sweep) == 2
    for s, res in zip(ss, sweep, strict=True):
        single = simulate_ring(
            ring_params("fig3", ss=s), key=jax.random.key(0), n_trials=2, duration_ms=200.0
        )
        np.testing.assert_array_equal(res.counts, single.counts)


def test_initial_voltages_lie_between_reset_and_threshold():
    # a shifted reset: V0 ~ U(V_R, v0_max), so the empirical range and mean follow the closed form
    p = ring_params(v_reset=-0.5, v0_max=0.8, tau_ref_ms=1.0)
    st, dyn = model.make_static_dyn(p)
    coef = model.coefficients(dyn, st, 0)
    seeds = jax.numpy.asarray(rng.trial_seeds(jax.random.key(3), 1, 0))[0]
    x = np.asarray(model.init_state(seeds, dyn, coef, st, model._cell_consts(st, 0)).x).ravel()
    assert x.min() >= -0.5 and x.max() < 0.8
    assert x.min() < -0.49 and x.max() > 0.79  # the whole interval is used
    assert x.mean() == pytest.approx(0.15, abs=3 * 1.3 / np.sqrt(12 * x.size))
    # the default (V_R = 0, v0_max = V_T = 1) is U(0, 1): no cell starts refractory
    r = simulate_ring(
        "fig1",
        key=jax.random.key(3),
        n_trials=1,
        duration_ms=1.0,
        bin_ms=0.05,
        voltage_every_ms=0.05,
    )
    assert np.all(r.v < 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):  # results are immutable, like HHResult
        r.counts = None


# -------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ring_params(rate_ext_per_ms=-0.1), "rate_ext_per_ms.*>= 0"),
        (lambda: ring_params("fig9"), "unknown ring preset 'fig9'"),
        (lambda: ring_params(dt_ms=2.0), "dt_ms = 2.0 is larger than the refractory period"),
        (lambda: ring_params(s_EI=-0.01), "s_EI must be >= 0"),
        (lambda: ring_params(rho=1.5), r"rho .* \[0, 1\]"),
        (
            lambda: ring_params(v0_max=1.5),
            r"v0_max .* \[v_reset, v_threshold\] = \[0.0, 1.0\], got 1.5",
        ),
        (lambda: ring_params(v_reset=0.2, v0_max=0.1), r"v0_max .* got 0.1"),
        (
            lambda: simulate_ring(key=jax.random.key(0), v0=np.full((1, 600), 1.0)),
            r"below v_threshold = 1 .* v0\[0, 0\] = 1.0 \(600 such values\)",
        ),
        (
            lambda: simulate_ring(
                key=jax.random.key(0), v0=np.r_[np.zeros(5), np.nan, np.zeros(594)][None]
            ),
            r"v0\[0, 5\] = nan",
        ),
        (
            lambda: ring_params(rate_ext_per_ms=30000.0),
            r"rate_ext_per_ms = 30000.0 at dt_ms = 0.05 means 1500 external events .* "
            r"smaller dt_ms \(<= 0.0333 ms\)",
        ),
        (lambda: ring_params(tau=3), r"unknown ring parameter\(s\) \['tau'\]"),
        (lambda: ring_params("fig1", ss=0.01), "ss .* only applies to preset 'fig3'"),
        (
            lambda: simulate_ring(key=jax.random.key(0), bin_ms=0.07),
            r"bin_ms = 0.07 ms must be .* dt = 0.05",
        ),
        (
            lambda: simulate_ring(key=jax.random.key(0), duration_ms=95.0, bin_ms=10.0),
            "whole number of bins",
        ),
        (lambda: simulate_ring(key=jax.random.key(0), currents_every_ms=1.0), "synaptic=True"),
        (
            lambda: simulate_ring(key=jax.random.key(0), n_trials=0),
            "n_trials must be a positive integer",
        ),
    ],
)
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
