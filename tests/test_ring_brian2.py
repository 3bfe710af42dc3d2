"""The ring against Brian2 running the same network: spike for spike, and statistically."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy import stats

from neurosim.ring import model, ring_params, rng, simulate_ring

pytestmark = pytest.mark.peers


def _exact(duration_ms: float, n_trials: int, target: str, key: int):
    brian = pytest.importorskip("brian2")
    del brian
    from neurosim.ring.brian import run_brian2

    p = ring_params("fig1")
    steps = int(round(duration_ms / p.dt_ms))
    seeds = np.asarray(rng.trial_seeds(jax.random.key(key), n_trials))
    v0 = np.random.default_rng(key).uniform(0, 1, (n_trials, p.n_cells))
    thr, _ = model.kick_thresholds(p)
    counts = np.concatenate(
        [np.asarray(rng.kick_counts(s, p.n_cells, 0, steps, thr)) for s in seeds], axis=1
    )
    b = run_brian2(p, duration_ms, v0.ravel(), counts=counts, n_copies=n_trials, target=target)
    with jax.enable_x64(True):
        r = simulate_ring(
            p,
            key=None,
            seeds=seeds,
            n_trials=n_trials,
            duration_ms=duration_ms,
            spikes=True,
            v0=v0,
            dtype="float64",
        )
    ours_steps = np.concatenate(r.spike_steps)
    ours_ids = np.concatenate([ids + t * p.n_cells for t, ids in enumerate(r.spike_ids)])
    order = np.lexsort((ours_ids, ours_steps))
    return b, ours_steps[order], ours_ids[order]


def test_spike_for_spike_with_brian2_given_the_same_events():
    b, steps, ids = _exact(1000.0, 1, "numpy", key=21)
    assert steps.size > 9000
    np.testing.assert_array_equal(b.spike_steps, steps)
    np.testing.assert_array_equal(b.spike_ids, ids)


@pytest.mark.slow
def test_spike_for_spike_with_brian2_two_full_trials():
    b, steps, ids = _exact(3000.0, 2, "runtime", key=22)
    assert steps.size > 55000
    np.testing.assert_array_equal(b.spike_steps, steps)
    np.testing.assert_array_equal(b.spike_ids, ids)


@pytest.mark.slow
@pytest.mark.parametrize("preset, kw", [("fig1", {}), ("fig3", {"ss": 0.03})])
def test_rate_distributions_match_brian2_with_its_own_input(preset, kw):
    pytest.importorskip("brian2")
    from neurosim.ring.brian import run_brian2

    p = ring_params(preset, **kw)
    n_trials, dur, skip = 6, 3000.0, 200.0
    v0 = np.random.default_rng(5).uniform(0, 1, (n_trials, p.n_cells))
    b = run_brian2(p, dur, v0.ravel(), n_copies=n_trials, target="runtime", seed=5)
    keep = b.spike_steps * p.dt_ms >= skip
    # spike counts per cell after the transient (integers: rates would differ by rounding and
    # break the ties the KS test relies on)
    brian_counts = np.bincount(b.spike_ids[keep], minlength=b.n_cells).reshape(n_trials, -1)
    r = simulate_ring(p, key=jax.random.key(5), n_trials=n_trials, duration_ms=dur)
    ours = r.counts[:, int(skip / r.bin_ms) :].sum(axis=1, dtype=np.int64)
    n = p.n_per_type
    for sl in (slice(0, n), slice(n, 2 * n)):
        a, c = ours[:, sl], brian_counts[:, sl]
        # per-trial means agree within sampling error (Welch t-test over trials)
        assert stats.ttest_ind(a.mean(1), c.mean(1), equal_var=False).pvalue > 1e-3
        # and the distributions of per-cell counts are the same (two-sample KS)
        assert stats.ks_2samp(a.ravel(), c.ravel()).pvalue > 1e-3
        assert a.mean() == pytest.approx(c.mean(), rel=0.03)
