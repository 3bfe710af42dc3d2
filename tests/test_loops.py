"""The public step functions (hh.init_state/step, ring.init_state/step) against the simulators."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurosim import hh, ring


def _scan_hh(system, state, n_steps, I=0.0):
    def body(s, _):
        s, out = hh.step(s, system, I=I)
        return s, (s.neuron.V, out.I)

    return jax.jit(lambda s: jax.lax.scan(body, s, length=n_steps))(state)


@pytest.mark.parametrize("dtype, atol", [("float32", 1e-2), ("float64", 1e-9)])
def test_hh_step_repeated_is_simulate_hh(dtype, atol):
    # The same model and numbers; XLA compiles the two loops differently (fusion, FMA), so
    # they agree to rounding, amplified by the dynamics: ~1e-3 mV after 10 ms in float32.
    inp = hh.OU(mean=5.0, sd=3.0, tau_ms=4.0) + hh.Step(4.0, 2.0, 6.0) + hh.PoissonSynapses()
    kw = dict(n=3, dt=0.025, key=jax.random.key(7), v0=np.array([-65.0, -60.0, -70.0]))
    with jax.enable_x64(dtype == "float64"):
        system, state = hh.init_state(inp, dtype=dtype, **kw)
        final, (V, _) = _scan_hh(system, state, 400)
        ref = hh.simulate_hh(inp, 10.0, record=("V",), record_every=1, dtype=dtype, **kw)
    assert V.dtype == np.dtype(dtype)
    V = np.asarray(V).T
    assert np.ptp(V) > 50  # the neurons spike
    np.testing.assert_allclose(V, np.asarray(ref.V), rtol=0, atol=atol)
    assert int(final.k) == 400
    for a, b in zip(final.neuron, ref.final_state, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


def test_hh_step_extra_current_adds_to_the_input():
    # I passed to step is an input like any other: Step + extra c == simulate_hh(Step + Constant(c))
    c = np.array([1.0, 2.5], np.float32)
    system, state = hh.init_state(hh.Step(6.0, 1.0), n=2, dt=0.05)
    _, (V, I) = _scan_hh(system, state, 200, I=jnp.asarray(c))
    ref = hh.simulate_hh(
        hh.Step(6.0, 1.0) + hh.Constant(c), 10.0, dt=0.05, record=("V", "I_ext"), record_every=1
    )
    np.testing.assert_allclose(np.asarray(V).T, np.asarray(ref.V), rtol=0, atol=1e-3)
    k = np.arange(200)
    np.testing.assert_allclose(np.asarray(I).T, np.where(k >= 20, 6.0, 0.0) + c[:, None])


def test_hh_init_state_refuses_bad_values():
    with pytest.raises(ValueError, match="dt=0.5 ms is too large"):
        hh.init_state(1.0, dt=0.5)
    with pytest.raises(ValueError, match="inconsistent batch sizes"):
        hh.init_state(hh.Constant(np.ones(3)), n=2)
    with pytest.raises(ValueError, match="needs 64-bit JAX"):
        hh.init_state(1.0, dtype="float64")


def _scan_ring(system, state, n_steps):
    def body(s, _):
        s, spikes = ring.step(s, system)
        return s, spikes

    return jax.jit(lambda s: jax.lax.scan(body, s, length=n_steps))(state)


def _spike_list(spikes, trial=None):
    """(steps, 2, n[, trials]) bool → (steps, cell ids) in simulate_ring's order (step, cell)."""
    s = np.asarray(spikes)
    if trial is not None:
        s = s[..., trial]
    s = s.reshape(s.shape[0], -1)
    steps, cells = np.nonzero(s)
    return steps, cells


@pytest.mark.parametrize("n_trials", [None, 3])
def test_ring_step_repeated_is_simulate_ring(n_trials):
    key, dur = jax.random.key(11), 50.0
    system, state = ring.init_state("fig1", key=key, n_trials=n_trials, trial_offset=2)
    _, spikes = _scan_ring(system, state, int(dur / 0.05))
    ref = ring.simulate_ring(
        "fig1",
        key=key,
        n_trials=1 if n_trials is None else n_trials,
        trial_offset=2,
        duration_ms=dur,
        spikes=True,
    )
    for t in range(1 if n_trials is None else n_trials):
        steps, cells = _spike_list(spikes, None if n_trials is None else t)
        order = np.lexsort((ref.spike_ids[t], ref.spike_steps[t]))
        assert steps.size > 100
        np.testing.assert_array_equal(steps, ref.spike_steps[t][order])
        np.testing.assert_array_equal(cells, ref.spike_ids[t][order])


def test_ring_drive_and_explicit_v0():
    p = ring.ring_params("fig1")
    v0 = np.full(p.n_cells, 0.5)
    system, state = ring.init_state(p, key=jax.random.key(0), v0=v0)
    np.testing.assert_array_equal(np.asarray(state.x).ravel(), v0.astype(np.float32))
    # a drive of 0 changes nothing; a drive of 1 from V = 0.5 makes every cell spike at once
    s0, spikes0 = ring.step(state, system)
    s1, spikes1 = ring.step(state, system, drive=jnp.zeros((2, p.n_per_type)))
    np.testing.assert_array_equal(s0.x, s1.x)
    _, spikes = ring.step(state, system, drive=1.0)
    assert bool(jnp.all(spikes)) and not bool(jnp.all(spikes0))
    with pytest.raises(ValueError, match=r"v0\[0, 7\] = 1.5"):
        ring.init_state(p, key=jax.random.key(0), v0=np.where(np.arange(600) == 7, 1.5, 0.0))
    with pytest.raises(ValueError, match="one parameter set"):
        ring.init_state(ring.ring_params("fig3", ss=np.array([0.01, 0.02])), key=jax.random.key(0))
