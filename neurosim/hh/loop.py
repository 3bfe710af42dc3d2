"""Public step functions of the HH simulator, for time loops that users write themselves.

:func:`simulate_hh` runs the whole loop for you. To couple neurons to something else (another
simulator, a controller, a closed-loop stimulus), build the loop yourself::

    system, state = neurosim.hh.init_state(neurosim.hh.OU(mean=8.0, sd=2.0), n=100,
                                           key=jax.random.key(0))

    def body(state, _):
        state, out = neurosim.hh.step(state, system, I=extra_current(state))
        return state, state.neuron.V

    state, V = jax.lax.scan(body, state, length=4000)  # V: (4000, 100)

Both functions are pure: ``system`` (parameters, compiled input, random streams) and ``state``
are pytrees, so ``step`` can be jitted, scanned, vmapped and differentiated. With the same
arguments, ``step`` repeated ``k`` times gives the voltages that ``simulate_hh(...,
record_every=1)`` records, to rounding: XLA compiles the two loops differently, so float32 runs
drift apart by ~1e-3 mV over 10 ms, float64 runs by ~1e-12 (``tests/test_loops.py`` checks both). ``docs/examples/coupled_loops.py``
couples an HH population with the E/I ring in one ``lax.scan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .inputs import CompiledInput, Input, as_input
from .integrators import MAX_DT, HHState, get_integrator
from .kinetics import steady_state
from .params import HHParams
from .simulate import _advance, _batch_axes, _batch_size, _check_dt, _stream_seeds

#: the number of steps that inputs are compiled for (a ``Step`` without ``stop_ms`` lasts this long)
MAX_STEPS = 2**30


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class HHSystem:
    """What does not change during a run: parameters, the compiled input, random streams.

    Attributes:
        params: :class:`HHParams` with every field a 0-d array (shared) or shape (B,).
        inputs: the compiled input (:class:`~neurosim.hh.inputs.CompiledInput`).
        seeds: one (B,) uint32 seed array per random stream of the input.
        dt: time step (ms).
        method: integrator name (``"expeuler"``, ``"expeuler-brian2"``, ``"rk4"``).
    """

    params: HHParams
    inputs: CompiledInput
    seeds: tuple
    dt: float = field(metadata=dict(static=True))
    method: str = field(metadata=dict(static=True))


class HHLoopState(NamedTuple):
    """The state at the start of step ``k``.

    Attributes:
        neuron: :class:`HHState`, each field (B,): V (mV) and the gates.
        inputs: the input's own state, every leaf with a leading axis B (``()`` if none).
        k: int32 scalar, the index of the next step (time ``k·dt`` ms).
    """

    neuron: HHState
    inputs: Any
    k: jax.Array


class HHStepOutput(NamedTuple):
    """The input during the step just taken: the neuron received ``I − G·V``.

    Attributes:
        I: (B,) current (the input's plus the ``I`` passed to :func:`step`).
        G: (B,) conductance (likewise).
    """

    I: jax.Array
    G: jax.Array


def init_state(
    inputs: Input | float = 0.0,
    *,
    params: HHParams | None = None,
    n: int | None = None,
    dt: float = 0.025,
    method: str = "expeuler",
    v0: Any = -65.0,
    key: jax.Array | None = None,
    streams=None,
    dtype: Any = "float32",
) -> tuple[HHSystem, HHLoopState]:
    """The fixed part of a run and its initial state, for :func:`step`.

    Arguments mean what they mean for :func:`~neurosim.hh.simulate_hh`: the neurons start at
    ``v0`` (mV) with their gates at steady state; neuron i draws its random input from stream
    ``streams[i]`` (default i) of ``key``.

    Args:
        inputs: an :mod:`neurosim.hh.inputs` object or a number (a constant current).
        params: :class:`HHParams` (default: squid axon per area); fields scalars or (B,).
        n: number of neurons B, if no argument is per neuron.
        dt: time step (ms), at most ``MAX_DT[method]``.
        method: integrator.
        v0: initial voltage (mV), scalar or (B,).
        key: ``jax.random.key`` for random inputs.
        streams: (B,) integer stream of each neuron.
        dtype: ``"float32"`` or ``"float64"`` (the latter needs ``jax.enable_x64``).

    Returns:
        ``(system, state)``: an :class:`HHSystem` and the :class:`HHLoopState` at step 0.

    Raises:
        ValueError: the same bad values that :func:`simulate_hh` refuses.
    """
    if method not in MAX_DT:
        get_integrator(method)  # raises with the list of names
    _check_dt(dt, method)
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.dtype("float32"), jnp.dtype("float64")):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    if dtype == jnp.dtype("float64") and not jax.config.jax_enable_x64:
        raise ValueError("dtype='float64' needs 64-bit JAX: call it inside jax.enable_x64(True)")
    params = HHParams() if params is None else params
    if not isinstance(params, HHParams):
        raise ValueError(f"params must be an HHParams, got {type(params).__name__}")
    params.check()
    inp = as_input(inputs)
    B = _batch_size(params, inp, n=n, v0=v0, streams=streams, key=key)
    if not np.all(np.isfinite(np.asarray(v0, np.float64))):
        raise ValueError(f"v0 must be finite, got {v0}")
    p = params.as_arrays(B, dtype)
    cin = inp.compile(n=B, dt=float(dt), n_steps=MAX_STEPS, dtype=dtype)
    seeds = _stream_seeds(key, streams, B, inp.n_random)
    system = HHSystem(params=p, inputs=cin, seeds=seeds, dt=float(dt), method=method)
    V = jnp.broadcast_to(jnp.asarray(v0, dtype), (B,))
    m, h, n_ = jax.jit(steady_state)(V)  # compiled, as in simulate_hh (eager exp differs by ulps)
    axes = _batch_axes((p, cin, seeds, V))
    input_state = jax.vmap(
        lambda c, s: c.init(s), in_axes=(axes[1], axes[2]), out_axes=0, axis_size=B
    )(cin, seeds)
    return system, HHLoopState(HHState(V, m, h, n_), input_state, jnp.int32(0))


def step(
    state: HHLoopState, system: HHSystem, I: Any = 0.0, G: Any = 0.0
) -> tuple[HHLoopState, HHStepOutput]:
    """Advance every neuron by one step of ``system.dt``: pure, jit- and scan-friendly.

    Args:
        state: the state at the start of step ``state.k``.
        system: from :func:`init_state`.
        I: extra current during this step, scalar or (B,), in the neuron's current unit (added to
            the input's; e.g. a coupling or a closed-loop stimulus).
        G: extra conductance during this step, scalar or (B,) (the neuron receives ``−G·V``).

    Returns:
        ``(new state, HHStepOutput)``.
    """
    V = state.neuron.V
    B, dtype = V.shape[0], V.dtype
    I = jnp.broadcast_to(jnp.asarray(I, dtype), (B,))
    G = jnp.broadcast_to(jnp.asarray(G, dtype), (B,))
    p_ax, in_ax, seed_ax, _ = _batch_axes((system.params, system.inputs, system.seeds, V))

    def one(s, ins, p, cin, seeds, i_add, g_add):
        return _advance(
            s,
            ins,
            state.k,
            p,
            cin,
            seeds,
            method=system.method,
            dt=system.dt,
            I_add=i_add,
            G_add=g_add,
        )

    neuron, ins, I_tot, G_tot = jax.vmap(
        one, in_axes=(0, 0, p_ax, in_ax, seed_ax, 0, 0), out_axes=0
    )(state.neuron, state.inputs, system.params, system.inputs, system.seeds, I, G)
    new = HHLoopState(neuron, ins, state.k + jnp.int32(1))
    return new, HHStepOutput(jnp.asarray(I_tot, dtype), jnp.asarray(G_tot, dtype))
