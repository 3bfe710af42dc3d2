"""Simulate batches of Hodgkin–Huxley neurons: jit-compiled, vmap-batched, differentiable."""

from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import dataclass, field
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import parallel, rng
from .inputs import Input, _is_traced, as_input
from .integrators import MAX_DT, HHState, get_integrator
from .kinetics import steady_state
from .params import HHParams

#: quantities that can be recorded every ``record_every`` steps
RECORDABLE = ("V", "m", "h", "n", "I_ext", "I_na", "I_k", "I_l")
_BLOCK_MS = 1.0  # spike times are gathered per block of at most this duration (≤ 2 spikes each)


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class HHResult:
    """What :func:`simulate_hh` recorded.

    Attributes:
        t: (T_rec,) times (ms) of the recorded samples: the end of each recording interval.
        traces: ``{name: (B, T_rec) array}`` for each requested quantity (V in mV, gates, and
            currents in the neuron's current unit; ``I_ext`` is the input ``I − G·V``; ionic
            currents are outward-positive).
        spike_times: (B, max_spikes) upward crossings of the threshold (ms), linearly
            interpolated between steps, NaN-padded.
        spike_counts: (B,) number of crossings (exact, also beyond ``max_spikes``).
        spikes_lost: (B,) spikes whose times were not stored because more than two fell within
            one ~1 ms block (0 for physiological parameters).
        final_state: :class:`HHState` at the end.
        nonfinite_step: (B,) -1, or the last step of the block in which V became non-finite.
    """

    t: jnp.ndarray
    traces: dict[str, jnp.ndarray]
    spike_times: jnp.ndarray
    spike_counts: jnp.ndarray
    spikes_lost: jnp.ndarray
    final_state: HHState
    nonfinite_step: jnp.ndarray
    dt: float = field(metadata=dict(static=True))

    @property
    def V(self) -> jnp.ndarray:
        if "V" not in self.traces:
            raise KeyError("V was not recorded: pass record=('V', ...) and record_every=k")
        return self.traces["V"]

    def spike_trains(self) -> list[np.ndarray]:
        """Spike times of each neuron as a list of 1-D NumPy arrays (ms)."""
        st = np.asarray(self.spike_times)
        return [row[~np.isnan(row)] for row in st]


@dataclass(frozen=True)
class _Config:
    method: str
    dt: float
    n_records: int
    blocks_per_record: int
    block: int
    record: tuple[str, ...]
    max_spikes: int
    threshold: float
    remat: bool = True


def _largest_divisor_at_most(k: int, cap: int) -> int:
    for d in range(max(1, min(k, cap)), 0, -1):
        if k % d == 0:
            return d
    return 1


def _record_values(names, s: HHState, p: HHParams, I, G):
    out = []
    for name in names:
        if name in ("V", "m", "h", "n"):
            out.append(getattr(s, name))
        elif name == "I_ext":
            out.append(I - G * s.V)
        elif name == "I_na":
            out.append(p.g_na * s.m**3 * s.h * (s.V - p.e_na))
        elif name == "I_k":
            out.append(p.g_k * s.n**4 * (s.V - p.e_k))
        elif name == "I_l":
            out.append(p.g_l * (s.V - p.e_l))
    return tuple(out)


class _StepCarry(NamedTuple):
    """The carry of the inner loop over the steps of one block (one neuron)."""

    neuron: HHState
    input_state: Any  # the input's own state (``CompiledInput.init``)
    last_input: tuple  # (I, G) of the last step when ``I_ext`` is recorded, else ()
    crossings: jax.Array  # int32 threshold crossings in this block so far
    t_first: jax.Array  # time (ms) of the block's first crossing, NaN if none
    t_last: jax.Array  # time (ms) of its last crossing


class _BlockCarry(NamedTuple):
    """The carry of the loop over blocks (one neuron)."""

    neuron: HHState
    input_state: Any
    last_input: tuple
    spike_count: jax.Array  # int32 crossings so far (exact)
    spike_buf: jax.Array  # (max_spikes,) stored spike times (ms), NaN-padded
    spikes_lost: jax.Array  # int32 crossings whose times were not stored
    nonfinite_step: jax.Array  # int32 −1, or the last step of the first non-finite block


def _advance(
    s: HHState,
    input_state,
    k,
    p: HHParams,
    inp,
    seeds,
    *,
    method: str,
    dt: float,
    I_add=0.0,
    G_add=0.0,
):
    """One step of one neuron: the input at step ``k``, then the integrator.

    Returns:
        ``(new neuron state, new input state, I, G)`` with ``I``, ``G`` the input during the step.
    """
    I, G, input_state = inp(input_state, k, seeds, dt)
    I, G = I + I_add, G + G_add
    return get_integrator(method)(s, p, I, G, dt), input_state, I, G


