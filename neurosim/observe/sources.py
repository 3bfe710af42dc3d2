"""Spike sources for the recordings: inhomogeneous Poisson and bursty renewal processes.

Spike trains are stored as exact spike times, not as a fine raster: a :class:`SpikeTrains`
holds a ``(n_cells, max_spikes)`` array of times in seconds, each row sorted, padded with
``+inf``. That is all the calcium forward model needs (it samples the continuous-time
transients exactly at the frame times), and it costs a few spikes per cell instead of
``duration / dt`` samples.

Both processes are drawn by time rescaling: events of a unit-rate process in "operational time"
are mapped through the inverse of the cumulative intensity ``Λ(t) = ∫ rate``, which gives an
inhomogeneous process with the requested rate exactly (Brown et al. 2002, Neural Comput. 14:325).

Randomness only through explicit keys (``*, key``); the same key gives the same spikes.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .noise import ou_unit


class SpikeTrains(NamedTuple):
    """Spike times of several cells.

    Attributes:
        times_s: ``(n_cells, max_spikes)`` float64 numpy array of spike times in seconds, each
            row sorted ascending and padded with ``+inf``.
        duration_s: length of the recording in seconds; every finite time is in ``[0, duration_s)``.
    """

    times_s: np.ndarray
    duration_s: float

    @property
    def n_cells(self) -> int:
        return int(self.times_s.shape[0])

    def counts(self) -> np.ndarray:
        """Number of spikes of each cell, ``(n_cells,)`` int."""
        return np.isfinite(self.times_s).sum(axis=1)


# --------------------------------------------------------------------------------------------
# Rates
# --------------------------------------------------------------------------------------------


def _rate_grid(rate_hz, duration_s: float, n_cells: int | None) -> np.ndarray:
    """Validate a rate argument and return it as a ``(n_cells, n_bins)`` float32 array."""
    if not (
        isinstance(duration_s, (int, float, np.floating, np.integer))
        and duration_s > 0
        and math.isfinite(duration_s)
    ):
        raise ValueError(
            f"duration_s must be a positive finite number of seconds, got {duration_s!r}"
        )
    r = np.asarray(rate_hz, dtype=np.float64)
    if r.ndim > 2:
        raise ValueError(
            f"rate_hz should be a scalar, (n_cells,) or (n_cells, n_bins); got shape {r.shape}"
        )
    if not np.all(np.isfinite(r)):
        raise ValueError("rate_hz has NaN or infinite values; expected finite rates in Hz")
    if np.any(r < 0):
        raise ValueError(f"rate_hz must be >= 0 Hz, got a minimum of {r.min()}")
    if r.ndim == 0:
        if n_cells is None:
            raise ValueError("n_cells is required when rate_hz is a scalar")
        r = np.full((n_cells, 1), float(r))
    elif r.ndim == 1:
        r = r[:, None]
    if n_cells is not None and r.shape[0] != n_cells:
        raise ValueError(f"rate_hz has {r.shape[0]} rows but n_cells={n_cells}")
    if r.shape[0] == 0:
        raise ValueError("need at least one cell")
    return r.astype(np.float32)


def random_rates(
    n_cells: int,
    duration_s: float,
    *,
    key: jax.Array,
    mean_rate_hz: float = 5.0,
    cell_spread: float = 0.5,
    modulation: float = 1.0,
    timescale_s: float = 2.0,
) -> tuple[np.ndarray, float]:
    """Slowly varying firing rates: a log-normal Ornstein–Uhlenbeck modulation per cell.

    Each cell gets a mean rate ``m_i = mean_rate_hz · exp(cell_spread·g_i − cell_spread²/2)``
    (g_i standard normal, so the population mean is ``mean_rate_hz``), and a rate
    ``r_i(t) = m_i · exp(modulation·x_i(t) − modulation²/2)`` with ``x_i`` a unit-variance OU
    process of correlation time ``timescale_s`` (so ``E[r_i] = m_i``). This is the kind of
    stimulus-driven rate fluctuation that MLspike and CASCADE use to draw test spike trains.

    Args:
        n_cells: number of cells.
        duration_s: length in seconds.
        key: PRNG key.
        mean_rate_hz: population mean rate (Hz).
        cell_spread: standard deviation of the log mean rate across cells (0: all equal).
        modulation: standard deviation of the log rate over time (0: homogeneous Poisson).
        timescale_s: correlation time of the modulation (s).

    Returns:
        ``(rates_hz, bin_s)``: ``(n_cells, n_bins)`` float32 rates, piecewise constant on bins of
        ``bin_s`` seconds (``timescale_s / 10``, at most 0.1 s).
    """
    if n_cells <= 0:
        raise ValueError(f"n_cells must be positive, got {n_cells}")
    for name, v in (
        ("mean_rate_hz", mean_rate_hz),
        ("cell_spread", cell_spread),
        ("modulation", modulation),
    ):
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"{name} must be finite and >= 0, got {v}")
    if not (timescale_s > 0 and math.isfinite(timescale_s)):
        raise ValueError(f"timescale_s must be positive, got {timescale_s}")
    bin_target = min(timescale_s / 10.0, 0.1)
    n_bins = max(1, int(math.ceil(duration_s / bin_target)))
    bin_s = duration_s / n_bins
    k_cell, k_time = jax.random.split(key)
    g = jax.random.normal(k_cell, (n_cells,))
    m = mean_rate_hz * jnp.exp(cell_spread * g - 0.5 * cell_spread**2)
    if modulation > 0 and n_bins > 1:
        a = jnp.float32(math.exp(-bin_s / timescale_s))
        x = ou_unit(k_time, n_cells, n_bins, a)
        rates = m[:, None] * jnp.exp(modulation * x - 0.5 * modulation**2)
    else:
        rates = jnp.broadcast_to(m[:, None], (n_cells, n_bins))
    return np.asarray(rates, dtype=np.float32), float(bin_s)


# --------------------------------------------------------------------------------------------
# Time rescaling
# --------------------------------------------------------------------------------------------


def _capacity(expected: float) -> int:
    """Events to draw so that running short has probability < 1e-12 (then we draw more anyway)."""
    return int(math.ceil(expected + 8.0 * math.sqrt(expected) + 16))


_BLOCK = 1 << 18  # random numbers are drawn in blocks of this size: one compilation, any count


@partial(jax.jit, static_argnames=("kind", "param"))
def _block(key, i, kind: str, param: float):
    k = jax.random.fold_in(key, i)
    if kind == "exponential":
        return jax.random.exponential(k, (_BLOCK,))
    if kind == "gamma":  # unit mean
        return jax.random.gamma(k, param, (_BLOCK,)) / param
    if kind == "geometric":
        return jax.random.geometric(k, param, (_BLOCK,)).astype(jnp.int32)
    raise ValueError(kind)


def _draw(key, count: int, kind: str, param: float = 1.0) -> np.ndarray:
    """``count`` i.i.d. numbers from blocks ``fold_in(key, 0), fold_in(key, 1), …`` (numpy)."""
    if kind == "gamma" and param == 1.0:
        kind = "exponential"
    n_blocks = max(1, -(-count // _BLOCK))
    out = np.concatenate([np.asarray(_block(key, i, kind, float(param))) for i in range(n_blocks)])
    return out[:count]


def _segment_starts(sizes: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _operational_events(key, total: np.ndarray, regularity: float) -> list[np.ndarray]:
    """Event times of a unit-rate renewal process (operational time) up to ``total[i]`` for each
    cell: a list of increasing float64 arrays. Intervals are drawn with jax in blocks and summed
    in float64 by numpy (exact and monotone; XLA's float32 cumsum is neither); each cell gets
    only as many as it needs (no padding to the busiest cell)."""
    n = total.shape[0]
    out: list[list[np.ndarray]] = [[] for _ in range(n)]
    last = np.zeros(n)
    need = np.arange(n)
    rnd = 0
    while need.size:
        caps = np.array([_capacity(float(total[i] - last[i])) for i in need], np.int64)
        iv = _draw(jax.random.fold_in(key, rnd), int(caps.sum()), "gamma", regularity)
        iv = iv.astype(np.float64)
        cs = np.cumsum(iv)
        starts = _segment_starts(caps)
        base = np.concatenate([[0.0], cs])[starts]  # cumsum before each segment
        still = []
        for j, i in enumerate(need):
            g = last[i] + (cs[starts[j] : starts[j] + caps[j]] - base[j])
            keep = g[g < total[i]]
            out[i].append(keep)
            if keep.size == g.size:  # did not pass total yet: draw more for this cell
                last[i] = g[-1]
                still.append(i)
        need = np.asarray(still, np.int64)
        rnd += 1
    return [np.concatenate(parts) if len(parts) > 1 else parts[0] for parts in out]


def _inverse_cumulative(gam: list[np.ndarray], lam_edges: np.ndarray, t_edges: np.ndarray):
    """Map each cell's operational times through Λ⁻¹ (piecewise linear, numpy float64: one
    ``np.interp`` per cell; XLA's searchsorted is slow on CPU). Returns a list of arrays."""
    top = np.nextafter(t_edges[-1], 0)
    return [np.minimum(np.interp(g, lam_edges[i], t_edges), top) for i, g in enumerate(gam)]


def _pad(rows: list[np.ndarray]) -> np.ndarray:
    """Ragged rows → ``(n, max_len)`` float64, +inf padded (at least one column)."""
    k = max(1, max((len(r) for r in rows), default=0))
    out = np.full((len(rows), k), np.inf)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def poisson_spike_times(
    rate_hz,
    duration_s: float,
    *,
    key: jax.Array,
    n_cells: int | None = None,
) -> SpikeTrains:
    """Inhomogeneous Poisson spike trains with the given rates.

    Args:
        rate_hz: rate in Hz: a scalar (needs ``n_cells``), one rate per cell ``(n_cells,)``, or a
            time-varying rate ``(n_cells, n_bins)``, piecewise constant on ``n_bins`` equal bins
            covering ``[0, duration_s)`` (e.g. the output of :func:`random_rates`).
        duration_s: length in seconds.
        key: PRNG key.
        n_cells: number of cells (only needed for a scalar rate).

    Returns:
        :class:`SpikeTrains`.

    Raises:
        ValueError: negative, NaN or mis-shaped rates; non-positive duration.
    """
    rates = _rate_grid(rate_hz, duration_s, n_cells)
    n, n_bins = rates.shape
    bin_s = duration_s / n_bins
    lam = np.concatenate(
        [np.zeros((n, 1)), np.cumsum(rates.astype(np.float64) * bin_s, axis=1)], axis=1
    )
    total = lam[:, -1]
    t_edges = np.arange(n_bins + 1) * bin_s
    gam = _operational_events(key, total, 1.0)
    times = _pad(_inverse_cumulative(gam, lam, t_edges))
    return SpikeTrains(times, float(duration_s))


def bursty_spike_times(
    rate_hz,
    duration_s: float,
    *,
    key: jax.Array,
    n_cells: int | None = None,
    mean_burst_size: float = 3.0,
    max_burst_size: int = 10,
    intra_burst_isi_s: float = 0.008,
    refractory_s: float = 0.002,
    regularity: float = 1.0,
) -> SpikeTrains:
    """Bursty renewal spike trains: burst onsets form a renewal process; each onset fires a burst.

    Burst onsets are a gamma renewal process (shape ``regularity``: 1 is Poisson, >1 more regular)
    in operational time, mapped through the cumulative onset intensity, so a time-varying rate
    is honoured. Each burst has ``min(G, max_burst_size)`` spikes with G geometric (mean
    ``mean_burst_size``; 1 means no bursts); spikes inside a burst are separated by
    ``refractory_s`` plus an exponential interval (mean ``intra_burst_isi_s`` in total). The
    onset rate is ``rate_hz / E[burst size]`` (the truncated mean), so the spike rate is
    ``rate_hz`` (slightly less where a burst must wait for the previous one to end: bursts never
    interleave, and no interval is shorter than ``refractory_s``). Real cortical cells fire such
    bursts (complex spikes of 2–5 spikes at 100–300 Hz); models trained on single spikes only
    fail on them.

    Args:
        rate_hz: spike rate in Hz; scalar, ``(n_cells,)`` or ``(n_cells, n_bins)`` as in
            :func:`poisson_spike_times`.
        duration_s: length in seconds.
        key: PRNG key.
        n_cells: number of cells (only needed for a scalar rate).
        mean_burst_size: mean number of spikes per burst before truncation (>= 1).
        max_burst_size: largest burst (spikes).
        intra_burst_isi_s: mean interval between spikes of a burst (s), > ``refractory_s``.
        refractory_s: shortest interval inside a burst (s).
        regularity: gamma shape of the inter-burst intervals (>0).

    Returns:
        :class:`SpikeTrains` (spikes of a burst that would fall after ``duration_s`` are dropped).
    """
    if not (mean_burst_size >= 1 and math.isfinite(mean_burst_size)):
        raise ValueError(f"mean_burst_size must be >= 1, got {mean_burst_size}")
    if int(max_burst_size) < 1:
        raise ValueError(f"max_burst_size must be >= 1, got {max_burst_size}")
    if not (0 <= refractory_s < intra_burst_isi_s):
        raise ValueError(
            "need 0 <= refractory_s < intra_burst_isi_s, got "
            f"{refractory_s} and {intra_burst_isi_s}"
        )
    if not (regularity > 0 and math.isfinite(regularity)):
        raise ValueError(f"regularity must be positive, got {regularity}")
    rates = _rate_grid(rate_hz, duration_s, n_cells)
    n, n_bins = rates.shape
    bmax = int(max_burst_size)
    p = 1.0 / float(mean_burst_size)
    # E[min(G, M)] for G ~ Geometric(p) on {1, 2, ...}: sum_{k<M} (1-p)^k
    mean_size = (1.0 - (1.0 - p) ** bmax) / p if p < 1 else 1.0
    bin_s = duration_s / n_bins
    lam = np.concatenate(
        [np.zeros((n, 1)), np.cumsum(rates.astype(np.float64) * bin_s / mean_size, axis=1)], axis=1
    )
    total = lam[:, -1]
    t_edges = np.arange(n_bins + 1) * bin_s
    k_on, k_size, k_isi = jax.random.split(key, 3)
    gam = _operational_events(k_on, total, float(regularity))
    onsets = _inverse_cumulative(gam, lam, t_edges)  # per cell, increasing
    times = _bursts(
        k_size,
        k_isi,
        onsets,
        p,
        bmax,
        float(refractory_s),
        float(intra_burst_isi_s),
        float(duration_s),
    )
    return SpikeTrains(_pad(times), float(duration_s))


def _bursts(
    k_size,
    k_isi,
    onsets: list[np.ndarray],
    p: float,
    bmax: int,
    refractory_s: float,
    isi_s: float,
    duration_s: float,
) -> list[np.ndarray]:
    """Spike times of bursts starting at ``onsets`` (one increasing array per cell).

    A burst that would start before the previous one has ended (plus ``refractory_s``) is
    delayed until then, so bursts never interleave and every interval is >= ``refractory_s``:
    ``start_k = max(onset_k, end_{k−1} + r)`` is solved in closed form as
    ``start = C + cummax(onset − C)``, with ``C_k = Σ_{j<k} (length_j + r)``. Everything is
    flat over all bursts of all cells (no padding to the busiest cell).
    """
    n = len(onsets)
    n_ev = np.array([len(o) for o in onsets], np.int64)
    E = int(n_ev.sum())
    if E == 0:
        return [np.zeros(0) for _ in range(n)]
    on = np.concatenate(onsets)
    if p < 1:
        size = np.minimum(_draw(k_size, E, "geometric", p), bmax).astype(np.int64)
    else:
        size = np.ones(E, np.int64)
    S = int(size.sum())
    e = _draw(k_isi, S, "exponential").astype(np.float64)
    first = _segment_starts(size)  # first spike of each burst in the flat spike arrays
    j = np.arange(S) - np.repeat(first, size)  # index of each spike inside its burst
    e[j == 0] = 0.0
    cs = np.cumsum(e)
    seg = cs - np.repeat(cs[first], size)  # Σ of the burst's exponentials up to this spike
    offset = refractory_s * j + (isi_s - refractory_s) * seg
    length = offset[first + size - 1]  # from the first to the last spike of each burst
    # non-overlap, per cell (cumulative max restarted at every cell)
    ev_first = _segment_starts(n_ev)
    step = length + refractory_s
    cc = np.cumsum(step)
    C = cc - step - np.repeat(np.concatenate([[0.0], cc])[ev_first], n_ev)  # Σ_{j<k} in-cell
    u = on - C
    cell_of_ev = np.repeat(np.arange(n), n_ev)
    # cummax per cell: offset each cell's block so that blocks cannot leak into the next one
    big = (np.abs(u).max() + 1.0) * 2.0
    shifted = u + cell_of_ev * big
    start = C + (np.maximum.accumulate(shifted) - cell_of_ev * big)
    t = np.repeat(start, size) + offset
    cell = np.repeat(cell_of_ev, size)
    keep = t < duration_s
    t, cell = t[keep], cell[keep]
    counts = np.bincount(cell, minlength=n)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    return [t[bounds[i] : bounds[i + 1]] for i in range(n)]


# --------------------------------------------------------------------------------------------
# Conversions
# --------------------------------------------------------------------------------------------


def frame_index(times_s, n_frames: int, frame_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame of each spike and its position inside the frame, in float64 (exact for any length).

    Frame ``n`` covers ``[n/f, (n+1)/f)``.

    Returns:
        ``(index, phase)``: int64 frame indices, with ``n_frames`` for padding (+inf) and for
        times outside ``[0, n_frames/f)``; and the position inside the frame in ``[0, 1)``
        (0 for those).
    """
    x = np.asarray(times_s, dtype=np.float64) * float(frame_rate_hz)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(x) & (x >= 0) & (x < n_frames)
    xv = np.where(valid, x, 0.0)
    fl = np.floor(xv)
    return np.where(valid, fl, n_frames).astype(np.int64), np.where(valid, xv - fl, 0.0)


def bin_spikes(times_s, n_frames: int, frame_rate_hz: float) -> np.ndarray:
    """Spike counts per frame: frame ``n`` counts the spikes in ``[n/f, (n+1)/f)``.

    Args:
        times_s: ``(n_cells, max_spikes)`` spike times (s), +inf padded (a :class:`SpikeTrains`'
            ``times_s``).
        n_frames: number of frames.
        frame_rate_hz: frames per second.

    Returns:
        ``(n_cells, n_frames)`` int32 counts; spikes at or after ``n_frames / f`` are dropped.
    """
    t = np.atleast_2d(np.asarray(times_s, dtype=np.float64))
    idx, _ = frame_index(t, n_frames, frame_rate_hz)
    flat = (np.arange(t.shape[0])[:, None] * (n_frames + 1) + idx).ravel()
    counts = np.bincount(flat, minlength=t.shape[0] * (n_frames + 1))
    return counts.reshape(t.shape[0], n_frames + 1)[:, :n_frames].astype(np.int32)


def spike_times_from_counts(
    counts, frame_rate_hz: float, *, key: jax.Array | None = None
) -> SpikeTrains:
    """Spike times from counts per frame (e.g. a Spikefinder spikes file or a binned raster).

    Each spike is placed uniformly at random inside its frame when a ``key`` is given, else at
    the frame centre. Binning the result with :func:`bin_spikes` gives back ``counts`` exactly.

    Args:
        counts: ``(n_cells, n_frames)`` non-negative integer counts.
        frame_rate_hz: frames per second.
        key: PRNG key for the positions inside the frames (None: frame centres).
    """
    c = np.asarray(counts)
    if c.ndim != 2:
        raise ValueError(f"counts should be (n_cells, n_frames), got shape {c.shape}")
    if np.any(c < 0) or not np.all(np.isfinite(c)) or np.any(c != np.round(c)):
        raise ValueError("counts must be non-negative integers")
    c = c.astype(np.int64)
    n_cells, n_frames = c.shape
    per_cell = c.sum(axis=1)
    k = max(int(per_cell.max()), 1)
    times = np.full((n_cells, k), np.inf, np.float64)
    for i in range(n_cells):
        frames = np.repeat(np.arange(n_frames), c[i])
        times[i, : len(frames)] = frames
    if key is None:
        u = np.full(times.shape, 0.5)
    else:
        u = np.asarray(jax.random.uniform(key, times.shape, minval=0.0, maxval=1.0), np.float64)
        u = np.clip(u, 1e-6, 1 - 1e-6)  # strictly inside the frame
    times = np.sort((times + u) / frame_rate_hz, axis=1)
    return SpikeTrains(times, n_frames / frame_rate_hz)


def spike_times_from_raster(raster, dt_s: float) -> SpikeTrains:
    """Spike times from a boolean raster sampled every ``dt_s`` (e.g. a simulator's spikes).

    Args:
        raster: ``(n_steps, n_cells)`` booleans (True: the cell spiked in that step), the layout
            the simulators record.
        dt_s: step in seconds; the spike of step ``k`` is placed at ``k·dt_s``.
    """
    r = np.asarray(raster)
    if r.ndim != 2:
        raise ValueError(f"raster should be (n_steps, n_cells), got shape {r.shape}")
    n_steps, n_cells = r.shape
    counts = r.sum(axis=0)
    k = max(int(counts.max()), 1)
    times = np.full((n_cells, k), np.inf, np.float64)
    steps, cells = np.nonzero(r)
    order = np.lexsort((steps, cells))
    steps, cells = steps[order], cells[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(cells)) - starts[cells]
    times[cells, slot] = steps * dt_s
    return SpikeTrains(times, n_steps * dt_s)
