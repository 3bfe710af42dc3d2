"""simulate_hh: batching, recording, spikes, determinism, gradients, multi-device sharding."""

import json
import subprocess
import sys
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from neurosim import OU, ArrayInput, HHParams, Step, simulate_hh
from neurosim.hh import RECORDABLE

OU_SPIKING = OU(mean=8.0, sd=3.0, tau_ms=5.0)


def test_batch_members_equal_single_runs():
    """Neuron i of a batch equals neuron i simulated alone (its random stream is its index)."""
    key = jax.random.key(7)
    batch = simulate_hh(OU_SPIKING, 200.0, n=5, key=key, record_every=40, dtype="float64")
    for i in (0, 3):
        alone = simulate_hh(
            OU_SPIKING, 200.0, n=1, key=key, streams=[i], record_every=40, dtype="float64"
        )
        np.testing.assert_allclose(np.asarray(batch.V[i]), np.asarray(alone.V[0]), atol=1e-9)
        np.testing.assert_allclose(batch.spike_trains()[i], alone.spike_trains()[0], atol=1e-9)


def test_parameter_batches_equal_separate_runs():
    g_k = np.array([30.0, 36.0, 42.0])
    res = simulate_hh(
        Step(10.0, 5.0), 60.0, params=HHParams(g_k=g_k), record_every=20, dtype="float64"
    )
    assert res.V.shape == (3, 120)
    for i, g in enumerate(g_k):
        one = simulate_hh(
            Step(10.0, 5.0), 60.0, params=HHParams(g_k=float(g)), record_every=20, dtype="float64"
        )
        np.testing.assert_allclose(np.asarray(res.V[i]), np.asarray(one.V[0]), atol=1e-9)
        assert int(res.spike_counts[i]) == int(one.spike_counts[0])
    # more potassium, fewer or equal spikes: the batch is not a copy of one neuron
    assert res.spike_counts[0] >= res.spike_counts[2] and len(set(np.asarray(res.spike_counts))) > 1


def test_recording_every_k_steps_subsamples_the_full_trace():
    full = simulate_hh(
        OU_SPIKING,
        50.0,
        n=2,
        key=jax.random.key(1),
        record=RECORDABLE,
        record_every=1,
        dtype="float64",
    )
    sub = simulate_hh(
        OU_SPIKING,
        50.0,
        n=2,
        key=jax.random.key(1),
        record=RECORDABLE,
        record_every=8,
        dtype="float64",
    )
    for name in RECORDABLE:
        np.testing.assert_allclose(
            np.asarray(sub.traces[name]),
            np.asarray(full.traces[name])[:, 7::8],
            rtol=1e-10,
            atol=1e-10,
        )
    np.testing.assert_allclose(np.asarray(sub.t), np.asarray(full.t)[7::8], rtol=1e-6)
    # the currents are consistent with the voltage and the gates
    p = HHParams()
    tr = {k: np.asarray(v) for k, v in full.traces.items()}
    np.testing.assert_allclose(
        tr["I_na"], p.g_na * tr["m"] ** 3 * tr["h"] * (tr["V"] - p.e_na), rtol=1e-5, atol=1e-4
    )
    np.testing.assert_allclose(tr["I_l"], p.g_l * (tr["V"] - p.e_l), rtol=1e-5, atol=1e-5)


def test_memory_is_only_what_was_asked_for():
    res = simulate_hh(OU_SPIKING, 100.0, n=4, key=jax.random.key(0), max_spikes=10)
    assert res.traces == {} and res.t.shape == (0,)
    assert res.spike_times.shape == (4, 10)


def test_spike_times_are_interpolated_crossings():
    res = simulate_hh(
        OU_SPIKING, 300.0, n=3, key=jax.random.key(2), record_every=1, dtype="float64"
    )
    V, t = np.asarray(res.V), np.asarray(res.t)
    for i in range(3):
        v = np.concatenate([[-65.0], V[i]])
        tt = np.concatenate([[0.0], t])
        k = np.flatnonzero((v[:-1] < 0) & (v[1:] >= 0))
        expected = tt[k] + (0 - v[k]) / (v[k + 1] - v[k]) * (tt[k + 1] - tt[k])
        np.testing.assert_allclose(res.spike_trains()[i], expected, atol=1e-9)
        assert int(res.spike_counts[i]) == len(k) > 3