def _one_neuron(p: HHParams, inp, seeds, v0, *, cfg: _Config):
    """Simulate one neuron (vmapped over the batch). Per-neuron arguments are scalars here."""
    dt = cfg.dt
    dtype = v0.dtype
    thr = jnp.asarray(cfg.threshold, dtype)
    keep_input = "I_ext" in cfg.record
    m0, h0, n0 = steady_state(v0)
    s0 = HHState(v0, m0, h0, n0)
    nan = jnp.full((), jnp.nan, dtype)

    # The hot loop: one step. Its carry is kept minimal (the input current is carried only
    # when it is recorded); spike times are gathered per block (first and last crossing).
    def block(c: _BlockCarry, b):
        step0 = b * cfg.block

        def step(i, sc: _StepCarry):
            k = step0 + i
            s = sc.neuron
            s_new, ins, I, G = _advance(
                s, sc.input_state, k, p, inp, seeds, method=cfg.method, dt=dt
            )
            crossed = (s.V < thr) & (s_new.V >= thr)
            frac = (thr - s.V) / jnp.where(crossed, s_new.V - s.V, 1.0)
            tc = (k.astype(dtype) + frac) * dt
            return _StepCarry(
                neuron=s_new,
                input_state=ins,
                last_input=(jnp.asarray(I, dtype), jnp.asarray(G, dtype)) if keep_input else (),
                crossings=sc.crossings + crossed.astype(jnp.int32),
                t_first=jnp.where(crossed & (sc.crossings == 0), tc, sc.t_first),
                t_last=jnp.where(crossed, tc, sc.t_last),
            )

        def run_block(sc0):
            return lax.fori_loop(0, cfg.block, step, sc0)

        if cfg.remat:
            # Under reverse-mode differentiation the backward pass keeps only the carry at each
            # block's start and recomputes the block's steps, instead of every step's
            # intermediates (about 45 numbers per neuron-step). No effect on a forward run.
            run_block = jax.checkpoint(run_block, prevent_cse=False)

        sc = run_block(_StepCarry(c.neuron, c.input_state, c.last_input, jnp.int32(0), nan, nan))
        nb, buf = sc.crossings, c.spike_buf
        if cfg.max_spikes:
            i1 = jnp.where(nb >= 1, c.spike_count, cfg.max_spikes)
            i2 = jnp.where(nb >= 2, c.spike_count + 1, cfg.max_spikes)
            buf = buf.at[i1].set(sc.t_first, mode="drop").at[i2].set(sc.t_last, mode="drop")
        bad = c.nonfinite_step
        bad = jnp.where((bad < 0) & ~jnp.isfinite(sc.neuron.V), step0 + cfg.block - 1, bad)
        return _BlockCarry(
            neuron=sc.neuron,
            input_state=sc.input_state,
            last_input=sc.last_input,
            spike_count=c.spike_count + nb,
            spike_buf=buf,
            spikes_lost=c.spikes_lost + jnp.maximum(nb - 2, 0),
            nonfinite_step=bad,
        ), None

    def record(c: _BlockCarry, r):
        blocks = r * cfg.blocks_per_record + jnp.arange(cfg.blocks_per_record, dtype=jnp.int32)
        c, _ = lax.scan(block, c, blocks)
        I, G = c.last_input if keep_input else (None, None)
        return c, _record_values(cfg.record, c.neuron, p, I, G)

    zero = jnp.zeros((), dtype)
    c0 = _BlockCarry(
        neuron=s0,
        input_state=inp.init(seeds),
        last_input=(zero, zero) if keep_input else (),
        spike_count=jnp.int32(0),
        spike_buf=jnp.full((cfg.max_spikes,), jnp.nan, dtype),
        spikes_lost=jnp.int32(0),
        nonfinite_step=jnp.int32(-1),
    )
    if cfg.record:
        c, traces = lax.scan(record, c0, jnp.arange(cfg.n_records, dtype=jnp.int32))
    else:  # nothing to sample: one loop over all blocks
        n_blocks = cfg.n_records * cfg.blocks_per_record
        c, _ = lax.scan(block, c0, jnp.arange(n_blocks, dtype=jnp.int32))
        traces = ()
    return c.neuron, c.spike_count, c.spike_buf, c.spikes_lost, c.nonfinite_step, traces


