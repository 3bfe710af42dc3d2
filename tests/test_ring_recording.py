"""Recordings: sliding spike counts and the synchrony index against the original functions."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from ring_reference import norm_syn, spike_count_slide

from neurosim.ring import recording, simulate_ring


@pytest.fixture(scope="module")
def run():
    return simulate_ring(
        "fig1",
        key=jax.random.key(7),
        n_trials=1,
        duration_ms=200.0,
        bin_ms=1.0,
        spikes=True,
        population=True,
    )


def _dense(run):
    """Their (cells × len(t)) spike matrix: column j (0-based) holds the spikes of step j."""
    t = np.arange(run.n_steps + 1) * run.dt_ms
    spike = np.zeros((run.params.n_cells, t.size))
    spike[run.spike_ids[0], run.spike_steps[0]] = 1
    return t, spike


@pytest.mark.parametrize(
    "win, slide", [(5.0, 1.0), (10.0, 5.0), (10.0, 10.0), (2.5, 0.5), (0.35, 0.2)]
)
def test_spike_count_slide_matches_theirs(run, win, slide):
    t, spike = _dense(run)
    expected = spike_count_slide(t, spike, win, slide).T  # (windows, cells)
    got = run.spike_count_slide(win, slide)[0]
    np.testing.assert_array_equal(got, expected)
    # from the recorded 1 ms bins when they divide window and slide
    if win % 1 == 0 and slide % 1 == 0:
        np.testing.assert_array_equal(
            recording.spike_count_slide(run.counts[0], int(win), int(slide), axis=0), expected
        )


def test_synchrony_index_matches_theirs(run):
    t, spike = _dense(run)
    assert run.synchrony_index()[0] == pytest.approx(
        norm_syn(t, spike, run.params.n_cells), rel=1e-12
    )


def test_population_rate_and_time_axis(run):
    rate = run.population_rate_hz()
    assert rate.shape == (1, 200, 2)
    np.testing.assert_allclose(rate[0, :, 0], run.counts[0, :, :300].sum(1) / (300 * 1e-3))
    np.testing.assert_array_equal(run.time_ms, np.arange(200.0))
    times, ids = run.spike_times_ms(0)
    assert np.all(np.diff(times) >= 0) and times.max() < 200.0
    np.testing.assert_allclose(times, run.spike_steps[0] * 0.05)


def test_decode_raster_roundtrip():
    rng = np.random.default_rng(0)
    block, n_blocks, n = 70, 3, 5
    spikes = rng.random((n_blocks * block, 2, n)) < 0.05
    words = np.zeros((n_blocks, -(-block // 32), 2, n), np.uint32)
    for j in range(n_blocks * block):
        k, i = divmod(j, block)
        words[k, i // 32] |= spikes[j].astype(np.uint32) << np.uint32(i % 32)
    steps, ids = recording.decode_raster(words, block)
    exp_steps, exp_ids = np.nonzero(spikes.reshape(n_blocks * block, 2 * n))
    np.testing.assert_array_equal(steps, exp_steps)
    np.testing.assert_array_equal(ids, exp_ids)
