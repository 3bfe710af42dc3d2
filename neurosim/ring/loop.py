"""Public step functions of the E/I ring, for time loops that users write themselves.

:func:`~neurosim.ring.simulate_ring` runs and records whole trials. To couple the ring to
something else (an HH read-out, a controller, a closed-loop stimulus), build the loop yourself::

    system, state = neurosim.ring.init_state("fig1", key=jax.random.key(0))

    def body(state, _):
        state, spikes = neurosim.ring.step(state, system)  # spikes: (2, n) bool, E then I
        return state, spikes.sum(axis=1)

    state, pop = jax.lax.scan(body, state, length=20000)  # (steps, 2) E and I spike counts

Both functions are pure over pytrees (:class:`RingSystem`, :class:`~neurosim.ring.model.RingState`),
so ``step`` can be jitted, scanned and vmapped. With the same key, trial and initial voltages the
spikes are those of ``simulate_ring(..., spikes=True)`` (``tests/test_loops.py`` checks it);
``docs/examples/coupled_loops.py`` couples the ring with HH neurons in one ``lax.scan``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from . import model, rng
from .model import Coef, RingState, Static
from .presets import RingParams
from .simulate import _as_params, _check_v0


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class RingSystem:
    """What does not change during a run: derived constants, trial seeds, the structure.

    Attributes:
        coef: per-step constants (:class:`~neurosim.ring.model.Coef`).
        seeds: (*trials, 4) uint32 trial seeds (words 0–1 drive the kicks, 2–3 the initial state).
        consts: per-cell hash constants, (2, n, *ones).
        static: compile-time structure (:class:`~neurosim.ring.model.Static`).
        params: the parameters (static).
    """

    coef: Coef
    seeds: jax.Array
    consts: jax.Array
    static: Static = field(metadata=dict(static=True))
    params: RingParams = field(metadata=dict(static=True))


def init_state(
    params: RingParams | str = "fig1",
    *,
    key=None,
    n_trials: int | None = None,
    trial_offset: int = 0,
    seeds: np.ndarray | None = None,
    v0: np.ndarray | None = None,
    dtype: str = "float32",
) -> tuple[RingSystem, RingState]:
    """The fixed part of a run and its initial state, for :func:`step`.

    Args:
        params: :class:`RingParams` (scalar fields: one parameter set) or a preset name.
        key: JAX PRNG key; trial t uses ``fold_in(key, trial_offset + t)`` as in
            :func:`~neurosim.ring.simulate_ring`.
        n_trials: None: one trial, arrays (2, n); an integer: that many trials side by side,
            arrays (2, n, n_trials).
        trial_offset: index of the first trial.
        seeds: explicit (4,) (one trial) or (n_trials, 4) uint32 seeds instead of ``key``.
        v0: optional initial voltages, (2n,) for one trial or (n_trials, 2n) (each below V_T);
            default Uniform(v_reset, v0_max) from the seeds.
        dtype: ``"float32"`` or ``"float64"`` (needs ``jax.enable_x64``).

    Returns:
        ``(system, state)``: a :class:`RingSystem` and the state at step 0.

    Raises:
        ValueError: bad parameters, a sweep (array-valued parameters: vmap over sets yourself),
            seeds or v0 of the wrong shape, v0 at or above threshold.
    """
    p = _as_params(params)
    if p.n_sets is not None:
        raise ValueError(
            f"init_state takes one parameter set; got a sweep of {p.n_sets} (array-valued fields)"
        )
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype='float64' needs 64-bit JAX: call it inside jax.enable_x64(True)")
    if n_trials is not None and (not isinstance(n_trials, (int, np.integer)) or n_trials < 1):
        raise ValueError(f"n_trials must be None or a positive integer, got {n_trials!r}")
    t = 1 if n_trials is None else int(n_trials)
    if seeds is None:
        if key is None:
            raise ValueError("init_state needs key=jax.random.key(...) (or explicit seeds=)")
        s = np.asarray(rng.trial_seeds(key, t, trial_offset))
    else:
        s = np.asarray(seeds, np.uint32).reshape(-1, 4) if np.size(seeds) == 4 * t else None
        if s is None:
            raise ValueError(
                f"seeds must have shape {(4,) if n_trials is None else (t, 4)}, "
                f"got {np.shape(seeds)}"
            )
    n = p.n_per_type
    st, dyn = model.make_static_dyn(p, dtype)
    nd = 0 if n_trials is None else 1
    coef = model.coefficients(dyn, st, nd)
    consts = model._cell_consts(st, nd)
    seeds_j = jnp.asarray(s[0] if n_trials is None else s)
    x0 = None
    if v0 is not None:
        v = np.asarray(v0, np.float64).reshape(t, -1) if np.size(v0) == t * 2 * n else None
        if v is None:
            raise ValueError(
                f"v0 must have shape {(2 * n,) if n_trials is None else (t, 2 * n)}, "
                f"got {np.shape(v0)}"
            )
        _check_v0(v, p)
        v = v.reshape(t, 2, n)
        x0 = jnp.asarray(v[0] if n_trials is None else np.moveaxis(v, 0, -1), dtype)
    state = model.init_state(seeds_j, dyn, coef, st, consts, v0=x0)
    return RingSystem(coef=coef, seeds=seeds_j, consts=consts, static=st, params=p), state


def step(state: RingState, system: RingSystem, drive=None) -> tuple[RingState, jax.Array]:
    """Advance the ring by one time step of ``params.dt_ms``: pure, jit- and scan-friendly.

    Args:
        state: the state at the start of step ``state.j``.
        system: from :func:`init_state`.
        drive: optional voltage increment for this step, broadcastable to (2, n, *trials) (V is
            dimensionless, V_T = 1), added to every cell that integrates this step; refractory
            cells ignore it.

    Returns:
        ``(new state, spikes)``: spikes of this step, (2, n, *trials) bool (E cells, then I).
        Cell ``type·n + k`` of ``simulate_ring`` is ``spikes[type, k]``.
    """
    st = system.static
    new = model.step(state, system.coef, st, system.seeds, system.consts, drive=drive)
    return new, new.x >= system.coef.level_spike
