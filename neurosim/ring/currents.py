"""Synaptic currents of the ring for LFP proxies (the synaptic-current variant).

In this variant (their ``MLMC_LIF_Current_Based_Syn_Final``) each cell has an excitatory current
``I_E`` (external kicks and E-cell spikes) and an inhibitory current ``I_I`` (I-cell spikes), both
positive, in units of V_T per ms::

    dV/dt = −V/τ_L + I_E − I_I,     τ_E dI_E/dt = −I_E + kicks,     τ_I dI_I/dt = −I_I + kicks

A kick of size w (external event f, or coupling s) raises the current by w/τ, so its total effect on
V is w, as in the delta-synapse model. ``τ_E = 2 ms``, ``τ_I = 5 ms`` by default (another version
of their code uses 3 and 4 ms: ``tau_E_ms``/``tau_I_ms``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .connectivity import cell_types, positions
from .presets import RingParams, ring_params
from .simulate import simulate_ring


@dataclass
class SynapticCurrents:
    """Per-cell synaptic currents sampled every k steps, with the spikes.

    Cells are ordered E (0..n−1) then I (n..2n−1); ``positions[c]`` is the ring position of cell
    c (0..n−1) and ``cell_types[c]`` its type (0 = E, 1 = I).

    Attributes:
        i_e: (trials, samples, 2n) float32, excitatory current I_E (≥ 0) of every cell.
        i_i: (trials, samples, 2n) float32, inhibitory current I_I (≥ 0; it enters dV/dt as −I_I).
        times_ms: (samples,) sample times: sample m is the state at ``(m + 1)·every`` ms
            (``mode="sample"``), or the mean over ``[m·every, (m + 1)·every)`` labelled with the
            interval's centre ``(m + 0.5)·every`` (``mode="mean"``).
        spike_counts: (trials, samples, 2n) int16, spikes of each cell in
            ``[m·every, (m+1)·every)``.
        spike_times_ms, spike_ids: per trial, time (ms) and cell of every spike.
        positions, cell_types: (2n,) int arrays.
        every_ms: sampling interval; mode: ``"sample"`` or ``"mean"``.
        params: the parameters (``synaptic=True``).
        seeds: (trials, 4) uint32 trial seeds.
    """

    i_e: np.ndarray
    i_i: np.ndarray
    times_ms: np.ndarray
    spike_counts: np.ndarray
    spike_times_ms: list[np.ndarray]
    spike_ids: list[np.ndarray]
    positions: np.ndarray
    cell_types: np.ndarray
    every_ms: float
    mode: str
    params: RingParams
    seeds: np.ndarray


def ring_synaptic_currents(
    params: RingParams | str = "fig1",
    *,
    key,
    duration_ms: float = 3000.0,
    every_ms: float = 1.0,
    n_trials: int = 1,
    mode: str = "sample",
    trial_offset: int = 0,
    **simulate_kwargs,
) -> SynapticCurrents:
    """Simulate the synaptic-current ring and return I_E, I_I of every cell every ``every_ms``.

    Args:
        params: :class:`RingParams` or a preset name; ``synaptic`` is switched on.
        key: JAX PRNG key (trial t uses ``fold_in(key, trial_offset + t)``).
        duration_ms: simulated time (a multiple of ``every_ms``).
        every_ms: sampling interval (a multiple of dt; 1.0 gives 1 kHz).
        n_trials: number of trials.
        mode: ``"sample"`` (instantaneous value at each sample time) or ``"mean"`` (average over
            the interval, an anti-aliased 1 kHz signal).
        trial_offset: index of the first trial.
        **simulate_kwargs: passed to :func:`simulate_ring` (e.g. ``batch_size``, ``dtype``).

    Returns:
        :class:`SynapticCurrents`.
    """
    p = (
        ring_params(params, synaptic=True)
        if isinstance(params, str)
        else params.replace(synaptic=True)
    )
    r = simulate_ring(
        p,
        key=key,
        duration_ms=duration_ms,
        n_trials=n_trials,
        bin_ms=every_ms,
        spikes=True,
        currents_every_ms=every_ms,
        currents_mode=mode,
        trial_offset=trial_offset,
        **simulate_kwargs,
    )
    n_samples = r.i_e.shape[1]
    offset = 1.0 if mode == "sample" else 0.5
    return SynapticCurrents(
        i_e=r.i_e.astype(np.float32),
        i_i=r.i_i.astype(np.float32),
        times_ms=(np.arange(n_samples) + offset) * float(every_ms),
        spike_counts=r.counts,
        spike_times_ms=[s * p.dt_ms for s in r.spike_steps],
        spike_ids=r.spike_ids,
        positions=positions(p.n_per_type),
        cell_types=cell_types(p.n_per_type),
        every_ms=float(every_ms),
        mode=mode,
        params=p,
        seeds=r.seeds,
    )
