"""The E/I integrate-and-fire ring: state, one time step, and the jit-compiled trial loop.

Time stepping follows the original code (spec/ring.md). At each step ``j``, for all cells at once:

1. a cell whose refractory period has elapsed restarts from V_R and integrates normally this step;
2. ``V ← V + (dt·(−V/τ_L) + (f·n_ext + W·s_prev))`` where ``n_ext`` is the number of external
   events in this step and ``s_prev`` the spikes of the previous step (a one-step synaptic delay);
   refractory cells do not move and lose their input;
3. ``V ≥ V_T`` → spike at time ``j·dt``; the cell becomes refractory for ``R = round(τ_ref/dt)``
   steps (held at V_R, overshoot discarded) and integrates again at step ``j + R``.

Synaptic-current variant (``synaptic=True``, their ``MLMC_LIF_Current_Based_Syn_Final``)::

    V   ← V + dt·(−V/τ_L + I_E − I_I)                        (active cells)
    I_E ← (I_E + (f·n_ext + W_E·s_prev)/τ_E) · exp(−dt/τ_E)   (all cells, also when refractory)
    I_I ← (I_I + W_I·s_prev/τ_I) · exp(−dt/τ_I)

with ``W_E`` the excitatory (E-presynaptic) and ``W_I`` the inhibitory magnitudes, and V using the
currents from before their update.

Implementation. The state of a cell is one float ``x``: its voltage while active (``x < V_T``) and
``V_T + r`` while refractory with ``r`` steps left, so one fused XLA kernel updates the whole state
and the previous step's spikes are ``x == V_T + R``. The recurrent input is two box sums (E and I
spikes over ring offsets −h..h), not a matrix product. Kicks come from a counter-based hash
(:mod:`neurosim.ring.rng`). Arrays are ``(2, n, *trials)``: type, ring position, and an optional
trailing trial axis (trials in the vector lanes); a single trial has no trial axis.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import rng
from .connectivity import box_sum
from .presets import RingParams


class Static(NamedTuple):
    """Compile-time structure of a simulation (hashable)."""

    n: int  # cells per type
    half_width: int | None  # ring offsets −h..h (None: all-to-all)
    refractory_steps: int  # R
    synaptic: bool
    thresholds: tuple[int, ...] | None  # independent kicks (static), or None when traced
    shared_thresholds: tuple[int, ...] | None  # shared kicks (static), or None when traced
    has_shared: bool
    dtype: str  # "float32" or "float64"


class Dyn(NamedTuple):
    """Numeric parameters as arrays (scalars, or one value per parameter set before vmap)."""

    dt: jax.Array
    tau_L: jax.Array
    f: jax.Array  # (2,) kick of one external event to an E / I cell
    s_EE: jax.Array
    s_EI: jax.Array
    s_IE: jax.Array
    s_II: jax.Array
    v_th: jax.Array
    v_reset: jax.Array
    tau_E: jax.Array
    tau_I: jax.Array
    v0_max: jax.Array
    i0_max: jax.Array
    thr_m1: jax.Array  # (K,) int32 thresholds − 1 (traced case; padded with 2^31 − 1)
    sh_thr_m1: jax.Array  # (Ks,) int32 shared thresholds − 1


class RingState(NamedTuple):
    """State of the ring at the start of step ``j``.

    Attributes:
        x: (2, n, *trials) voltage of active cells; ``V_T + r`` for refractory cells with r
            steps left (``x == V_T + R``: spiked at the previous step).
        i_e, i_i: (2, n, *trials) synaptic currents (synaptic variant), else None.
        j: step index (uint32 scalar).
        k: (*trials,) uint32 random key of step j.
        sh: (*trials,) int32 shared external events of step j (zeros when ρ = 0).
    """

    x: jax.Array
    i_e: jax.Array | None
    i_i: jax.Array | None
    j: jax.Array
    k: jax.Array
    sh: jax.Array


class Coef(NamedTuple):
    """Derived per-step constants, computed once outside the time loop (arrays broadcast against
    (2, n, *trials); per-type values have shape (2, 1, *ones))."""

    minus_dt_over_tau: jax.Array  # −dt/τ_L
    minus_inv_tau: jax.Array  # −1/τ_L
    dt: jax.Array
    f: jax.Array  # kick of one external event, per type
    c_exc: jax.Array  # per type: s_EE (E cells), s_IE (I cells) — times the E box sum
    d_exc: jax.Array  # per type: s_EE, 0 — times the cell's own spike (no self-connection)
    c_inh: jax.Array  # per type: s_EI, s_II — times the I box sum
    d_inh: jax.Array  # per type: 0, s_II
    v_reset: jax.Array
    level_refractory: jax.Array  # V_T + 0.5: x above it is refractory
    level_frozen: jax.Array  # V_T + 1.5: still refractory after this step
    level_spike: jax.Array  # V_T + R − 0.5: spiked at the previous step
    x_spike: jax.Array  # V_T + R: the state right after a spike
    v_th: jax.Array
    inv_tau_E: jax.Array
    inv_tau_I: jax.Array
    decay_E: jax.Array  # exp(−dt/τ_E)
    decay_I: jax.Array  # exp(−dt/τ_I)
    thr_m1: jax.Array
    sh_thr_m1: jax.Array


def coefficients(dyn: Dyn, st: Static, ndim_trials: int) -> Coef:
    """Derive the per-step constants from the parameters (once, outside the loop)."""
    dtype = jnp.dtype(st.dtype)
    shape = (2, 1) + (1,) * ndim_trials
    zero = jnp.zeros((), dtype)

    def per_type(e, i):
        return jnp.stack([jnp.asarray(e, dtype), jnp.asarray(i, dtype)]).reshape(shape)

    def sc(a):
        return jnp.asarray(a, dtype)

    R = st.refractory_steps
    return Coef(
        minus_dt_over_tau=sc(-dyn.dt / dyn.tau_L),
        minus_inv_tau=sc(-1.0 / dyn.tau_L),
        dt=sc(dyn.dt),
        f=per_type(dyn.f[..., 0], dyn.f[..., 1]),
        c_exc=per_type(dyn.s_EE, dyn.s_IE),
        d_exc=per_type(dyn.s_EE, zero),
        c_inh=per_type(dyn.s_EI, dyn.s_II),
        d_inh=per_type(zero, dyn.s_II),
        v_reset=sc(dyn.v_reset),
        level_refractory=sc(dyn.v_th + 0.5),
        level_frozen=sc(dyn.v_th + 1.5),
        level_spike=sc(dyn.v_th + (R - 0.5)),
        x_spike=sc(dyn.v_th + R),
        v_th=sc(dyn.v_th),
        inv_tau_E=sc(1.0 / dyn.tau_E),
        inv_tau_I=sc(1.0 / dyn.tau_I),
        decay_E=sc(jnp.exp(-dyn.dt / dyn.tau_E)),
        decay_I=sc(jnp.exp(-dyn.dt / dyn.tau_I)),
        thr_m1=dyn.thr_m1,
        sh_thr_m1=dyn.sh_thr_m1,
    )


def kick_thresholds(params: RingParams) -> tuple[np.ndarray, np.ndarray]:
    """Poisson thresholds (independent, shared) for one parameter set with scalar fields."""
    lam, rho, dt = float(params.rate_ext_per_ms), float(params.rho), float(params.dt_ms)
    ind = rng.poisson_thresholds(lam * (1.0 - rho) * dt)
    sh = rng.poisson_thresholds(lam * rho * dt) if rho > 0 else np.zeros(0, np.int64)
    return ind, sh


def make_static_dyn(params: RingParams, dtype: str = "float32") -> tuple[Static, Dyn]:
    """Split validated parameters into compile-time structure and numeric arrays.

    With array-valued (sweep) parameters, every :class:`Dyn` field gets a leading axis of length
    ``params.n_sets`` and the thresholds are traced (padded to a common length).
    """
    params.validate()
    n_sets = params.n_sets
    sets = [params] if n_sets is None else [params.set(i) for i in range(n_sets)]
    thr = [kick_thresholds(p) for p in sets]
    has_shared = any(len(t[1]) > 0 for t in thr)
    np_dtype = np.dtype(dtype)

    def field(name):
        v = np.asarray([float(getattr(p, name)) for p in sets], np_dtype)
        return v if n_sets is not None else v[0]

    def pad(arrs):
        k = max(1, max(len(a) for a in arrs))
        out = np.full((len(arrs), k), 2**31 - 1, np.int64)
        for i, a in enumerate(arrs):
            out[i, : len(a)] = a - 1
        out = out.astype(np.int32)
        return out if n_sets is not None else out[0]

    f = np.stack([field("f_E"), field("f_I")], axis=-1)
    dyn = Dyn(
        dt=field("dt_ms"),
        tau_L=field("tau_L_ms"),
        f=f,
        s_EE=field("s_EE"),
        s_EI=field("s_EI"),
        s_IE=field("s_IE"),
        s_II=field("s_II"),
        v_th=field("v_threshold"),
        v_reset=field("v_reset"),
        tau_E=field("tau_E_ms"),
        tau_I=field("tau_I_ms"),
        v0_max=field("v0_max"),
        i0_max=field("i0_max"),
        thr_m1=pad([t[0] for t in thr]),
        sh_thr_m1=pad([t[1] for t in thr]),
    )
    dyn = Dyn(*(jnp.asarray(a) for a in dyn))
    static = Static(
        n=int(params.n_per_type),
        half_width=params.half_width,
        refractory_steps=params.refractory_steps,
        synaptic=bool(params.synaptic),
        thresholds=tuple(int(t) for t in thr[0][0]) if n_sets is None else None,
        shared_thresholds=tuple(int(t) for t in thr[0][1]) if n_sets is None else None,
        has_shared=has_shared,
        dtype=np_dtype.name,
    )
    return static, dyn


# ---------------------------------------------------------------------------------------------
# Pieces of a step


def _lanes(a, ndim_trials: int):
    """Reshape a per-trial array (*trials,) to broadcast against (2, n, *trials)."""
    return jnp.reshape(a, (1, 1) + jnp.shape(a)) if ndim_trials else a


def _cell_consts(st: Static, ndim_trials: int):
    c = rng.cell_constants(2 * st.n).reshape(2, st.n)
    return jnp.asarray(c.reshape((2, st.n) + (1,) * ndim_trials))


def _step_randomness(j, seeds, coef: Coef, st: Static):
    """Key and shared event count of step j, one per trial (small: computed once per step)."""
    k = rng.step_key(seeds[..., 0], seeds[..., 1], j)
    if st.has_shared:
        s0, s1 = rng.shared_seeds(seeds)
        thr = list(st.shared_thresholds) if st.shared_thresholds is not None else coef.sh_thr_m1 + 1
        sh = rng.poisson_count(rng.hash32(rng.step_key(s0, s1, j)), thr)
    else:
        sh = jnp.zeros(k.shape, jnp.int32)
    return k, sh


def external_events(state: RingState, coef: Coef, st: Static, consts):
    """External event counts of the current step, (2, n, *trials) int32 (independent + shared)."""
    nd = state.k.ndim
    u = rng.hash32(consts ^ _lanes(state.k, nd))
    thr = list(st.thresholds) if st.thresholds is not None else coef.thr_m1 + 1
    n = rng.poisson_count(u, thr)
    return n + _lanes(state.sh, nd) if st.has_shared else n


def recurrent_input(s, coef: Coef, st: Static):
    """Excitatory and inhibitory recurrent drive (magnitudes) from the previous step's spikes.

    Args:
        s: (2, n, *trials) bool spikes of the previous step.

    Returns:
        (exc, inh), each (2, n, *trials): exc = s_EE·(B_E − s_E) to E cells and s_IE·B_E to I
        cells; inh = s_EI·B_I to E cells and s_II·(B_I − s_I) to I cells, where B_X is the box sum
        of type-X spikes over ring offsets −h..h (the cell's own position included).
    """
    dtype = jnp.dtype(st.dtype)
    b = box_sum(s, st.half_width, axis=1).astype(dtype)
    sf = s.astype(dtype)
    exc = coef.c_exc * b[0:1] - coef.d_exc * sf
    inh = coef.c_inh * b[1:2] - coef.d_inh * sf
    return exc, inh


def step(
    state: RingState, coef: Coef, st: Static, seeds, consts, n_ext=None, drive=None
) -> RingState:
    """Advance the ring by one time step (pure; see the module docstring for the scheme).

    Args:
        state: state at the start of step ``state.j``.
        coef: per-step constants from :func:`coefficients`.
        st: compile-time structure.
        seeds: (*trials, 4) uint32 trial seeds (words 0–1 drive the kicks).
        consts: per-cell hash constants, from ``_cell_consts``.
        n_ext: the step's external event counts if already computed (:func:`external_events`).
        drive: optional extra voltage increment of this step, broadcastable to (2, n, *trials),
            added to the cells that integrate this step (a user's coupling or stimulus).

    Returns:
        The state at the start of step ``j + 1``.
    """
    dtype = jnp.dtype(st.dtype)
    x = state.x
    exc, inh = recurrent_input(x >= coef.level_spike, coef, st)
    if n_ext is None:
        n_ext = external_events(state, coef, st, consts)
    kick = coef.f * n_ext.astype(dtype)
    v = jnp.where(x >= coef.level_refractory, coef.v_reset, x)
    if st.synaptic:
        v_new = v + coef.dt * (coef.minus_inv_tau * v + state.i_e - state.i_i)
        i_e = (state.i_e + (kick + exc) * coef.inv_tau_E) * coef.decay_E
        i_i = (state.i_i + inh * coef.inv_tau_I) * coef.decay_I
    else:
        v_new = v + (coef.minus_dt_over_tau * v + ((kick + exc) - inh))
        i_e = i_i = None
    if drive is not None:
        v_new = v_new + jnp.broadcast_to(jnp.asarray(drive, dtype), v_new.shape)
    x_new = jnp.where(
        x >= coef.level_frozen,  # still refractory after this step: count down
        x - 1.0,
        jnp.where(v_new >= coef.v_th, coef.x_spike, v_new),
    )
    j = state.j + jnp.uint32(1)
    k, sh = _step_randomness(j, seeds, coef, st)
    return RingState(x=x_new.astype(dtype), i_e=i_e, i_i=i_i, j=j, k=k, sh=sh)


def init_state(
    seeds, dyn: Dyn, coef: Coef, st: Static, consts, v0=None, start_step: int = 0
) -> RingState:
    """Initial state: V ~ U(V_R, v0_max) (and currents ~ U(0, i0_max)) from seed words 2–3.

    ``v0_max`` lies in [V_R, V_T] (checked by :meth:`RingParams.validate`), so every cell starts
    active, below threshold.

    Args:
        seeds: (*trials, 4) uint32.
        v0: optional (2, n, *trials) initial voltages (must be below V_T).
    """
    dtype = jnp.dtype(st.dtype)
    nd = seeds.ndim - 1

    def uniform(tag):
        h = rng.hash32(rng.hash32(seeds[..., 2] ^ jnp.uint32(tag)) + seeds[..., 3])
        u = rng.hash32(consts ^ _lanes(h, nd))
        return ((u >> 8).astype(jnp.int32).astype(dtype) + 0.5) * (1.0 / 16777216.0)

    if v0 is None:
        lo = jnp.asarray(dyn.v_reset, dtype)
        x = (lo + uniform(0x1234567) * (jnp.asarray(dyn.v0_max, dtype) - lo)).astype(dtype)
    else:
        x = jnp.asarray(v0, dtype)
    if st.synaptic:
        i_e = (uniform(0x2345678) * dyn.i0_max).astype(dtype)
        i_i = (uniform(0x3456789) * dyn.i0_max).astype(dtype)
    else:
        i_e = i_i = None
    j = jnp.uint32(start_step)
    k, sh = _step_randomness(j, seeds, coef, st)
    return RingState(x=x, i_e=i_e, i_i=i_i, j=j, k=k, sh=sh)


# ---------------------------------------------------------------------------------------------
# Recording and the trial loop


class Record(NamedTuple):
    """What the loop records (static). Steps are grouped in blocks of ``block`` steps.

    Attributes:
        block: steps per block; counts, kicks and samples are produced per block.
        n_blocks: number of blocks (duration = block · n_blocks steps).
        external: kick counts per cell and block.
        population: spike counts of each type at every step, (steps, 2).
        raster: every spike, as bits: word w of a block holds, for each cell, its spikes at the
            block's steps 32·w .. 32·w + 31 (bit b ↔ step 32·w + b).
        currents: "sample" (value at the block's end), "mean" (block average) or None.
        voltage: the voltage at each block's end (refractory cells read V_R).
        unroll: steps per loop iteration.
    """

    block: int
    n_blocks: int
    external: bool = False
    population: bool = False
    raster: bool = False
    currents: str | None = None
    voltage: bool = False
    unroll: int = 1


def run(dyn: Dyn, seeds, st: Static, rec: Record, v0=None, start_step: int = 0):
    """Simulate ``rec.block · rec.n_blocks`` steps from the initial state; jit this.

    Args:
        dyn: numeric parameters (scalars; vmap over a leading axis for parameter sweeps).
        seeds: (*trials, 4) uint32 trial seeds; ``()`` trial shape for one trial or (B,).
        st, rec: static structure and recording.
        v0: optional initial voltages (2, n, *trials).

    Returns:
        dict of arrays with a leading block (or step) axis and trailing ``*trials``:
        ``counts`` (blocks, 2, n) spikes; ``external`` (blocks, 2, n) events; ``population``
        (steps, 2); ``raster`` (blocks, ceil(block/32), 2, n) uint32 bits; ``i_e``/``i_i``/``v``
        (blocks, 2, n); ``final`` the final RingState.
    """
    nd = seeds.ndim - 1
    consts = _cell_consts(st, nd)
    coef = coefficients(dyn, st, nd)
    state0 = init_state(seeds, dyn, coef, st, consts, v0=v0, start_step=start_step)
    trials = seeds.shape[:-1]
    shape = (2, st.n) + trials
    max_spikes = -(-rec.block // st.refractory_steps)
    # int16/int32 accumulators: narrower ones measured slower (conversions in the fused kernel)
    cnt_dtype = jnp.int16 if max_spikes < 2**15 else jnp.int32
    ext_dtype = jnp.int32
    dtype = jnp.dtype(st.dtype)

    def inner(carry, i):
        state, acc = carry
        ys = {}
        n_ext = None
        if rec.external:
            n_ext = external_events(state, coef, st, consts)
            acc["external"] = acc["external"] + n_ext.astype(ext_dtype)
        state = step(state, coef, st, seeds, consts, n_ext)
        s = state.x >= coef.level_spike  # spikes of the step just taken
        acc["counts"] = acc["counts"] + s.astype(cnt_dtype)
        if rec.currents == "mean":
            acc["i_e"] = acc["i_e"] + state.i_e
            acc["i_i"] = acc["i_i"] + state.i_i
        if rec.population:
            ys["population"] = jnp.sum(s, axis=1, dtype=jnp.int16)
        if rec.raster:
            acc["word"] = acc["word"] | (s.astype(jnp.uint32) << i.astype(jnp.uint32))
        return (state, acc), ys

    def run_steps(state, acc, length):
        """``length`` steps; with a raster, in words of up to 32 steps."""
        if not rec.raster:
            return lax.scan(
                inner,
                (state, acc),
                jnp.arange(length, dtype=jnp.int32),
                unroll=min(rec.unroll, length),
            )

        def word(carry, _, n_bits):
            state, acc = carry
            acc = dict(acc, word=jnp.zeros(shape, jnp.uint32))
            (state, acc), ys = lax.scan(
                inner,
                (state, acc),
                jnp.arange(n_bits, dtype=jnp.int32),
                unroll=min(rec.unroll, n_bits),
            )
            ys["raster"] = acc.pop("word")
            return (state, acc), ys

        parts = []
        carry = (state, acc)
        if length // 32:
            carry, ys = lax.scan(lambda c, x: word(c, x, 32), carry, None, length=length // 32)
            parts.append(ys)
        if length % 32:
            carry, ys = word(carry, None, length % 32)
            parts.append(jax.tree.map(lambda a: a[None], ys))
        for p in parts:
            if "population" in p:  # (words, bits, ...) → (steps, ...)
                a = p["population"]
                p["population"] = a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])
        ys = {k: jnp.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}
        return carry, ys

    def outer(state, _):
        acc = {"counts": jnp.zeros(shape, cnt_dtype)}
        if rec.external:
            acc["external"] = jnp.zeros(shape, ext_dtype)
        if rec.currents == "mean":
            acc["i_e"] = jnp.zeros(shape, dtype)
            acc["i_i"] = jnp.zeros(shape, dtype)
        (state, acc), ys = run_steps(state, acc, rec.block)
        out = dict(acc)
        if rec.currents == "mean":
            out["i_e"] = acc["i_e"] / rec.block
            out["i_i"] = acc["i_i"] / rec.block
        elif rec.currents == "sample":
            out["i_e"], out["i_i"] = state.i_e, state.i_i
        if rec.voltage:
            out["v"] = jnp.where(state.x >= coef.level_refractory, coef.v_reset, state.x)
        out.update(ys)
        return state, out

    final, out = lax.scan(outer, state0, None, length=rec.n_blocks)
    for name in ("population",):
        if name in out:  # (blocks, block, ...) → (steps, ...)
            a = out[name]
            out[name] = a.reshape((rec.n_blocks * rec.block,) + a.shape[2:])
    out["final"] = final
    return out


def gcd_steps(*values: int | None) -> int:
    """Greatest common divisor of the given step counts (None ignored)."""
    g = 0
    for v in values:
        if v:
            g = math.gcd(g, int(v))
    return g
