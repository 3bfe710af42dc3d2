"""Local field potential from synaptic currents, and a multi-unit spike label near the electrode.

The LFP proxy is the weighted sum of currents (WS) of Mazzoni et al. 2015 (PLoS Comput. Biol.
11(12): e1004584, "Computing the local field potential (LFP) from integrate-and-fire network
models"): over the excitatory (pyramidal) cells,

    LFP(t) ∝ Σ_i w_i · ( |I_AMPA,i(t − τ)| − α·|I_GABA,i(t)| ),   τ = 6 ms, α = 1.65,

their best proxy for a point-neuron network. Here each cell's contribution is weighted by its
distance on the ring from an electrode, ``w_i = exp(−d_i / λ)`` (ring distance in cell positions,
λ the space constant), the sum is z-scored (the proxy has no physical unit), and background noise
with a 1/f^β spectrum and optional mains hum are added (in units of the proxy's standard
deviation).

The spike label is multi-unit activity: sample t is 1 if any of the k cells nearest the electrode
(E and I cells alike; they share positions on the ring) fired in ``[t/fs, (t+1)/fs)``.

Everything here is a pure function of currents, spikes and positions: the ring network
(:mod:`neurosim.ring`, synaptic-current variant) supplies them in ``neurosim generate lfp``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .noise import colored_noise, line_noise


@dataclass(frozen=True)
class LFPConfig:
    """Parameters of the LFP forward model.

    Attributes:
        sample_rate_hz: samples per second of the currents and of the output.
        electrode_position: electrode position on the ring (cell positions, in [0, ring_size)).
        ring_size: number of positions on the ring (cells per type).
        space_constant: λ of the distance weighting (cell positions).
        ampa_delay_ms: delay τ of the AMPA term (ms), rounded to whole samples.
        gaba_weight: α, the weight of the GABA term.
        noise_sd: background-noise standard deviation, in units of the proxy's sd.
        noise_exponent: β of the 1/f^β background spectrum.
        line_noise_sd: standard deviation of the mains hum (units of the proxy's sd); 0 = none.
        line_frequency_hz: mains frequency.
        mua_cells: k, the number of cells nearest the electrode in the spike label (default 6:
            the E and I cells at positions 149–151 for the default electrode at 150; about 7 %
            positive samples in the ring's ``fig1`` synaptic variant, docs/lfp.md).
    """

    sample_rate_hz: float = 1000.0
    electrode_position: float = 150.0
    ring_size: int = 300
    space_constant: float = 20.0
    ampa_delay_ms: float = 6.0
    gaba_weight: float = 1.65
    noise_sd: float = 0.3
    noise_exponent: float = 1.0
    line_noise_sd: float = 0.0
    line_frequency_hz: float = 50.0
    mua_cells: int = 6

    def __post_init__(self):
        for name in ("sample_rate_hz", "space_constant", "line_frequency_hz"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be positive, got {v}")
        for name in ("ampa_delay_ms", "gaba_weight", "noise_sd", "noise_exponent", "line_noise_sd"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {v}")
        if not (isinstance(self.ring_size, int) and self.ring_size > 0):
            raise ValueError(f"ring_size must be a positive integer, got {self.ring_size!r}")
        if not (0 <= self.electrode_position < self.ring_size):
            raise ValueError(
                f"electrode_position must be in [0, {self.ring_size}), got {self.electrode_position}"
            )
        if not (isinstance(self.mua_cells, int) and self.mua_cells >= 1):
            raise ValueError(f"mua_cells must be a positive integer, got {self.mua_cells!r}")

    def replace(self, **changes) -> LFPConfig:
        return dataclasses.replace(self, **changes)

    @property
    def delay_samples(self) -> int:
        return int(round(self.ampa_delay_ms * 1e-3 * self.sample_rate_hz))


def ring_distance(positions, electrode: float, ring_size: float) -> np.ndarray:
    """Distance along the ring (wrapping around) between cells and the electrode."""
    d = np.abs(np.asarray(positions, np.float64) - electrode) % ring_size
    return np.minimum(d, ring_size - d)


def distance_weights(positions, electrode: float, ring_size: float, space_constant: float):
    """``exp(−d / λ)`` for each cell (1 at the electrode)."""
    return np.exp(-ring_distance(positions, electrode, ring_size) / space_constant)


@jax.jit
def _ws_proxy(i_ampa, i_gaba, w, delay):
    t = jnp.arange(i_ampa.shape[0])
    ampa = jnp.abs(i_ampa)[jnp.maximum(t - delay, 0)]  # first τ samples: the earliest value
    return jnp.abs(ampa) @ w, jnp.abs(i_gaba) @ w


def lfp_proxy(i_ampa, i_gaba, weights, *, delay_samples: int, alpha: float = 1.65) -> np.ndarray:
    """The weighted-sum proxy ``Σ_i w_i (|I_AMPA,i(t − τ)| − α|I_GABA,i(t)|)``.

    Args:
        i_ampa: ``(T, N)`` excitatory (AMPA-like) synaptic currents of the N pyramidal cells.
        i_gaba: ``(T, N)`` inhibitory (GABA-like) currents of the same cells.
        weights: ``(N,)`` weight of each cell.
        delay_samples: τ in samples; the first τ samples use the first AMPA value.
        alpha: weight of the GABA term (Mazzoni et al.: 1.65).

    Returns:
        ``(T,)`` float64 (same unit as the currents).
    """
    a = jnp.asarray(i_ampa, jnp.float32)
    g = jnp.asarray(i_gaba, jnp.float32)
    w = jnp.asarray(weights, jnp.float32)
    if a.shape != g.shape or a.ndim != 2 or w.shape != (a.shape[1],):
        raise ValueError(
            f"expected i_ampa and i_gaba of one shape (T, N) and weights (N,), got {a.shape}, "
            f"{g.shape} and {w.shape}"
        )
    if delay_samples < 0:
        raise ValueError(f"delay_samples must be >= 0, got {delay_samples}")
    pa, pg = _ws_proxy(a, g, w, jnp.int32(delay_samples))
    return np.asarray(pa, np.float64) - alpha * np.asarray(pg, np.float64)


def nearest_cells(positions, electrode: float, ring_size: float, k: int) -> np.ndarray:
    """Indices of the k cells nearest the electrode (ties: lower index first)."""
    d = ring_distance(positions, electrode, ring_size)
    if k > len(d):
        raise ValueError(f"asked for the {k} nearest cells of {len(d)}")
    return np.sort(np.argsort(d, kind="stable")[:k])


def mua_label(
    spike_times_s, spike_cells, cells, n_samples: int, sample_rate_hz: float
) -> np.ndarray:
    """Multi-unit label: 1 where any of ``cells`` spiked in ``[t/fs, (t+1)/fs)``, else 0.

    Args:
        spike_times_s: ``(S,)`` times of all spikes (s).
        spike_cells: ``(S,)`` the cell of each spike.
        cells: the recorded cells.
        n_samples: length of the label.
        sample_rate_hz: samples per second.

    Returns:
        ``(n_samples,)`` uint8.
    """
    t = np.asarray(spike_times_s, np.float64)
    sel = np.isin(np.asarray(spike_cells), np.asarray(cells))
    idx = np.floor(t[sel] * sample_rate_hz).astype(np.int64)
    idx = idx[(idx >= 0) & (idx < n_samples)]
    label = np.zeros(n_samples, np.uint8)
    label[idx] = 1
    return label


@dataclass
class LFPRecording:
    """An LFP trace with its multi-unit spike label.

    Attributes:
        time_s: ``(T,)`` start time of each sample (s).
        lfp: ``(T,)`` the recorded LFP (z-scored proxy + noise; dimensionless).
        spike: ``(T,)`` uint8 multi-unit label.
        proxy: ``(T,)`` the z-scored proxy without noise.
        proxy_scale: mean and standard deviation used to z-score the raw proxy.
        mua_cells: indices of the k recorded cells.
        weights: ``(N,)`` distance weight of each pyramidal cell.
        config: the parameters.
    """

    time_s: np.ndarray
    lfp: np.ndarray
    spike: np.ndarray
    proxy: np.ndarray
    proxy_scale: tuple[float, float]
    mua_cells: np.ndarray
    weights: np.ndarray
    config: LFPConfig


def simulate_lfp(
    i_ampa,
    i_gaba,
    spike_times_s,
    spike_cells,
    cell_positions,
    config: LFPConfig | None = None,
    *,
    key: jax.Array,
    pyramidal=None,
) -> LFPRecording:
    """Record the LFP and the multi-unit label of a network from its currents and spikes.

    Args:
        i_ampa, i_gaba: ``(T, N_all)`` excitatory and inhibitory synaptic currents of every cell,
            sampled at ``config.sample_rate_hz`` (sample t covers ``[t/fs, (t+1)/fs)``).
        spike_times_s, spike_cells: every spike (s) and its cell.
        cell_positions: ``(N_all,)`` ring position of each cell.
        config: :class:`LFPConfig`.
        key: PRNG key for the background and line noise.
        pyramidal: boolean mask or indices of the cells whose currents make the LFP (default:
            all cells); Mazzoni et al. use the pyramidal (E) cells only.

    Returns:
        :class:`LFPRecording`.
    """
    cfg = config if config is not None else LFPConfig()
    i_ampa = np.asarray(i_ampa)
    i_gaba = np.asarray(i_gaba)
    pos = np.asarray(cell_positions, np.float64)
    if i_ampa.ndim != 2 or i_ampa.shape != i_gaba.shape or i_ampa.shape[1] != len(pos):
        raise ValueError(
            f"currents should be (T, N) with N = {len(pos)} cells, got {i_ampa.shape} and "
            f"{i_gaba.shape}"
        )
    T = i_ampa.shape[0]
    if T < 2:
        raise ValueError(f"need at least 2 samples, got {T}")
    sel = np.arange(len(pos)) if pyramidal is None else np.arange(len(pos))[pyramidal]
    w = distance_weights(pos[sel], cfg.electrode_position, cfg.ring_size, cfg.space_constant)
    raw = lfp_proxy(
        i_ampa[:, sel], i_gaba[:, sel], w, delay_samples=cfg.delay_samples, alpha=cfg.gaba_weight
    )
    mu, sd = float(raw.mean()), float(raw.std())
    if not sd > 0:
        raise ValueError("the LFP proxy is constant (no synaptic activity?)")
    proxy = (raw - mu) / sd
    k_bg, k_line = jax.random.split(key)
    lfp = proxy.copy()
    if cfg.noise_sd > 0:
        lfp += cfg.noise_sd * colored_noise(
            T, cfg.sample_rate_hz, key=k_bg, exponent=cfg.noise_exponent
        )
    if cfg.line_noise_sd > 0:
        lfp += line_noise(
            T,
            cfg.sample_rate_hz,
            key=k_line,
            amplitude=cfg.line_noise_sd * math.sqrt(2.0),
            frequency_hz=cfg.line_frequency_hz,
        )
    cells = nearest_cells(pos, cfg.electrode_position, cfg.ring_size, cfg.mua_cells)
    label = mua_label(spike_times_s, spike_cells, cells, T, cfg.sample_rate_hz)
    return LFPRecording(
        time_s=np.arange(T) / cfg.sample_rate_hz,
        lfp=lfp,
        spike=label,
        proxy=proxy,
        proxy_scale=(mu, sd),
        mua_cells=cells,
        weights=w,
        config=cfg,
    )
