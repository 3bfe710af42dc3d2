"""Reliability experiment and the synaptic currents the LFP uses."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from neurosim.ring import reliability_experiment, ring_params, ring_synaptic_currents, simulate_ring


def test_reliability_shares_input_not_initial_state():
    r = reliability_experiment("fig1", key=jax.random.key(0), n_repeats=3, duration_ms=400.0)
    same, indep = r.same_input, r.independent
    # repeats: identical input (kick seeds), different initial voltages
    assert (
        np.all(same.seeds[:, :2] == same.seeds[0, :2])
        and len({tuple(s) for s in same.seeds[:, 2:]}) == 3
    )
    assert not np.array_equal(same.counts[0], same.counts[1])
    # shared input makes repeats far more alike than independent trials
    assert r.coincidence_same > 0.3 > 0.1 > r.coincidence_independent
    assert r.correlation_same > 0.3 and abs(r.correlation_independent) < 0.05
    # chance coincidence for independent trials ≈ rate × (2·window + dt)
    rate = indep.rates_hz(100.0).mean() / 1000.0
    assert r.coincidence_independent == pytest.approx(rate * 2.05, rel=0.25)
    with pytest.raises(ValueError, match="n_repeats must be >= 2"):
        reliability_experiment("fig1", key=jax.random.key(0), n_repeats=1)


def test_synaptic_currents_api():
    c = ring_synaptic_currents(
        "fig1", key=jax.random.key(1), duration_ms=200.0, every_ms=1.0, n_trials=2
    )
    assert (
        c.params.synaptic
        and c.i_e.shape == c.i_i.shape == (2, 200, 600)
        and c.i_e.dtype == np.float32
    )
    np.testing.assert_allclose(c.times_ms, np.arange(1, 201))
    assert np.all(c.i_e >= 0) and np.all(c.i_i >= 0)
    # stationary mean of a current = Σ rate × kick: λ·f + s_EE·(E spikes per ms within reach)
    ext = 0.65 * 0.07
    assert c.i_e[:, 50:, :300].mean() == pytest.approx(
        ext + 0.016 * 30 * c.spike_counts[:, 50:, :300].mean() / 1.0, rel=0.1
    )
    assert c.spike_counts.sum() == sum(len(t) for t in c.spike_times_ms)
    np.testing.assert_array_equal(c.positions[:300], np.arange(300))
    # the mean mode averages within each interval: same run, smoother
    m = ring_synaptic_currents(
        "fig1", key=jax.random.key(1), duration_ms=200.0, every_ms=1.0, n_trials=2, mode="mean"
    )
    np.testing.assert_array_equal(m.spike_counts, c.spike_counts)
    np.testing.assert_allclose(m.i_e.mean(), c.i_e.mean(), rtol=0.02)
    assert np.abs(np.diff(m.i_e, axis=1)).mean() < np.abs(np.diff(c.i_e, axis=1)).mean()
    np.testing.assert_allclose(m.times_ms[:2], [0.5, 1.5])


def test_currents_need_the_synaptic_variant():
    with pytest.raises(ValueError, match="synaptic=True"):
        simulate_ring(ring_params(), key=jax.random.key(0), duration_ms=10.0, currents_every_ms=1.0)