def test_counts_stay_exact_beyond_max_spikes():
    full = simulate_hh(OU_SPIKING, 300.0, n=2, key=jax.random.key(4), max_spikes=100)
    few = simulate_hh(OU_SPIKING, 300.0, n=2, key=jax.random.key(4), max_spikes=3)
    np.testing.assert_array_equal(np.asarray(few.spike_counts), np.asarray(full.spike_counts))
    np.testing.assert_array_equal(np.asarray(few.spike_times), np.asarray(full.spike_times)[:, :3])
    assert np.all(np.asarray(full.spikes_lost) == 0)


def test_same_seed_same_result_other_seed_other_result():
    a = simulate_hh(OU_SPIKING, 100.0, n=3, key=jax.random.key(11), record_every=40)
    b = simulate_hh(OU_SPIKING, 100.0, n=3, key=jax.random.key(11), record_every=40)
    c = simulate_hh(OU_SPIKING, 100.0, n=3, key=jax.random.key(12), record_every=40)
    np.testing.assert_array_equal(np.asarray(a.V), np.asarray(b.V))
    assert not np.allclose(np.asarray(a.V), np.asarray(c.V))


def test_point_and_area_units_are_the_same_model():
    area = simulate_hh(Step(10.0, 2.0), 50.0, record_every=40, dtype="float64")
    point = simulate_hh(
        Step(1000.0, 2.0),
        50.0,
        params=HHParams.point(e_l=-54.387),
        record_every=40,
        dtype="float64",
    )
    np.testing.assert_allclose(np.asarray(point.V), np.asarray(area.V), atol=1e-8)


def test_gradient_matches_finite_differences():
    x = np.random.default_rng(0).normal(0, 1.5, 40)
    target = simulate_hh(
        ArrayInput(x, 1.0), 40.0, params=HHParams(g_k=36.0), record_every=40, dtype="float64"
    ).V

    def loss(g_k):
        v = simulate_hh(
            ArrayInput(x, 1.0), 40.0, params=HHParams(g_k=g_k), record_every=40, dtype="float64"
        ).V
        return jnp.mean((v - target) ** 2)

    with jax.enable_x64(True):
        g = float(jax.grad(loss)(jnp.float64(33.0)))
        h = 1e-4
        fd = (float(loss(33.0 + h)) - float(loss(33.0 - h))) / (2 * h)
    assert np.isfinite(g) and g < 0  # raising g_k towards 36 lowers the loss
    np.testing.assert_allclose(g, fd, rtol=1e-4)


def test_gradient_memory_is_per_block_not_per_step():
    """Reverse mode keeps the state at each 1 ms block's start and recomputes the block, so the
    compiled gradient's scratch memory grows by less than half a float32 per extra neuron-step
    (keeping every step's intermediates costs about 190 bytes). The gradient's value is checked
    against finite differences above."""
    B, dt = 64, 0.025

    def loss(g_k, ms):
        res = simulate_hh(
            OU(1.0, 1.5, 5.0), ms, dt=dt, n=B, key=jax.random.key(0),
            params=HHParams(g_k=g_k), record_every=40, max_spikes=0, shard=False,
        )  # fmt: skip
        return jnp.mean(res.V)

    g = jnp.float32(36.0)
    grads = {ms: jax.jit(jax.grad(partial(loss, ms=ms))).lower(g).compile() for ms in (50, 100)}
    temp = {ms: c.memory_analysis().temp_size_in_bytes for ms, c in grads.items()}
    per_step = (temp[100] - temp[50]) / (B * 50 / dt)
    assert per_step < 2.0, f"{per_step:.1f} bytes of scratch per neuron-step ({temp})"


def test_multi_device_sharding_gives_the_same_result():
    """With two CPU devices the batch is split (and padded); results are unchanged."""
    code = (
        "import jax, json; jax.config.update('jax_num_cpu_devices', 2);"
        "import numpy as np; from neurosim import OU, simulate_hh;"
        "r = simulate_hh(OU(8.0, 3.0, 5.0), 100.0, n=9, key=jax.random.key(3), record_every=40);"
        "print(json.dumps({'devices': jax.device_count(), 'V': np.asarray(r.V).tolist(),"
        " 'n': np.asarray(r.spike_counts).tolist()}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["devices"] == 2
    here = simulate_hh(OU(8.0, 3.0, 5.0), 100.0, n=9, key=jax.random.key(3), record_every=40)
    np.testing.assert_allclose(np.array(got["V"]), np.asarray(here.V), atol=1e-4)
    assert got["n"] == np.asarray(here.spike_counts).tolist()
