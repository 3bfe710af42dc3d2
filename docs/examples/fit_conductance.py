"""Recover a conductance from a voltage trace by gradient descent through the simulator.

A "recorded" trace is simulated with the textbook potassium conductance g_K = 36 mS/cm² and a
noisy subthreshold input current; starting from a wrong guess, jax.grad of the mean squared
voltage error with respect to g_K drives the guess back to 36.

    python docs/examples/fit_conductance.py
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import neurosim


def make_recording(g_k=36.0, seed=0, duration_ms=200.0):
    """A subthreshold recording: input current (µA/cm², 1 ms steps) and V every 1 ms (mV)."""
    current = np.random.default_rng(seed).normal(0.0, 0.5, int(duration_ms))
    res = neurosim.simulate_hh(
        neurosim.ArrayInput(current, 1.0),
        duration_ms,
        params=neurosim.HHParams(g_k=g_k),
        record_every=40,
        dtype="float64",
    )
    return current, np.asarray(res.V[0])


def fit_g_k(current, v_recorded, g_start=28.0, steps=8):
    """Fit g_K with L-BFGS on the mean squared voltage error; returns the history of g_K.

    ``jax.value_and_grad`` differentiates the loss through the whole simulation (40 integration
    steps per recorded millisecond); optax's L-BFGS with its zoom line search uses it.
    """
    duration = float(len(current))

    def loss(g_k):
        v = neurosim.simulate_hh(
            neurosim.ArrayInput(current, 1.0),
            duration,
            params=neurosim.HHParams(g_k=g_k),
            record_every=40,
            dtype="float64",
        ).V[0]
        return jnp.mean((v - v_recorded) ** 2)

    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss)

    @jax.jit
    def step(g, state):
        value, grad = value_and_grad(g, state=state)
        updates, state = opt.update(grad, state, g, value=value, grad=grad, value_fn=loss)
        return optax.apply_updates(g, updates), state, value, grad

    with jax.enable_x64(True):
        g = jnp.float64(g_start)
        state = opt.init(g)
        history = [float(g)]
        for i in range(steps):
            g_new, state, value, grad = step(g, state)
            print(
                f"step {i}  g_K = {float(g):7.3f} mS/cm²  loss = {float(value):.2e} mV²  "
                f"dloss/dg_K = {float(grad):+.2e}"
            )
            g = g_new
            history.append(float(g))
    return history


if __name__ == "__main__":
    current, v = make_recording()
    history = fit_g_k(current, v)
    print(f"recovered g_K = {history[-1]:.3f} mS/cm² (true 36, start {history[0]})")
