"""Couple the E/I ring and a population of HH neurons in one ``lax.scan``, in a closed loop.

The ring's excitatory spikes of each step drive the HH neurons (a current ``w_ring_to_hh`` per
spike), and every HH spike kicks the ring's excitatory cells (a voltage step ``w_hh_to_ring``).
Neither simulator knows about the other: the loop is the user's, over the public step functions
``neurosim.ring.init_state/step`` and ``neurosim.hh.init_state/step``.

Run it: ``python docs/examples/coupled_loops.py`` (prints spike counts with and without the loop).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import neurosim


def run(
    duration_ms: float = 200.0,
    *,
    w_ring_to_hh: float = 5.0,
    w_hh_to_ring: float = 0.0,
    n_hh: int = 8,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Simulate the coupled system; the time step is the ring's (0.05 ms).

    Args:
        duration_ms: simulated time (ms).
        w_ring_to_hh: current (µA/cm²) into every HH neuron per ring E spike of the step.
        w_hh_to_ring: voltage kick (V_T = 1) to every ring E cell per HH spike of the last step.
        n_hh: number of HH neurons, each with its own OU background current.
        seed: the ring uses ``key(seed)``, the HH background ``key(seed + 1)``.

    Returns:
        ``e_spikes`` (steps,) ring E spikes per step, ``V`` (steps, n_hh) HH voltages (mV) at the
        end of each step, ``hh_spikes`` (steps, n_hh) bool upward crossings of 0 mV, and ``dt``.
    """
    ring_sys, ring_state = neurosim.ring.init_state("fig1", key=jax.random.key(seed))
    dt = float(ring_sys.params.dt_ms)
    background = neurosim.hh.OU(mean=6.0, sd=2.0, tau_ms=5.0)
    hh_sys, hh_state = neurosim.hh.init_state(
        background, n=n_hh, dt=dt, key=jax.random.key(seed + 1)
    )
    n_steps = int(round(duration_ms / dt))
    e_only = jnp.asarray([[1.0], [0.0]], jnp.float32)  # (2, 1): E cells, not I cells

    def body(carry, _):
        ring_state, hh_state, hh_spiked = carry
        kick = w_hh_to_ring * jnp.sum(hh_spiked).astype(jnp.float32) * e_only
        ring_state, spikes = neurosim.ring.step(ring_state, ring_sys, drive=kick)
        e_spikes = jnp.sum(spikes[0], dtype=jnp.int32)
        v_before = hh_state.neuron.V
        current = w_ring_to_hh * e_spikes.astype(jnp.float32)
        hh_state, _ = neurosim.hh.step(hh_state, hh_sys, I=current)
        v = hh_state.neuron.V
        hh_spiked = (v_before < 0.0) & (v >= 0.0)
        return (ring_state, hh_state, hh_spiked), (e_spikes, v, hh_spiked)

    @jax.jit
    def loop(ring_state, hh_state):
        carry = (ring_state, hh_state, jnp.zeros((n_hh,), bool))
        _, out = jax.lax.scan(body, carry, length=n_steps)
        return out

    e_spikes, V, hh_spikes = loop(ring_state, hh_state)
    return {
        "e_spikes": np.asarray(e_spikes),
        "V": np.asarray(V),
        "hh_spikes": np.asarray(hh_spikes),
        "dt": dt,
    }


if __name__ == "__main__":
    for w in (0.0, 0.02):
        out = run(w_hh_to_ring=w)
        print(
            f"w_hh_to_ring = {w}: ring E spikes {int(out['e_spikes'].sum())}, "
            f"HH spikes {int(out['hh_spikes'].sum())}"
        )
