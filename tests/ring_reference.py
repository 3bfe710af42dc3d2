"""Plain NumPy transcriptions of the original MATLAB code, for tests (independent of neurosim.ring).

``reference_ring`` follows ``MC_Vseries_for_network_ninput_I_based_norms_Syn`` line by line (dense
weight matrix, NaN for refractory cells, a refractory timer), with the timer counting steps
(round(τ_ref/dt)) instead of adding dt repeatedly; ``reference_ring_synaptic`` follows
``MLMC_LIF_Current_Based_Syn_Final``. ``spike_count_slide`` and ``norm_syn`` are their functions of
those names, on a dense (cells × time) spike matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse


def reference_ring(W, f, counts, v0, *, dt, tau_L=20.0, ref_steps=20, v_th=1.0, v_reset=0.0):
    """Spikes of the delta-synapse ring given external event counts.

    Args:
        W: (N, N) signed weights W[post, pre].
        f: (N,) kick per external event.
        counts: (steps, N) external events per step.
        v0: (N,) initial voltages.

    Returns:
        (steps, N) bool spikes; spike at row j ⇔ time j·dt.
    """
    steps, n = counts.shape
    V = np.asarray(v0, np.float64).copy()
    ref_time = np.zeros(n, np.int64)
    o_sp = np.zeros(n, bool)
    out = np.zeros((steps, n), bool)
    for j in range(steps):
        current = V.copy()
        nan = np.isnan(current)
        ref_time[nan] += 1
        done = ref_time >= ref_steps
        current[done] = v_reset
        ref_time[done] = 0
        rec = W[:, o_sp].sum(axis=1) if o_sp.any() else 0.0
        dV = dt * (-current / tau_L) + (f * counts[j] + rec)
        o_v = current + dV
        with np.errstate(invalid="ignore"):
            o_sp = o_v >= v_th
        o_v[o_sp] = np.nan
        V = o_v
        out[j] = o_sp
    return out


def reference_ring_synaptic(
    W,
    f,
    counts,
    v0,
    ie0,
    ii0,
    *,
    dt,
    tau_L=20.0,
    tau_E=2.0,
    tau_I=5.0,
    ref_steps=20,
    v_th=1.0,
    v_reset=0.0,
    record_every=None,
):
    """Spikes (and currents) of the synaptic-current variant given external event counts.

    ``SE`` holds the excitatory (E-presynaptic) weights and ``SI`` the inhibitory magnitudes.

    Returns:
        (spikes (steps, N) bool, I_E samples, I_I samples) where sample m is the state after
        step (m+1)·record_every − 1 (if ``record_every``).
    """
    steps, n = counts.shape
    SE = np.where(W > 0, W, 0.0)
    SI = np.where(W < 0, -W, 0.0)
    V = np.asarray(v0, np.float64).copy()
    IE = np.asarray(ie0, np.float64).copy()
    II = np.asarray(ii0, np.float64).copy()
    ref_time = np.zeros(n, np.int64)
    o_sp = np.zeros(n, bool)
    out = np.zeros((steps, n), bool)
    ie_rec, ii_rec = [], []
    for j in range(steps):
        current = V.copy()
        nan = np.isnan(current)
        ref_time[nan] += 1
        done = ref_time >= ref_steps
        current[done] = v_reset
        ref_time[done] = 0
        dV = dt * (-current / tau_L + IE - II)
        exc = SE[:, o_sp].sum(axis=1)
        inh = SI[:, o_sp].sum(axis=1)
        IE = (IE + (f * counts[j] + exc) / tau_E) * np.exp(-dt / tau_E)
        II = (II + inh / tau_I) * np.exp(-dt / tau_I)
        o_v = current + dV
        with np.errstate(invalid="ignore"):
            o_sp = o_v >= v_th
        o_v[o_sp] = np.nan
        V = o_v
        out[j] = o_sp
        if record_every and (j + 1) % record_every == 0:
            ie_rec.append(IE.copy())
            ii_rec.append(II.copy())
    return out, np.asarray(ie_rec), np.asarray(ii_rec)


def spike_count_slide(t, spike, win_size, slide_size):
    """Their ``SpikeCount_slide`` (1-based MATLAB indexing transcribed), spike: (cells, len(t))."""
    pieces = int(np.floor((t[-1] - win_size) / slide_size))
    n_win_bin = int(np.floor(win_size / (t[1] - t[0]) + 1e-9))
    slide_bin = int(np.floor(slide_size / (t[1] - t[0]) + 1e-9))
    rates = np.zeros((spike.shape[0], pieces))
    for win_ind in range(1, pieces + 1):
        lo = 1 + (win_ind - 1) * slide_bin
        hi = (win_ind - 1) * slide_bin + n_win_bin
        rates[:, win_ind - 1] = spike[:, lo - 1 : hi].sum(axis=1)
    return rates


def norm_syn(t, spike, n):
    """Their ``norm_syn`` synchrony index, with the dense banded kernel matrix."""
    sp_count_time = spike.sum(axis=0).astype(np.float64)
    win = 2.5
    dt0 = t[1] - t[0]
    win_grid = int(np.floor(win / dt0 + 1e-9))
    m = len(t)
    kernel = scipy.sparse.diags(
        [np.ones(m - abs(k)) for k in range(-win_grid, win_grid + 1)],
        list(range(-win_grid, win_grid + 1)),
        shape=(m, m),
    )
    return float(sp_count_time @ (kernel @ sp_count_time) / n / sp_count_time.sum())
