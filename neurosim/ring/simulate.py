"""Simulate the ring for many trials (and parameter sets) and return what was asked for."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import parallel
from . import model, recording, rng
from .presets import RingParams, ring_params

#: Trials per compiled batch. From 8 trials on, trials run in the vector lanes of one loop
#: (arrays (2, n, trials)); fewer trials are vmapped over the single-trial loop.
DEFAULT_BATCH = 64
_LANES_MIN = 8
#: A batch is split across devices only when each then gets at least this many trials. On a
#: 2-core AMD EPYC (XLA CPU, each device also splitting its kernels over the cores), 64 trials
#: took 105 µs a step on two devices of 32 against 26 µs on one device while other jobs ran,
#: and the same on a quiet machine (21 µs); 128 trials gained from two devices of 64 (31
#: against 38 µs). See ``docs/benchmarks.md``, "Where the time goes".
_SHARD_MIN = 64


@dataclass(frozen=True)
class RingResult:
    """What one simulation of the ring recorded (one parameter set); immutable, like
    :class:`~neurosim.hh.HHResult` (``dataclasses.replace`` makes a changed copy).

    Cells are ordered E (0..n−1) then I (n..2n−1); cell ``i`` sits at ring position ``i % n``.

    Attributes:
        params: the parameters.
        duration_ms, bin_ms: simulated time and count bin width.
        seeds: (trials, 4) uint32 trial seeds (words 0–1 drive the kicks, 2–3 the initial state).
        counts: (trials, bins, 2n) spike counts per bin.
        external_counts: (trials, bins, 2n) external events per bin, or None.
        spike_steps, spike_ids: per trial, the step (time = step·dt) and cell of every spike, or
            None.
        population: (trials, steps, 2) spikes of E and I cells at every step, or None.
        i_e, i_i: (trials, samples, 2n) synaptic currents (synaptic variant), or None.
        currents_every_ms, currents_mode: their sampling.
        v: (trials, samples, 2n) voltages (refractory cells read V_R), or None.
        voltage_every_ms: its sampling.
    """

    params: RingParams
    duration_ms: float
    bin_ms: float
    seeds: np.ndarray
    counts: np.ndarray
    external_counts: np.ndarray | None = None
    spike_steps: list[np.ndarray] | None = None
    spike_ids: list[np.ndarray] | None = None
    population: np.ndarray | None = None
    i_e: np.ndarray | None = None
    i_i: np.ndarray | None = None
    currents_every_ms: float | None = None
    currents_mode: str | None = None
    v: np.ndarray | None = None
    voltage_every_ms: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return int(self.counts.shape[0])

    @property
    def dt_ms(self) -> float:
        return float(self.params.dt_ms)

    @property
    def n_steps(self) -> int:
        return int(round(self.duration_ms / self.dt_ms))

    @property
    def time_ms(self) -> np.ndarray:
        """Start time of each count bin (ms), (bins,)."""
        return np.arange(self.counts.shape[1]) * self.bin_ms

    @property
    def external(self) -> np.ndarray | None:
        """External input per cell and bin as event count × f, (trials, bins, 2n) float32."""
        if self.external_counts is None:
            return None
        n = self.params.n_per_type
        f = np.concatenate([np.full(n, float(self.params.f_E)), np.full(n, float(self.params.f_I))])
        return (self.external_counts * f).astype(np.float32)

    def spike_times_ms(self, trial: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(times in ms, cell ids) of every spike of one trial (needs ``spikes=True``)."""
        if self.spike_steps is None:
            raise ValueError("spike times were not recorded: simulate with spikes=True")
        return self.spike_steps[trial] * self.dt_ms, self.spike_ids[trial]

    def rates_hz(self, t_start_ms: float = 0.0) -> np.ndarray:
        """Firing rate of every cell (Hz), counted from ``t_start_ms`` on, (trials, 2n)."""
        first = int(round(t_start_ms / self.bin_ms))
        if abs(first * self.bin_ms - t_start_ms) > 1e-9 or not 0 <= first < self.counts.shape[1]:
            raise ValueError(
                f"t_start_ms = {t_start_ms} must be a bin edge inside the run "
                f"(bins of {self.bin_ms} ms over {self.duration_ms} ms)"
            )
        c = self.counts[:, first:].sum(axis=1, dtype=np.int64)
        return c / ((self.counts.shape[1] - first) * self.bin_ms * 1e-3)

    def mean_rates_hz(self, t_start_ms: float = 0.0) -> tuple[float, float]:
        """Mean rate of E cells and of I cells (Hz) over trials, from ``t_start_ms`` on."""
        r = self.rates_hz(t_start_ms)
        n = self.params.n_per_type
        return float(r[:, :n].mean()), float(r[:, n:].mean())

    def population_counts(self, t_start_ms: float = 0.0) -> np.ndarray:
        """Spikes of the whole network per bin from ``t_start_ms`` on, (trials, bins)."""
        first = int(round(t_start_ms / self.bin_ms))
        return self.counts[:, first:].sum(axis=2, dtype=np.int64)

    def population_rate_hz(self) -> np.ndarray:
        """E and I population rates per bin (Hz), (trials, bins, 2)."""
        return recording.population_rate_hz(self.counts, self.bin_ms, self.params.n_per_type)

    def synchrony_index(self, window_ms: float = 2.5) -> np.ndarray:
        """The original code's synchrony index per trial (needs ``population=True`` or spikes)."""
        if self.population is not None:
            pops = [p.sum(axis=1) for p in self.population]
        elif self.spike_steps is not None:
            pops = [np.bincount(s, minlength=self.n_steps) for s in self.spike_steps]
        else:
            raise ValueError(
                "the synchrony index needs per-step counts: simulate with population=True "
                "or spikes=True"
            )
        return np.asarray(
            [recording.synchrony_index(p, self.params.n_cells, self.dt_ms, window_ms) for p in pops]
        )

    def spike_count_slide(self, window_ms: float, slide_ms: float) -> np.ndarray:
        """Counts in sliding windows with ``SpikeCount_slide`` semantics, (trials, windows, 2n).

        Computed from the recorded bins when window and slide are multiples of the bin width,
        otherwise from the spike times (needs ``spikes=True``).
        """
        w_steps = recording.steps_of(window_ms, self.dt_ms, "window_ms")
        s_steps = recording.steps_of(slide_ms, self.dt_ms, "slide_ms")
        b_steps = recording.steps_of(self.bin_ms, self.dt_ms, "bin_ms")
        if w_steps % b_steps == 0 and s_steps % b_steps == 0:
            return recording.spike_count_slide(
                self.counts, w_steps // b_steps, s_steps // b_steps, axis=1
            )
        if self.spike_steps is None:
            raise ValueError(
                f"window {window_ms} ms / slide {slide_ms} ms are not multiples of the bin "
                f"{self.bin_ms} ms: simulate with spikes=True or a finer bin_ms"
            )
        g = math.gcd(w_steps, s_steps)
        out = []
        for st, ids in zip(self.spike_steps, self.spike_ids, strict=True):
            fine = recording.counts_from_spikes(st, ids, self.params.n_cells, self.n_steps, g)
            out.append(recording.spike_count_slide(fine, w_steps // g, s_steps // g, axis=0))
        return np.stack(out)


def _as_params(params) -> RingParams:
    if isinstance(params, str):
        return ring_params(params)
    if not isinstance(params, RingParams):
        raise TypeError(
            f"params must be a RingParams or a preset name, got {type(params).__name__}"
        )
    return params.validate()


@partial(jax.jit, static_argnames=("st", "rec", "lanes", "sweep"))
def _run_jit(dyn, seeds, v0, *, st, rec, lanes, sweep):
    """seeds (B, 4); v0 None or (B, 2, n). Returns outputs with trials first: (B, blocks, ...)."""

    def one_set(d):
        if lanes:
            v = None if v0 is None else jnp.moveaxis(v0, 0, -1)
            out = model.run(d, seeds, st, rec, v0=v)
            out.pop("final")
            return jax.tree.map(lambda a: jnp.moveaxis(a, -1, 0), out)

        def single(s, v):
            out = model.run(d, s, st, rec, v0=v)
            out.pop("final")
            return out

        return (
            jax.vmap(single)(seeds, v0)
            if v0 is not None
            else jax.vmap(lambda s: single(s, None))(seeds)
        )

    return jax.vmap(one_set)(dyn) if sweep else one_set(dyn)


def _n_shards(n_trials: int, shard: bool) -> int:
    """How many local devices a batch of ``n_trials`` is split across (1: not split).

    Split only when every device then gets at least ``_SHARD_MIN`` trials (after padding to a
    multiple of the device count), so that each runs a full batch in its vector lanes.
    """
    return parallel.n_shards(n_trials, min_per_device=_SHARD_MIN) if shard else 1


def _place_batch(dyn, seeds: np.ndarray, v0: np.ndarray | None, k: int):
    """Put one batch on the devices: trials split across ``k`` local devices when ``k > 1``.

    Args:
        dyn: the numeric parameters (replicated on every device).
        seeds: (B, 4) uint32 trial seeds.
        v0: None or (B, 2, n) initial voltages.
        k: number of devices (from :func:`_n_shards`).

    Returns:
        ``(dyn, seeds, v0, pad)``: the placed arrays, padded with copies of the last trial to a
        multiple of ``k`` (``pad`` rows to drop from the outputs).
    """
    if k == 1:
        return dyn, jnp.asarray(seeds), None if v0 is None else jnp.asarray(v0), 0
    b = seeds.shape[0]
    (dyn, seeds, v0), b_run = parallel.shard_batch(
        (dyn, seeds, v0),
        b,
        axes=(jax.tree.map(lambda _: None, dyn), 0, 0),
        min_per_device=_SHARD_MIN,
    )
    return dyn, seeds, v0, b_run - b


def _check_v0(v0: np.ndarray, p: RingParams) -> None:
    """Explicit initial voltages, (trials, 2n): finite and below threshold (else ValueError)."""
    v_th = np.min(np.asarray(p.v_threshold, np.float64))
    bad = np.argwhere(~(v0 < v_th))  # NaN fails too
    if bad.size:
        t, c = (int(i) for i in bad[0])
        raise ValueError(
            f"v0 must be finite and below v_threshold = {v_th:g} (a cell at or above it reads "
            f"as refractory); v0[{t}, {c}] = {float(v0[t, c])!r} ({len(bad)} such values)"
        )


def _check_record_every(
    name: str, every_ms: float | None, dt_ms: float, n_steps: int
) -> int | None:
    if every_ms is None:
        return None
    k = recording.steps_of(every_ms, dt_ms, name)
    if n_steps % k:
        raise ValueError(
            f"{name} = {every_ms} ms must divide the duration ({n_steps} steps of {dt_ms} ms)"
        )
    return k


def simulate_ring(
    params: RingParams | str = "fig1",
    *,
    key,
    duration_ms: float = 3000.0,
    n_trials: int = 1,
    bin_ms: float = 10.0,
    external: bool = False,
    spikes: bool = False,
    population: bool = False,
    currents_every_ms: float | None = None,
    currents_mode: str = "sample",
    voltage_every_ms: float | None = None,
    v0: np.ndarray | None = None,
    trial_offset: int = 0,
    seeds: np.ndarray | None = None,
    batch_size: int = DEFAULT_BATCH,
    dtype: str = "float32",
    unroll: int = 1,
    shard: bool = True,
) -> RingResult | list[RingResult]:
    """Simulate the E/I ring for ``n_trials`` trials.

    Each trial gets fresh Poisson input and initial voltages (Uniform(v_reset, v0_max)), both derived
    from ``fold_in(key, trial_offset + t)``: a trial's spikes do not depend on how trials are
    batched, and the same key gives the same spikes. Nothing of size steps × cells is kept unless
    ``spikes=True`` (then one bit per cell and step, decoded to spike times).

    Args:
        params: :class:`RingParams` or a preset name (``"fig1"``, ``"fig2"``, ``"fig3"``).
            Numeric fields given as 1-D arrays run a parameter sweep (vmapped, same trial seeds
            for every set): a list of results comes back, one per set.
        key: JAX PRNG key (may be None when ``seeds`` are given).
        duration_ms: simulated time (a multiple of ``bin_ms``).
        n_trials: number of trials.
        bin_ms: width of the count bins (a multiple of dt).
        external: also count the external events per cell and bin (``external_counts``; the
            input as kick count × f is ``result.external``).
        spikes: record every spike (times and cell ids).
        population: record E and I spike counts at every step (for the synchrony index).
        currents_every_ms: synaptic-current variant only: record I_E and I_I of every cell every
            this many ms.
        currents_mode: ``"sample"`` (the value at the end of each interval) or ``"mean"`` (the
            interval's average).
        voltage_every_ms: record every cell's voltage every this many ms (refractory: V_R).
        v0: optional initial voltages, (n_trials, 2n) (each below V_T); replaces the random ones.
        trial_offset: index of the first trial (continue a series of trials).
        seeds: optional explicit (n_trials, 4) uint32 trial seeds instead of ``key``-derived ones
            (the reliability experiment uses this to share the input between trials).
        batch_size: trials per compiled batch and device: with ``shard`` and k local devices,
            up to ``k · batch_size`` trials run at a time, ``batch_size`` on each.
        dtype: ``"float32"`` (default) or ``"float64"`` (needs ``jax.enable_x64``).
        unroll: time steps per loop iteration.
        shard: split a batch across the local devices when there are several and each gets at
            least 64 trials (padded to a multiple of the device count); the results are the same
            as on one device. The devices are those chosen with
            :func:`neurosim.parallel.set_devices` (default: all local ones); on CPU, several
            devices need :func:`neurosim.use_cpu_cores` before JAX starts (the ``neurosim``
            CLI calls it).

    Returns:
        :class:`RingResult` (a list of them for a sweep).

    Raises:
        ValueError: bad parameters, a duration or bin that is not a whole number of steps, a
            duration that is not a whole number of bins, currents without ``synaptic=True``.
    """
    p = _as_params(params)
    dt = float(p.dt_ms)
    n_steps = recording.steps_of(duration_ms, dt, "duration_ms")
    bin_steps = recording.steps_of(bin_ms, dt, "bin_ms")
    if n_steps % bin_steps:
        raise ValueError(
            f"duration_ms = {duration_ms} must be a whole number of bins of {bin_ms} ms"
        )
    if not isinstance(n_trials, (int, np.integer)) or n_trials < 1:
        raise ValueError(f"n_trials must be a positive integer, got {n_trials!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if currents_every_ms is not None and not p.synaptic:
        raise ValueError(
            "synaptic currents exist only in the synaptic-current variant: "
            "use params with synaptic=True"
        )
    if currents_mode not in ("sample", "mean"):
        raise ValueError(f"currents_mode must be 'sample' or 'mean', got {currents_mode!r}")
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError(
            "dtype='float64' needs 64-bit JAX: wrap the call in `with jax.enable_x64(True):`"
        )
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    cur_k = _check_record_every("currents_every_ms", currents_every_ms, dt, n_steps)
    v_k = _check_record_every("voltage_every_ms", voltage_every_ms, dt, n_steps)
    block = model.gcd_steps(bin_steps, cur_k, v_k)
    rec = model.Record(
        block=block,
        n_blocks=n_steps // block,
        external=external,
        population=population,
        raster=spikes,
        currents=currents_mode if cur_k else None,
        voltage=v_k is not None,
        unroll=unroll,
    )
    st, dyn = model.make_static_dyn(p, dtype)
    sweep = p.n_sets is not None
    n = p.n_per_type

    if seeds is None:
        if key is None:
            raise ValueError("simulate_ring needs key=jax.random.key(...) (or explicit seeds=)")
        seeds = np.asarray(rng.trial_seeds(key, n_trials, trial_offset))
    else:
        seeds = np.asarray(seeds, np.uint32)
        if seeds.shape != (n_trials, 4):
            raise ValueError(f"seeds must have shape ({n_trials}, 4), got {seeds.shape}")
    if v0 is not None:
        v0 = np.asarray(v0, np.float64)
        if v0.shape != (n_trials, 2 * n):
            raise ValueError(
                f"v0 must have shape (n_trials, 2n) = ({n_trials}, {2 * n}), got {v0.shape}"
            )
        _check_v0(v0, p)

    taxis = 1 if sweep else 0
    chunks = []
    per_call = batch_size * (len(parallel.local_devices()) if shard else 1)
    for start in range(0, n_trials, per_call):
        b = min(per_call, n_trials - start)
        k = _n_shards(b, shard)
        d, s, v, pad = _place_batch(
            dyn,
            seeds[start : start + b],
            None if v0 is None else v0[start : start + b].reshape(b, 2, n).astype(dtype),
            k,
        )
        out = _run_jit(d, s, v, st=st, rec=rec, lanes=b >= _LANES_MIN, sweep=sweep)
        out = {name: np.asarray(a) for name, a in out.items()}
        if pad:  # drop the padding trials
            out = parallel.unpad(out, b, axis=taxis)
        chunks.append(out)
    out = {k: np.concatenate([c[k] for c in chunks], axis=taxis) for k in chunks[0]}

    def result(o, pset):
        return _assemble(
            o,
            pset,
            rec,
            seeds,
            duration_ms,
            bin_ms,
            bin_steps,
            cur_k,
            v_k,
            currents_every_ms,
            currents_mode,
            voltage_every_ms,
        )

    if sweep:
        return [result({k: a[i] for k, a in out.items()}, p.set(i)) for i in range(p.n_sets)]
    return result(out, p)


def _assemble(
    o,
    p,
    rec,
    seeds,
    duration_ms,
    bin_ms,
    bin_steps,
    cur_k,
    v_k,
    currents_every_ms,
    currents_mode,
    voltage_every_ms,
) -> RingResult:
    """Per-trial arrays (trials, blocks, 2, n) → (trials, bins/samples, 2n)."""
    block = rec.block
    n_trials = seeds.shape[0]

    def cells(a):  # (trials, blocks, 2, n) → (trials, blocks, 2n)
        return a.reshape(a.shape[0], a.shape[1], -1)

    def group_sum(a, k):  # sum groups of k blocks
        return a.reshape(a.shape[0], a.shape[1] // k, k, *a.shape[2:]).sum(axis=2)

    g = bin_steps // block
    counts = group_sum(cells(o["counts"]).astype(np.int32), g)
    if -(-bin_steps // p.refractory_steps) < 2**15:  # at most one spike per refractory period
        counts = counts.astype(np.int16)
    kw = {}
    if rec.external:
        kw["external_counts"] = group_sum(cells(o["external"]), g)
    if rec.population:
        kw["population"] = o["population"]
    if rec.raster:
        decoded = [recording.decode_raster(o["raster"][t], block) for t in range(n_trials)]
        kw["spike_steps"] = [s for s, _ in decoded]
        kw["spike_ids"] = [i for _, i in decoded]
    if cur_k:
        m = cur_k // block
        if currents_mode == "sample":
            kw["i_e"], kw["i_i"] = cells(o["i_e"])[:, m - 1 :: m], cells(o["i_i"])[:, m - 1 :: m]
        else:
            kw["i_e"] = group_sum(cells(o["i_e"]), m) / m
            kw["i_i"] = group_sum(cells(o["i_i"]), m) / m
        kw["currents_every_ms"], kw["currents_mode"] = float(currents_every_ms), currents_mode
    if v_k:
        m = v_k // block
        kw["v"] = cells(o["v"])[:, m - 1 :: m]
        kw["voltage_every_ms"] = float(voltage_every_ms)
    res = RingResult(
        params=p,
        duration_ms=float(duration_ms),
        bin_ms=float(bin_ms),
        seeds=np.asarray(seeds),
        counts=counts,
        **kw,
    )
    return res
