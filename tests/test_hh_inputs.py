"""Inputs: exact OU statistics, alignment of steps/ramps/arrays, shot-noise conductances."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from neurosim import OU, ArrayInput, Constant, PoissonSynapses, Ramp, Step, rng, simulate_hh

DT = 0.025


def _input_trace(inp, duration, n=1, key=None, every=1, dtype="float32"):
    res = simulate_hh(
        inp, duration, n=n, key=key, record=("I_ext",), record_every=every, dtype=dtype
    )
    return np.asarray(res.traces["I_ext"])


def test_ou_variance_grows_as_the_exact_solution():
    """From I(0) = mean: Var I_k = sd²(1 − a^{2k}), Cov(I_j, I_k) = a^{k−j} Var I_j (a = e^{−dt/τ})."""
    tau, sd, mean = 5.0, 2.0, 0.5
    x = _input_trace(
        OU(mean=mean, sd=sd, tau_ms=tau), 20.0, n=4000, key=jax.random.key(0), every=40
    )
    k = 40 * np.arange(1, x.shape[1] + 1) - 1  # updates before each recorded step
    a = np.exp(-DT / tau)
    var = sd**2 * (1 - a ** (2 * k))
    n = x.shape[0]
    assert np.all(np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / n))
    assert np.all(np.abs(x.var(0) - var) < 5 * var * np.sqrt(2 / n))
    cov = np.mean((x[:, 1:] - mean) * (x[:, :-1] - mean), axis=0)
    expected = a**40 * var[:-1]
    assert np.all(np.abs(cov - expected) < 5 * var[1:] * np.sqrt(2 / n))


def test_ou_from_sigma_and_update_grid():
    ou = OU.from_sigma(0.0, 25.0, 0.01, update_ms=1.0)
    assert ou.tau_ms == pytest.approx(100.0) and ou.sd == pytest.approx(25 / np.sqrt(0.02))
    x = _input_trace(ou, 10.0, key=jax.random.key(1))[0]
    steps = x.reshape(10, 40)  # held constant within each 1 ms
    assert np.all(steps == steps[:, :1])
    assert len(np.unique(steps[:, 0])) == 10


def test_step_ramp_and_sum_are_exact():
    x = _input_trace(Step(3.0, 1.0, 2.0) + Ramp(0.0, 4.0, 2.0, 3.0) + Constant(-1.0), 4.0)[0]
    t = DT * np.arange(x.size)  # start of each step
    step = np.where((t >= 1.0 - 1e-9) & (t < 2.0 - 1e-9), 3.0, 0.0)
    ramp = np.where((t >= 2.0 - 1e-9) & (t < 3.0 - 1e-9), 4.0 * (t - 2.0), 0.0)
    np.testing.assert_allclose(x, step + ramp - 1.0, atol=1e-5)


def test_array_input_is_held_per_sample():
    values = np.array([[1.0, -2.0, 3.0], [0.5, 0.25, 0.0]])
    x = _input_trace(ArrayInput(values, 0.5), 1.5, n=2)
    np.testing.assert_array_equal(x, np.repeat(values, 20, axis=1).astype(np.float32))
    shared = _input_trace(ArrayInput(values[0], 0.5), 1.5, n=3)
    np.testing.assert_array_equal(shared, np.repeat(values[:1], 20, axis=1).repeat(3, 0))


def test_poisson_synapses_shot_noise_statistics():
    """Campbell's theorem in discrete time: E g = wλ/(1−d), Var g = w²λ/(1−d²) per synapse type."""
    syn = PoissonSynapses(rate_e_hz=3000.0, rate_i_hz=800.0, w_e=0.01, w_i=0.03)
    n, steps = 4000, 2000
    comp = syn.compile(n=n, dt=DT, n_steps=steps, dtype=jnp.float32)
    seeds = tuple(rng.stream_seeds(jax.random.key(5), jnp.arange(n), tag=i) for i in range(2))

    def one(seed_e, seed_i):
        def body(state, k):
            _, _, state = comp(state, k, (seed_e, seed_i), DT)
            return state, None

        state, _ = lax.scan(body, comp.init((seed_e, seed_i)), jnp.arange(steps))
        return state

    ge, gi = jax.jit(jax.vmap(one))(*seeds)
    for g, rate, w, tau in ((ge, 3000.0, 0.01, 3.0), (gi, 800.0, 0.03, 10.0)):
        lam, d = rate * DT * 1e-3, np.exp(-DT / tau)
        mean, var = w * lam / (1 - d), w**2 * lam / (1 - d**2)
        g = np.asarray(g)
        assert abs(g.mean() - mean) < 5 * np.sqrt(var / n)
        assert abs(g.var() - var) < 0.1 * var


def test_poisson_synapses_drive_irregular_firing():
    res = simulate_hh(PoissonSynapses(), 2000.0, n=16, key=jax.random.key(9), max_spikes=200)
    rates = np.asarray(res.spike_counts) / 2.0
    assert 5.0 < rates.mean() < 20.0  # ~10 Hz documented for the defaults
    isi = np.concatenate([np.diff(s) for s in res.spike_trains() if len(s) > 2])
    assert isi.std() / isi.mean() > 0.5  # irregular, not a clock


def test_a_shared_trace_as_long_as_the_batch_is_not_split_per_neuron():
    # (K,) with K == B is one trace for every neuron: the input declares it unbatched
    vals = np.array([1.0, 4.0, 9.0])
    shared = _input_trace(ArrayInput(vals, dt_ms=1.0), 3.0, n=3, every=40)
    tiled = _input_trace(ArrayInput(np.tile(vals, (3, 1)), dt_ms=1.0), 3.0, n=3, every=40)
    np.testing.assert_array_equal(shared, tiled)
    np.testing.assert_array_equal(shared, np.tile(vals, (3, 1)))


def test_a_user_defined_input_runs_through_the_simulator():
    # A new input is an Input whose compile() returns its own CompiledInput pytree; leaves of
    # shape (n,) are per neuron. Independent reference: the same samples as an ArrayInput.
    from dataclasses import dataclass

    from neurosim.hh import CompiledInput, Input

    @jax.tree_util.register_dataclass
    @dataclass(frozen=True)
    class SineDrive(CompiledInput):
        amp: jax.Array  # (n,) per neuron
        omega: float  # rad per step (0-d: shared)

        def __call__(self, state, step, seeds, dt):
            return self.amp * jnp.sin(self.omega * step.astype(self.amp.dtype)), 0.0, state

    class Sine(Input):
        def __init__(self, amp, period_ms):
            self.amp, self.period_ms = amp, period_ms

        def batch_size(self):
            return len(self.amp)

        def compile(self, *, n, dt, n_steps, dtype):
            amp = jnp.broadcast_to(jnp.asarray(self.amp, dtype), (n,))
            return SineDrive(amp=amp, omega=jnp.asarray(2 * np.pi * dt / self.period_ms, dtype))

    amp = np.array([2.0, 5.0, 8.0], np.float32)
    res = simulate_hh(Sine(amp, 10.0), 20.0, record=("V", "I_ext"), record_every=1)
    k = np.arange(int(20.0 / DT))
    samples = (
        amp[:, None] * np.sin(np.float32(2 * np.pi * DT / 10.0) * k.astype(np.float32))[None, :]
    ).astype(np.float32)
    np.testing.assert_allclose(res.traces["I_ext"], samples, rtol=2e-6, atol=2e-6)
    ref = simulate_hh(ArrayInput(samples, dt_ms=DT), 20.0, record=("V",), record_every=1)
    np.testing.assert_allclose(res.V, ref.V, rtol=0, atol=1e-3)
