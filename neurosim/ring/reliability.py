"""Reliability experiment of the paper's Fig 1: same input realisation, different initial voltages.

Every repeat gets the same external Poisson events (seed words 0–1 of one trial) and its own
initial voltages (words 2–3). If the network were reliable, the repeats would spike alike; the
ring is not (its spike times depend on the initial state), while its statistics do not. Control:
the same number of trials with independent input.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import numpy as np

from . import rng
from .presets import RingParams
from .simulate import RingResult, simulate_ring


@dataclass
class ReliabilityResult:
    """Outcome of :func:`reliability_experiment`.

    Attributes:
        same_input: repeats with shared input and different initial voltages.
        independent: control trials with independent input and initial voltages.
        coincidence_same, coincidence_independent: mean over pairs of repeats (trials) of the
            fraction of spikes of one that the same cell repeats within ±``window_ms`` in the other.
        correlation_same, correlation_independent: mean over pairs of the Pearson correlation
            of their per-cell spike counts in bins of ``bin_ms`` (after ``t_start_ms``).
        window_ms, bin_ms, t_start_ms: the measures' settings.
    """

    same_input: RingResult
    independent: RingResult
    coincidence_same: float
    coincidence_independent: float
    correlation_same: float
    correlation_independent: float
    window_ms: float
    bin_ms: float
    t_start_ms: float


def _coincidence(a_steps, a_ids, b_steps, b_ids, n_cells, window_steps, first_step):
    """Fraction of spikes of a (after first_step) matched by a spike of the same cell in b."""
    keep = a_steps >= first_step
    a_steps, a_ids = a_steps[keep], a_ids[keep]
    if a_steps.size == 0:
        return float("nan")
    key_b = b_ids * (10**12) + b_steps
    order = np.argsort(key_b)
    key_b = key_b[order]
    lo = np.searchsorted(key_b, a_ids * (10**12) + a_steps - window_steps, side="left")
    hi = np.searchsorted(key_b, a_ids * (10**12) + a_steps + window_steps, side="right")
    return float(np.mean(hi > lo))


def _pair_means(res: RingResult, window_steps: int, first_step: int, first_bin: int):
    co, cc = [], []
    k = res.n_trials
    for a in range(k):
        for b in range(k):
            if a == b:
                continue
            co.append(
                _coincidence(
                    res.spike_steps[a],
                    res.spike_ids[a],
                    res.spike_steps[b],
                    res.spike_ids[b],
                    res.params.n_cells,
                    window_steps,
                    first_step,
                )
            )
            if a < b:
                x = res.counts[a, first_bin:].ravel().astype(float)
                y = res.counts[b, first_bin:].ravel().astype(float)
                cc.append(float(np.corrcoef(x, y)[0, 1]))
    return float(np.mean(co)), float(np.mean(cc))


def reliability_experiment(
    params: RingParams | str = "fig1",
    *,
    key,
    n_repeats: int = 4,
    duration_ms: float = 1000.0,
    bin_ms: float = 5.0,
    window_ms: float = 1.0,
    t_start_ms: float = 100.0,
    **simulate_kwargs,
) -> ReliabilityResult:
    """Run ``n_repeats`` trials with one input realisation and different initial voltages.

    Args:
        params: :class:`RingParams` or a preset name.
        key: JAX PRNG key; the shared input is trial 0 of ``key``, the initial voltages come from
            ``fold_in(key, 1)``; the control trials from ``fold_in(key, 2)``.
        n_repeats: repeats (>= 2), and as many control trials.
        duration_ms, bin_ms: simulated time and count bin for the correlation.
        window_ms: coincidence window (± ms).
        t_start_ms: transient excluded from both measures.
        **simulate_kwargs: passed to :func:`simulate_ring`.

    Returns:
        :class:`ReliabilityResult`.
    """
    if n_repeats < 2:
        raise ValueError(f"n_repeats must be >= 2 to compare repeats, got {n_repeats}")
    shared = np.asarray(rng.trial_seeds(key, 1))[0]
    init = np.asarray(rng.trial_seeds(jax.random.fold_in(key, 1), n_repeats))
    seeds = init.copy()
    seeds[:, :2] = shared[:2]
    kw = dict(
        duration_ms=duration_ms, bin_ms=bin_ms, spikes=True, n_trials=n_repeats, **simulate_kwargs
    )
    same = simulate_ring(params, key=None, seeds=seeds, **kw)
    indep = simulate_ring(params, key=jax.random.fold_in(key, 2), **kw)
    dt = same.dt_ms
    window_steps = int(round(window_ms / dt))
    first_step = int(round(t_start_ms / dt))
    first_bin = int(round(t_start_ms / bin_ms))
    co_s, cc_s = _pair_means(same, window_steps, first_step, first_bin)
    co_i, cc_i = _pair_means(indep, window_steps, first_step, first_bin)
    return ReliabilityResult(
        same, indep, co_s, co_i, cc_s, cc_i, float(window_ms), float(bin_ms), float(t_start_ms)
    )