def _batch_axes(tree):
    """vmap axes of ``(params, compiled input, seeds, v0)``: 0 for per-neuron leaves, None for
    shared ones. The input declares its own (:meth:`CompiledInput.batch_axes`); parameters and
    seeds are per neuron when 1-d, shared when 0-d (:meth:`HHParams.as_arrays`)."""
    p, inp, seeds, v0 = tree

    def by_rank(t):
        return jax.tree.map(lambda x: 0 if jnp.ndim(x) else None, t)

    return (by_rank(p), inp.batch_axes(), by_rank(seeds), by_rank(v0))


@partial(jax.jit, static_argnames=("cfg",))
def _simulate_batch(p, inp, seeds, v0, *, cfg: _Config):
    args = (p, inp, seeds, v0)
    return jax.vmap(partial(_one_neuron, cfg=cfg), in_axes=_batch_axes(args))(*args)


def _is_real(x) -> bool:
    return isinstance(x, (numbers.Real, np.floating, np.integer)) and not isinstance(x, bool)


def _check_dt(dt, method):
    if not _is_real(dt) or not math.isfinite(dt):
        raise ValueError(f"dt must be a finite number of ms, got {dt!r}")
    if dt <= 0:
        raise ValueError(f"dt must be positive, got dt={dt} ms")
    if dt > MAX_DT[method] + 1e-12:
        raise ValueError(
            f"dt={dt} ms is too large for integrator {method!r}: the limit is {MAX_DT[method]} ms "
            "(rk4 diverges during spikes above ~0.06 ms; exponential Euler loses spikes above 0.1 ms)"
        )


def _shard(tree, n: int):
    """Split the batch across the chosen local devices (:mod:`neurosim.parallel`)."""
    return parallel.shard_batch(tree, n, axes=_batch_axes(tree), min_per_device=2)


def _batch_size(params: HHParams, inp: Input, *, n, v0, streams, key) -> int:
    """The batch size B that every per-neuron argument agrees on (1 if none is per neuron)."""
    if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1):
        raise ValueError(f"n (the number of neurons) must be an integer >= 1, got {n!r}")
    sizes = {
        "params": params.batch_size(),
        "inputs": inp.batch_size(),
        "n": n,
        "v0": np.shape(v0)[0] if np.ndim(v0) == 1 else None,
        "streams": np.shape(streams)[0] if streams is not None else None,
    }
    given = {k: v for k, v in sizes.items() if v is not None}
    if len(set(given.values())) > 1:
        raise ValueError(f"inconsistent batch sizes: {given}")
    if np.ndim(v0) > 1:
        raise ValueError(f"v0 must be a scalar or shape (B,), got shape {np.shape(v0)}")
    if inp.n_random and key is None:
        raise ValueError(f"{type(inp).__name__} input is random: pass key=jax.random.key(seed)")
    return next(iter(given.values()), 1)


def _stream_seeds(key, streams, B: int, n_random: int) -> tuple:
    """One (B,) uint32 seed array per random stream of the input (neuron i: stream ``streams[i]``)."""
    if streams is None:
        streams_arr = jnp.arange(B, dtype=jnp.uint32)
    else:
        streams_arr = jnp.asarray(streams)
        if streams_arr.shape != (B,) or not jnp.issubdtype(streams_arr.dtype, jnp.integer):
            raise ValueError(
                f"streams must be integers of shape ({B},), got "
                f"{streams_arr.dtype} {streams_arr.shape}"
            )
    return tuple(rng.stream_seeds(key, streams_arr, tag=i) for i in range(n_random))


