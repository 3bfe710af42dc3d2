"""Simulate batches of Hodgkin–Huxley neurons: jit-compiled, vmap-batched, differentiable."""

from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import rng
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


def _one_neuron(p: HHParams, inp, seeds, v0, *, cfg: _Config):
    """Simulate one neuron (vmapped over the batch). Per-neuron arguments are scalars here."""
    step_fn = get_integrator(cfg.method)
    dt = cfg.dt
    dtype = v0.dtype
    thr = jnp.asarray(cfg.threshold, dtype)
    keep_input = "I_ext" in cfg.record
    m0, h0, n0 = steady_state(v0)
    s0 = HHState(v0, m0, h0, n0)
    nan = jnp.full((), jnp.nan, dtype)

    # The hot loop: one step. Its carry is kept minimal (the input current is carried only
    # when it is recorded); spike times are gathered per block (first and last crossing).
    def step(i, c):
        s, ins, IG, nb, t_first, t_last, step0 = c
        k = step0 + i
        I, G, ins = inp(ins, k, seeds, dt)
        s_new = step_fn(s, p, I, G, dt)
        crossed = (s.V < thr) & (s_new.V >= thr)
        frac = (thr - s.V) / jnp.where(crossed, s_new.V - s.V, 1.0)
        tc = (k.astype(dtype) + frac) * dt
        t_first = jnp.where(crossed & (nb == 0), tc, t_first)
        t_last = jnp.where(crossed, tc, t_last)
        nb = nb + crossed.astype(jnp.int32)
        if keep_input:
            IG = (jnp.asarray(I, dtype), jnp.asarray(G, dtype))
        return s_new, ins, IG, nb, t_first, t_last, step0

    def block(c, b):
        s, ins, IG, count, buf, lost, bad = c
        step0 = b * cfg.block
        s, ins, IG, nb, t_first, t_last, _ = lax.fori_loop(
            0, cfg.block, step, (s, ins, IG, jnp.int32(0), nan, nan, step0)
        )
        if cfg.max_spikes:
            i1 = jnp.where(nb >= 1, count, cfg.max_spikes)
            i2 = jnp.where(nb >= 2, count + 1, cfg.max_spikes)
            buf = buf.at[i1].set(t_first, mode="drop").at[i2].set(t_last, mode="drop")
        count = count + nb
        lost = lost + jnp.maximum(nb - 2, 0)
        bad = jnp.where((bad < 0) & ~jnp.isfinite(s.V), step0 + cfg.block - 1, bad)
        return (s, ins, IG, count, buf, lost, bad), None

    def record(c, r):
        blocks = r * cfg.blocks_per_record + jnp.arange(cfg.blocks_per_record, dtype=jnp.int32)
        c, _ = lax.scan(block, c, blocks)
        s, _, IG = c[:3]
        I, G = IG if keep_input else (None, None)
        return c, _record_values(cfg.record, s, p, I, G)

    buf = jnp.full((cfg.max_spikes,), jnp.nan, dtype)
    zero = jnp.zeros((), dtype)
    c0 = (
        s0,
        inp.init(seeds),
        (zero, zero) if keep_input else (),
        jnp.int32(0),
        buf,
        jnp.int32(0),
        jnp.int32(-1),
    )
    if cfg.record:
        c, traces = lax.scan(record, c0, jnp.arange(cfg.n_records, dtype=jnp.int32))
    else:  # nothing to sample: one loop over all blocks
        n_blocks = cfg.n_records * cfg.blocks_per_record
        c, _ = lax.scan(block, c0, jnp.arange(n_blocks, dtype=jnp.int32))
        traces = ()
    s, _, _, count, buf, lost, bad = c
    return s, count, buf, lost, bad, traces


def _batch_axes(tree):
    """vmap axes: 0 for per-neuron arrays, None for shared (0-d or 'shared_…') values."""

    def axis(path, x):
        if jnp.ndim(x) == 0 or any("shared" in str(getattr(k, "key", "")) for k in path):
            return None
        return 0

    return jax.tree_util.tree_map_with_path(axis, tree)


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
    """Split the batch across the local devices when there are several (e.g. CPU cores)."""
    ndev = jax.local_device_count()
    if ndev < 2 or n < 2 * ndev:
        return tree, n
    pad = (-n) % ndev

    def padded(x):
        if pad:
            x = jnp.concatenate([x, jnp.repeat(x[-1:], pad, axis=0)], axis=0)
        return x

    mesh = jax.sharding.Mesh(np.array(jax.local_devices()), ("batch",))
    split = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("batch"))
    same = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    axes = _batch_axes(tree)
    tree = jax.tree.map(
        lambda ax, x: jax.device_put(padded(x), split) if ax == 0 else jax.device_put(x, same),
        axes,
        tree,
        is_leaf=lambda x: x is None,
    )
    return tree, n + pad


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
        shard: split the batch across the local devices when there are several (on CPU:
            see :func:`neurosim.use_cpu_cores`).

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
    if n is not None and (not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1):
        raise ValueError(f"n (the number of neurons) must be an integer >= 1, got {n!r}")

    # --- batch size ---------------------------------------------------------------------
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
    B = next(iter(given.values()), 1)
    if np.ndim(v0) > 1:
        raise ValueError(f"v0 must be a scalar or shape (B,), got shape {np.shape(v0)}")
    if inp.n_random and key is None:
        raise ValueError(f"{type(inp).__name__} input is random: pass key=jax.random.key(seed)")

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
    )

    x64 = dtype == jnp.dtype("float64")
    with jax.enable_x64(True) if x64 else contextlib.nullcontext():
        p = params.as_arrays(B, dtype)
        cin = inp.compile(n=B, dt=float(dt), n_steps=n_steps, dtype=dtype)
        if streams is None:
            streams_arr = jnp.arange(B, dtype=jnp.uint32)
        else:
            streams_arr = jnp.asarray(streams)
            if streams_arr.shape != (B,) or not jnp.issubdtype(streams_arr.dtype, jnp.integer):
                raise ValueError(
                    f"streams must be integers of shape ({B},), got "
                    f"{streams_arr.dtype} {streams_arr.shape}"
                )
        seeds = tuple(rng.stream_seeds(key, streams_arr, tag=i) for i in range(inp.n_random))
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
            s, count, buf, lost, bad, traces = jax.tree.map(
                lambda x: x[:B], (s, count, buf, lost, bad, traces)
            )
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
