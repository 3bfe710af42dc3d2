"""Calcium fluorescence from spikes: double-exponential transients, an indicator, noise.

The forward model, per cell (all parameters in :class:`CalciumConfig` and
:class:`~neurosim.observe.indicators.Indicator`):

1. Calcium (spike units): every spike at time ``t_s`` adds ``w_s·k(t − t_s)``, with the
   double-exponential kernel ``k(t) = (e^{−t/τ_d} − e^{−t/τ_r}) / k_peak`` (peak 1) and ``w_s`` a
   per-spike influx factor (1, or log-normal with ``amplitude_cv_spike``). Sums are linear.
2. Indicator: ``ΔF/F = a_cell · g(c)`` with ``g`` the indicator's map (linear, Hill or
   polynomial; ``g(1) = amplitude``) and ``a_cell`` a per-cell expression factor (1, or
   log-normal with ``amplitude_cv_cell``).
3. Neuropil (optional): ``+ r · n(t)``, a shared ΔF/F trace of the surrounding population.
4. Drift: ``+ d(t)``, a slow Ornstein–Uhlenbeck baseline (see :func:`noise.slow_drift`).
5. Noise: ``+ σ · sqrt(|1 + x(t)|) · z(t)`` (x the trace so far, z white Gaussian): shot-like
   noise whose variance grows with the fluorescence, as CASCADE adds it. σ is set per cell so
   that the trace has the requested noise level ν, or given directly.

Sampling: frame ``n`` covers ``[n/f, (n+1)/f)`` and its fluorescence is the exact value of the
continuous-time model at the end of the frame, ``t = (n+1)/f``; so a spike counted in frame ``n``
already shows in frame ``n``. The transients are sampled exactly (no fine time grid): each
exponential component is an AR(1) recursion over frames, fed by ``Σ e^{−(t_n − t_s)/τ}`` of the
frame's spikes; that recursion runs under ``jax.lax.scan``, vectorised over cells.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import parallel
from .indicators import Indicator, fluorescence, get_indicator
from .noise import _median_abs, calibrate_noise_sigma, drift_knots, interpolate_knots
from .sources import SpikeTrains, bin_spikes, frame_index, poisson_spike_times


def kernel_peak_time_s(tau_rise_s: float, tau_decay_s: float) -> float:
    """Time of the peak of the double-exponential kernel (s); 0 for an instant rise."""
    if tau_rise_s <= 0:
        return 0.0
    return (
        tau_decay_s * tau_rise_s / (tau_decay_s - tau_rise_s) * math.log(tau_decay_s / tau_rise_s)
    )


def double_exponential(t_s, tau_rise_s: float, tau_decay_s: float) -> np.ndarray:
    """The calcium kernel ``k(t)`` normalised to a peak of 1; 0 for ``t < 0``.

    Args:
        t_s: times after the spike (s), any shape.
        tau_rise_s: rise time constant (s), 0 for an instant rise.
        tau_decay_s: decay time constant (s), > ``tau_rise_s``.
    """
    if not 0 <= tau_rise_s < tau_decay_s:
        raise ValueError(f"need 0 <= tau_rise_s < tau_decay_s, got {tau_rise_s} and {tau_decay_s}")
    t = np.asarray(t_s, dtype=np.float64)
    tp = kernel_peak_time_s(tau_rise_s, tau_decay_s)

    def raw(x):
        rise = np.exp(-x / tau_rise_s) if tau_rise_s > 0 else 0.0
        return np.exp(-x / tau_decay_s) - rise

    with np.errstate(over="ignore", invalid="ignore"):
        out = np.where(t >= 0, raw(np.maximum(t, 0.0)), 0.0)
    peak = raw(tp) if tau_rise_s > 0 else 1.0
    return out / peak


def _scan_two_ar1(w_d, w_r, g_d, g_r):
    """x[n] = g·x[n−1] + w[n] for the decay and the rise component, inputs (n_frames, n_cells);
    returns x_decay − x_rise, (n_frames, n_cells)."""

    def step(carry, w):
        xd, xr = carry
        xd = g_d * xd + w[0]
        xr = g_r * xr + w[1]
        return (xd, xr), xd - xr

    zero = jnp.zeros(w_d.shape[1], w_d.dtype)
    _, out = jax.lax.scan(step, (zero, zero), (w_d, w_r))
    return out


def _frame_inputs(flat, wd, wr, n_frames: int, n_cells: int):
    """Per-frame inputs of the two recursions, frame-major ``(n_frames, n_cells)`` float32, from
    per-spike weights at flat indices ``frame·n_cells + cell``.

    Summed on the host in float64 (``np.bincount``), so the result does not depend on the device
    or on the order of the spikes (an XLA scatter-add is an atomic float add on GPU, whose order
    and hence last bits vary from run to run for spikes sharing a frame).
    """
    size = n_frames * n_cells
    Wd = np.bincount(flat, weights=wd, minlength=size).astype(np.float32)
    Wr = np.bincount(flat, weights=wr, minlength=size).astype(np.float32)
    return Wd.reshape(n_frames, n_cells), Wr.reshape(n_frames, n_cells)


@jax.jit
def _transients_jit(w_d, w_r, g_d, g_r):
    return _scan_two_ar1(w_d, w_r, g_d, g_r).T


def _spike_inputs(
    times_s, n_frames: int, frame_rate_hz: float, tau_rise_s, tau_decay_s, spike_weights
):
    """Per-spike inputs of the two AR(1) recursions: flat frame-major indices
    ``frame·n_cells + cell`` and float64 weights of the decay and rise components, and the
    recursion coefficients ``(n_cells,)`` float32."""
    t = np.atleast_2d(np.asarray(times_s, dtype=np.float64))
    n_cells = t.shape[0]
    f = float(frame_rate_hz)
    tr = np.broadcast_to(np.asarray(tau_rise_s, np.float64), (n_cells,))
    td = np.broadcast_to(np.asarray(tau_decay_s, np.float64), (n_cells,))
    if np.any(tr < 0) or np.any(td <= tr):
        raise ValueError("need 0 <= tau_rise_s < tau_decay_s for every cell")
    idx, phase = frame_index(t, n_frames, f)
    valid = idx < n_frames
    rows, cols = np.nonzero(valid)
    lag = (1.0 - phase[rows, cols]) / f  # time from the spike to the end of its frame (s)
    w = 1.0 if spike_weights is None else np.asarray(spike_weights, np.float64)[rows, cols]
    peak = np.array(
        [
            1.0
            if r == 0
            else math.exp(-kernel_peak_time_s(r, d) / d) - math.exp(-kernel_peak_time_s(r, d) / r)
            for r, d in zip(tr, td, strict=True)
        ]
    )
    w = w / peak[rows]
    safe_tr = np.where(tr > 0, tr, 1.0)
    wd = w * np.exp(-lag / td[rows])
    wr = np.where(tr[rows] > 0, w * np.exp(-lag / safe_tr[rows]), 0.0)
    flat = idx[rows, cols].astype(np.int64) * n_cells + rows
    gd = np.exp(-1.0 / (f * td))
    gr = np.where(tr > 0, np.exp(-1.0 / (f * safe_tr)), 0.0)
    return flat, wd, wr, gd.astype(np.float32), gr.astype(np.float32)


def _influx(times_s, n_frames: int, frame_rate_hz: float, tau_rise_s, tau_decay_s, spike_weights):
    """Inputs of the two AR(1) recursions: per-frame influx of the decay and the rise component,
    ``(n_frames, n_cells)`` float32 each, and the recursion coefficients ``(n_cells,)``."""
    n_cells = np.atleast_2d(np.asarray(times_s)).shape[0]
    flat, wd, wr, gd, gr = _spike_inputs(
        times_s, n_frames, frame_rate_hz, tau_rise_s, tau_decay_s, spike_weights
    )
    return (*_frame_inputs(flat, wd, wr, n_frames, n_cells), gd, gr)


def calcium_transients(
    times_s,
    n_frames: int,
    frame_rate_hz: float,
    tau_rise_s,
    tau_decay_s,
    *,
    spike_weights=None,
) -> np.ndarray:
    """Calcium in spike units at the end of each frame: ``Σ_s w_s·k(t_n − t_s)``, exactly.

    Args:
        times_s: ``(n_cells, max_spikes)`` spike times (s), +inf padded.
        n_frames: number of frames.
        frame_rate_hz: frames per second.
        tau_rise_s: rise time constant(s) (s): a scalar or one per cell; 0 = instant rise.
        tau_decay_s: decay time constant(s) (s): a scalar or one per cell.
        spike_weights: optional ``(n_cells, max_spikes)`` influx of each spike (default 1).

    Returns:
        ``(n_cells, n_frames)`` float32; an isolated spike peaks at its weight.
    """
    args = _influx(times_s, n_frames, frame_rate_hz, tau_rise_s, tau_decay_s, spike_weights)
    return np.asarray(_transients_jit(*args))


@dataclass(frozen=True)
class CalciumConfig:
    """Recording parameters of the calcium forward model (the indicator is separate).

    Attributes:
        frame_rate_hz: frames per second (Spikefinder: 100).
        noise_level: requested CASCADE noise level ν (%·s^-1/2); None: use ``noise_sigma``.
        noise_sigma: noise scale σ (ΔF/F at rest) when ``noise_level`` is None.
        drift_sd: standard deviation of the slow baseline drift (ΔF/F).
        drift_timescale_s: correlation time of the drift (s).
        neuropil_coef: weight r of the shared neuropil trace in each cell (0: none).
        neuropil_rate_hz: firing rate of the surrounding population that makes the neuropil.
        neuropil_cells: number of cells pooled into the neuropil trace.
        amplitude_cv_cell: coefficient of variation of the per-cell ΔF/F scale (expression).
        amplitude_cv_spike: coefficient of variation of each spike's calcium influx.
        tau_cv_cell: coefficient of variation of the per-cell time constants.
    """

    frame_rate_hz: float = 100.0
    noise_level: float | None = 2.0
    noise_sigma: float = 0.0
    drift_sd: float = 0.02
    drift_timescale_s: float = 30.0
    neuropil_coef: float = 0.0
    neuropil_rate_hz: float = 5.0
    neuropil_cells: int = 50
    amplitude_cv_cell: float = 0.0
    amplitude_cv_spike: float = 0.0
    tau_cv_cell: float = 0.0

    def __post_init__(self):
        if not (self.frame_rate_hz > 0 and math.isfinite(self.frame_rate_hz)):
            raise ValueError(f"frame_rate_hz must be positive, got {self.frame_rate_hz}")
        if self.noise_level is not None and not (
            self.noise_level > 0 and math.isfinite(self.noise_level)
        ):
            raise ValueError(
                f"noise_level must be positive (ν in %·s^-1/2) or None, got {self.noise_level}"
            )
        for name in (
            "noise_sigma",
            "drift_sd",
            "neuropil_coef",
            "neuropil_rate_hz",
            "amplitude_cv_cell",
            "amplitude_cv_spike",
            "tau_cv_cell",
        ):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {v}")
        if not self.drift_timescale_s > 0:
            raise ValueError(f"drift_timescale_s must be positive, got {self.drift_timescale_s}")
        if self.neuropil_cells < 1:
            raise ValueError(f"neuropil_cells must be >= 1, got {self.neuropil_cells}")

    def replace(self, **changes) -> CalciumConfig:
        return dataclasses.replace(self, **changes)


@dataclass
class CalciumRecording:
    """Synthetic calcium imaging of several cells, with its ground truth.

    Attributes:
        dff: ``(n_cells, n_frames)`` float32 ΔF/F (fraction) as recorded.
        clean_dff: the indicator's ΔF/F without neuropil, drift and noise.
        calcium: calcium in spike units.
        spike_counts: ``(n_cells, n_frames)`` int32 spikes per frame.
        spike_times_s: ``(n_cells, max_spikes)`` float64 spike times, +inf padded.
        noise_level: achieved ν per cell (%·s^-1/2).
        noise_sigma: noise scale σ per cell.
        amplitude_scale: per-cell ΔF/F scale factor.
        tau_rise_s, tau_decay_s: per-cell time constants (s).
        neuropil: the shared neuropil ΔF/F trace ``(n_frames,)``, or None.
        frame_rate_hz: frames per second.
        indicator: the indicator used.
        config: the recording parameters.
    """

    dff: np.ndarray
    clean_dff: np.ndarray
    calcium: np.ndarray
    spike_counts: np.ndarray
    spike_times_s: np.ndarray
    noise_level: np.ndarray
    noise_sigma: np.ndarray
    amplitude_scale: np.ndarray
    tau_rise_s: np.ndarray
    tau_decay_s: np.ndarray
    neuropil: np.ndarray | None
    frame_rate_hz: float
    indicator: Indicator
    config: CalciumConfig

    @property
    def n_cells(self) -> int:
        return int(self.dff.shape[0])

    def to_recording(self):
        """As a :class:`neurosim.spikefinder.Recording` (for :func:`write_recording`)."""
        from ..spikefinder import Recording

        return Recording(
            calcium=[np.asarray(x, np.float64) for x in self.dff],
            spikes=[np.asarray(s, np.float64) for s in self.spike_counts],
            frame_rate=self.frame_rate_hz,
            source=f"neurosim calcium ({self.indicator.name})",
        )


@partial(jax.jit, static_argnames=("ind",))
def _pipeline(
    w_d,
    w_r,
    g_d,
    g_r,
    amp,
    np_add,
    knots,
    i0,
    frac,
    key_noise,
    ind: Indicator,
):
    """Calcium → ΔF/F → + neuropil + drift, and the unit shot-like noise, in one XLA program.

    Per-cell inputs have cells on axis 0 (``w_d``, ``w_r``: ``(n_cells, n_frames)``), so that
    :func:`neurosim.parallel.shard_batch` can split them across devices; cells are independent.
    """
    calcium = _scan_two_ar1(w_d.T, w_r.T, g_d, g_r).T
    clean = fluorescence(calcium, ind) * amp[:, None]
    drift = interpolate_knots(knots, i0, frac)
    base = clean + np_add[None, :] + drift
    z = jax.random.normal(key_noise, base.shape, jnp.float32)
    unit = z * jnp.sqrt(jnp.abs(1.0 + base))
    return calcium, clean, base, unit, jnp.diff(base, axis=1), jnp.diff(unit, axis=1)


def _lognormal_factor(key, shape, cv: float):
    """Mean-1 log-normal factors with coefficient of variation ``cv`` (ones for cv = 0)."""
    if cv == 0:
        return np.ones(shape, np.float64)
    s = math.sqrt(math.log1p(cv * cv))
    g = np.asarray(jax.random.normal(key, shape), np.float64)
    return np.exp(s * g - 0.5 * s * s)


def neuropil_trace(
    n_frames: int,
    indicator: Indicator,
    config: CalciumConfig,
    *,
    key: jax.Array,
) -> np.ndarray:
    """A shared neuropil ΔF/F trace: the mean ΔF/F of ``config.neuropil_cells`` Poisson cells
    firing at ``config.neuropil_rate_hz`` (same indicator). ``(n_frames,)`` float32."""
    f = config.frame_rate_hz
    spikes = poisson_spike_times(
        config.neuropil_rate_hz, n_frames / f, key=key, n_cells=config.neuropil_cells
    )
    ca = calcium_transients(
        spikes.times_s, n_frames, f, indicator.tau_rise_s, indicator.tau_decay_s
    )
    return np.asarray(fluorescence(ca, indicator)).mean(axis=0).astype(np.float32)


def n_frames_for(duration_s: float, frame_rate_hz: float) -> int:
    """Whole frames in a recording of ``duration_s`` seconds."""
    return int(math.floor(duration_s * frame_rate_hz + 1e-9))


def simulate_calcium(
    spikes: SpikeTrains,
    indicator: Indicator | str,
    config: CalciumConfig | None = None,
    *,
    key: jax.Array,
    n_frames: int | None = None,
    neuropil: np.ndarray | None = None,
    shard: bool = True,
) -> CalciumRecording:
    """Record calcium fluorescence of spiking cells (see the module docstring for the model).

    Args:
        spikes: the cells' spike times (a :class:`SpikeTrains`).
        indicator: an :class:`Indicator` or a preset name (``"gcamp6s"``, ``"ogb1"`` …).
        config: recording parameters (default :class:`CalciumConfig()`: 100 Hz, ν = 2).
        key: PRNG key (same key, same recording).
        n_frames: frames to record (default: the whole frames in ``spikes.duration_s``).
        neuropil: a shared neuropil trace ``(n_frames,)`` to use instead of drawing one (lets
            cells simulated in several chunks share it); only used if ``neuropil_coef > 0``.
        shard: split the cells across the local devices when there are several
            (:func:`neurosim.parallel.shard_batch`, at least 2 cells a device); the recording is
            the same as on one device. The spike binning and the noise calibration run on the
            host (NumPy) either way.

    Returns:
        :class:`CalciumRecording`.

    Raises:
        ValueError: bad parameters (the message names them).
    """
    ind = get_indicator(indicator)
    cfg = config if config is not None else CalciumConfig()
    f = cfg.frame_rate_hz
    if n_frames is None:
        n_frames = n_frames_for(spikes.duration_s, f)
    if n_frames < 2:
        raise ValueError(
            f"need at least 2 frames, got {n_frames} (duration {spikes.duration_s} s at {f} Hz)"
        )
    times = np.atleast_2d(np.asarray(spikes.times_s, np.float64))
    n_cells = times.shape[0]
    k_amp, k_tau, k_spk, k_np, k_drift, k_noise = jax.random.split(key, 6)

    amp = _lognormal_factor(k_amp, (n_cells,), cfg.amplitude_cv_cell)
    tau_f = _lognormal_factor(k_tau, (n_cells,), cfg.tau_cv_cell)
    tau_r = ind.tau_rise_s * tau_f
    tau_d = ind.tau_decay_s * tau_f
    w = _lognormal_factor(k_spk, times.shape, cfg.amplitude_cv_spike)

    np_trace = None
    np_add = np.zeros(n_frames, np.float32)
    if cfg.neuropil_coef > 0:
        np_trace = (
            neuropil if neuropil is not None else neuropil_trace(n_frames, ind, cfg, key=k_np)
        )
        np_trace = np.asarray(np_trace, np.float32)
        if np_trace.shape != (n_frames,):
            raise ValueError(
                f"neuropil trace should have shape ({n_frames},), got {np_trace.shape}"
            )
        np_add = np.float32(cfg.neuropil_coef) * np_trace
    drift = drift_knots(
        n_cells, n_frames, f, key=k_drift, sd=cfg.drift_sd, timescale_s=cfg.drift_timescale_s
    )
    w_d, w_r, g_d, g_r = _influx(times, n_frames, f, tau_r, tau_d, w)
    args = (w_d.T, w_r.T, g_d, g_r, amp.astype(np.float32), np_add, *drift, k_noise)
    n_run = n_cells
    # The unit noise is drawn inside for the (padded) batch shape: with JAX's partitionable
    # threefry the first n_cells rows of a (n_run, n_frames) draw are the (n_cells, n_frames)
    # draw, so padding does not change them; without it, stay on one device.
    if shard and jax.config.jax_threefry_partitionable:
        axes = (0, 0, 0, 0, 0, None, 0, None, None, None)
        args, n_run = parallel.shard_batch(args, n_cells, axes=axes, min_per_device=2)
    out = _pipeline(*args, ind)
    if n_run != n_cells:
        out = parallel.unpad(out, n_cells)
    calcium, clean, base, unit, d_base, d_unit = (np.asarray(x) for x in out)
    if cfg.noise_level is not None:
        sigma, nu = calibrate_noise_sigma(base, unit, f, cfg.noise_level, diffs=(d_base, d_unit))
        s32 = sigma[:, None].astype(np.float32)
    else:
        sigma = np.full(n_cells, cfg.noise_sigma)
        s32 = sigma[:, None].astype(np.float32)
        nu = (100.0 / math.sqrt(f)) * _median_abs(d_base + s32 * d_unit, overwrite=True)
    # ν is that of the output's frame differences (float32: within ~1e-5 of a float64 measure)
    dff = (base + s32 * unit).astype(np.float32)
    return CalciumRecording(
        dff=dff,
        clean_dff=clean.astype(np.float32),
        calcium=calcium,
        spike_counts=bin_spikes(times, n_frames, f),
        spike_times_s=times,
        noise_level=np.asarray(nu, np.float64),
        noise_sigma=np.asarray(sigma, np.float64),
        amplitude_scale=amp,
        tau_rise_s=np.asarray(tau_r, np.float64),
        tau_decay_s=np.asarray(tau_d, np.float64),
        neuropil=np_trace,
        frame_rate_hz=f,
        indicator=ind,
        config=cfg,
    )
