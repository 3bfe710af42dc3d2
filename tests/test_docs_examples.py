"""The examples in docs/ run and do what the docs say."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.standard_dtypes  # optax.lbfgs adds int32 and int64 step counters under x64
def test_gradient_descent_recovers_the_potassium_conductance():
    fc = _load("fit_conductance")
    current, v = fc.make_recording(g_k=36.0, duration_ms=100.0)
    history = fc.fit_g_k(current, v, g_start=28.0, steps=6)
    assert history[0] == 28.0
    assert history[-1] == pytest.approx(36.0, abs=0.05)


def test_coupled_loops_are_the_two_simulators_when_coupled_one_way():
    import jax
    import numpy as np

    import neurosim

    ex = _load("coupled_loops")
    dur, w = 40.0, 5.0
    out = ex.run(dur, w_ring_to_hh=w, w_hh_to_ring=0.0, n_hh=4, seed=3)
    # the ring alone: its E spikes per step are simulate_ring's
    ring = neurosim.simulate_ring("fig1", key=jax.random.key(3), duration_ms=dur, spikes=True)
    e = np.bincount(ring.spike_steps[0][ring.spike_ids[0] < 300], minlength=out["e_spikes"].size)
    np.testing.assert_array_equal(out["e_spikes"], e)
    assert e.sum() > 50
    # the HH neurons: background + w · (E spikes of each step), a shared current trace
    drive = neurosim.OU(mean=6.0, sd=2.0, tau_ms=5.0) + neurosim.ArrayInput(w * e, dt_ms=out["dt"])
    ref = neurosim.simulate_hh(
        drive, dur, dt=out["dt"], n=4, key=jax.random.key(4), record=("V",), record_every=1
    )
    np.testing.assert_allclose(out["V"].T, np.asarray(ref.V), rtol=0, atol=1e-2)
    np.testing.assert_array_equal(out["hh_spikes"].sum(axis=0), np.asarray(ref.spike_counts))
    # closing the loop (HH spikes kick the ring's E cells) changes the ring
    fed = ex.run(dur, w_ring_to_hh=w, w_hh_to_ring=0.05, n_hh=4, seed=3)
    assert fed["hh_spikes"].sum() > 0 and fed["e_spikes"].sum() > out["e_spikes"].sum()