def simulate_hh(
    inputs: Input | float,
    duration_ms: float,
    *,
    dt: float = 0.025,
    params: HHParams | None = None,
    method: str = "expeuler",
    record: tuple[str, ...] | list[str] = ("V",),
    record_every: int | None = None,
    max_spikes: int = 128,
    n: int | None = None,
    key: jax.Array | None = None,
    streams=None,
    v0: Any = -65.0,
    threshold: float = 0.0,
    dtype: Any = "float32",
    on_nonfinite: str = "raise",
    shard: bool = True,
    remat: bool = True,
) -> HHResult:
    """Simulate B independent Hodgkin–Huxley neurons.

    The neurons start at ``v0`` with gates at their steady state there. Nothing of size
    steps × neurons is kept unless asked for: quantities in ``record`` are sampled every
    ``record_every`` steps, spikes are stored as times.

    Args:
        inputs: an :mod:`neurosim.hh.inputs` object (``OU``, ``Step``, ``Ramp``, ``ArrayInput``,
            ``PoissonSynapses``, ``Constant``, or a sum of them) or a number (a constant current),
            in the current unit of ``params`` (µA/cm² by default, pA for ``HHParams.point()``).
        duration_ms: simulated time (ms); a multiple of ``dt``.
        dt: time step (ms).
        params: :class:`HHParams` (default: per-area squid axon). Fields may be arrays of
            shape (B,).
        method: integrator: ``"expeuler"`` (default), ``"expeuler-brian2"`` or ``"rk4"``.
        record: quantities to record, from :data:`RECORDABLE`.
        record_every: sample the recorded quantities every this many steps (the number of steps
            must be a multiple of it). None: record nothing but spikes.
        max_spikes: spike times stored per neuron (counts are always exact).
        n: number of neurons B, if neither ``params`` nor ``inputs`` have per-neuron arrays.
        key: ``jax.random.key`` for stochastic inputs (OU, PoissonSynapses).
        streams: (B,) integer stream index of each neuron's random input (default ``arange(B)``).
        v0: initial membrane potential (mV), scalar or (B,).
        threshold: spike detection threshold (mV).
        dtype: ``"float32"`` (default) or ``"float64"`` (64-bit is enabled for this call).
        on_nonfinite: ``"raise"`` (default): a FloatingPointError names the neuron and the step
            where V became non-finite; ``"flag"``: return, with ``nonfinite_step`` set.
        shard: split the batch across the local devices when there are several (those chosen
            with :func:`neurosim.parallel.set_devices`, default all; on CPU: see
            :func:`neurosim.use_cpu_cores`). The results are identical to one device's.
        remat: for reverse-mode gradients, keep only the state at the start of each ~1 ms block
            and recompute the block's steps in the backward pass (default). False keeps every
            step's intermediates: about 190 bytes per neuron-step (float32) instead of under 1,
            and it measured slower, not faster, at every batch size from 1 to 10^4
            (``python benchmarks/bench_hh_grad.py``). Forward runs are the same either way.

    Returns:
        :class:`HHResult`.

    Raises:
        ValueError: bad dt, duration, method, record names, shapes or parameter values.
        FloatingPointError: the simulation went non-finite (``on_nonfinite="raise"``).
    """
    if method not in MAX_DT:
        get_integrator(method)  # raises with the list of names
    _check_dt(dt, method)
    if not _is_real(duration_ms) or not math.isfinite(duration_ms) or duration_ms <= 0:
        raise ValueError(f"duration_ms must be a positive number of ms, got {duration_ms!r}")
    dt, duration_ms = float(dt), float(duration_ms)
    n_steps_f = duration_ms / dt
    n_steps = int(round(n_steps_f))
    if abs(n_steps_f - n_steps) > 1e-6 * max(1.0, n_steps_f) or n_steps < 1:
        raise ValueError(f"duration_ms={duration_ms} is not a positive multiple of dt={dt}")
    dtype = jnp.dtype(dtype)
    if dtype not in (jnp.dtype("float32"), jnp.dtype("float64")):
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    record = tuple(record)
    unknown = [r for r in record if r not in RECORDABLE]
    if unknown:
        raise ValueError(f"cannot record {unknown}; choose from {RECORDABLE}")
    if record_every is None:
        record = ()
        record_every = n_steps
    elif not isinstance(record_every, (int, np.integer)) or record_every < 1:
        raise ValueError(f"record_every must be a positive number of steps, got {record_every!r}")
    elif n_steps % record_every:
        raise ValueError(
            f"the number of steps ({n_steps} = {duration_ms} ms / {dt} ms) is not a multiple of "
            f"record_every={record_every}"
        )
    if not isinstance(max_spikes, (int, np.integer)) or max_spikes < 0:
        raise ValueError(f"max_spikes must be an integer >= 0, got {max_spikes!r}")
    if not isinstance(remat, (bool, np.bool_)):
        raise ValueError(f"remat must be True or False, got {remat!r}")
    if on_nonfinite not in ("raise", "flag"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'flag', got {on_nonfinite!r}")

    params = HHParams() if params is None else params
    if not isinstance(params, HHParams):
        raise ValueError(f"params must be an HHParams, got {type(params).__name__}")
    if not any(
        _is_traced(getattr(params, f)) for f in ("C", "g_na", "g_k", "g_l", "e_na", "e_k", "e_l")
    ):
        params.check()
    inp = as_input(inputs)

    B = _batch_size(params, inp, n=n, v0=v0, streams=streams, key=key)

    block = _largest_divisor_at_most(record_every, max(1, int(_BLOCK_MS / dt + 1e-9)))
    cfg = _Config(
        method=method,
        dt=float(dt),
        n_records=n_steps // record_every,
        blocks_per_record=record_every // block,
        block=block,
        record=record,
        max_spikes=int(max_spikes),
        threshold=float(threshold),
        remat=bool(remat),
    )

    x64 = dtype == jnp.dtype("float64")
    with jax.enable_x64(True) if x64 else contextlib.nullcontext():
        p = params.as_arrays(B, dtype)
        cin = inp.compile(n=B, dt=float(dt), n_steps=n_steps, dtype=dtype)
        seeds = _stream_seeds(key, streams, B, inp.n_random)
        v0_arr = jnp.broadcast_to(jnp.asarray(v0, dtype), (B,))
        if not _is_traced(v0) and not np.all(np.isfinite(np.asarray(v0, np.float64))):
            raise ValueError(f"v0 must be finite, got {v0}")
        args = (p, cin, seeds, v0_arr)
        concrete = not any(_is_traced(x) for x in jax.tree.leaves(args))
        B_run = B
        if concrete and shard:
            args, B_run = _shard(args, B)
        s, count, buf, lost, bad, traces = _simulate_batch(*args, cfg=cfg)
        if B_run != B:
            s, count, buf, lost, bad, traces = parallel.unpad((s, count, buf, lost, bad, traces), B)
        t = (
            jnp.arange(1, cfg.n_records + 1, dtype=dtype) * (record_every * dt)
            if record
            else jnp.zeros((0,), dtype)
        )
        result = HHResult(
            t=t,
            traces={name: tr.reshape(B, -1) for name, tr in zip(record, traces, strict=True)},
            spike_times=buf,
            spike_counts=count,
            spikes_lost=lost,
            final_state=s,
            nonfinite_step=bad,
            dt=float(dt),
        )
    if on_nonfinite == "raise" and not _is_traced(bad):
        bad_np = np.asarray(bad)
        if np.any(bad_np >= 0):
            i = int(np.flatnonzero(bad_np >= 0)[0])
            step = _locate_nonfinite(
                inp,
                params,
                i,
                B,
                int(bad_np[i]),
                dt=dt,
                method=method,
                key=key,
                streams=streams,
                v0=v0,
                dtype=dtype,
            )
            raise FloatingPointError(
                f"the simulation went non-finite: neuron {i} (of {B}; {int(np.sum(bad_np >= 0))} "
                f"affected) has V = nan/inf after step {step} (t = {(step + 1) * dt:g} ms) with "
                f"method={method!r}, dt={dt} ms; use a smaller dt, method='expeuler', or check "
                "the input and parameters (pass on_nonfinite='flag' to get the partial result)"
            )
    return result


def _select(x, i: int, B: int):
    """Row ``i`` of a per-neuron value (arrays of shape (B, ...)); scalars unchanged."""
    if np.ndim(x) >= 1 and np.shape(x)[0] == B and B > 1:
        return np.asarray(x)[i : i + 1]
    return x


def _locate_nonfinite(inp, params, i, B, block_end, *, dt, method, key, streams, v0, dtype):
    """The exact first step at which neuron ``i`` became non-finite (re-simulated alone)."""
    import dataclasses

    from .inputs import Sum

    def pick(x):
        if isinstance(x, Sum):
            return Sum(*(pick(q) for q in x.parts))
        if dataclasses.is_dataclass(x):
            return dataclasses.replace(
                x,
                **{
                    f.name: _select(getattr(x, f.name), i, B)
                    for f in dataclasses.fields(x)
                    if not isinstance(getattr(x, f.name), str)
                },
            )
        if hasattr(x, "values"):  # ArrayInput: (B, K) rows per neuron; (K,) shared, kept whole
            values = _select(x.values, i, B) if np.ndim(x.values) == 2 else x.values
            return type(x)(values, x.dt_ms)
        return x

    n_steps = block_end + 1
    stream = np.asarray([i]) if streams is None else np.asarray(streams)[i : i + 1]
    res = simulate_hh(
        pick(inp),
        n_steps * dt,
        dt=dt,
        params=pick(params),
        method=method,
        record=("V",),
        record_every=1,
        max_spikes=0,
        key=key,
        streams=stream,
        v0=_select(v0, i, B),
        dtype=dtype,
        on_nonfinite="flag",
    )
    V = np.asarray(res.V[0])
    bad = np.flatnonzero(~np.isfinite(V))
    return int(bad[0]) if bad.size else block_end
