"""Several CPU devices: simulate_ring splits a batch across them, with the same results."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import numpy as np

from neurosim.ring import ring_params, simulate_ring

# 17 trials: padded to 18, 9 per device (trials in vector lanes on each).
CASE = """
import json, jax
jax.config.update("jax_num_cpu_devices", 2)
import numpy as np
from neurosim.ring import ring_params, simulate, simulate_ring

simulate._SHARD_MIN = 8  # split small batches too (the default waits for 64 per device)
split = []
real = simulate._run_jit


def spy(dyn, seeds, v0, **kw):
    split.append(len(seeds.sharding.device_set))
    return real(dyn, seeds, v0, **kw)


simulate._run_jit = spy
p = ring_params("fig1", n_per_type=40, dt_ms=0.1)
v0 = np.random.default_rng(1).uniform(0, 0.9, (17, 80))
r = simulate_ring(p, key=jax.random.key(3), n_trials=17, duration_ms=200.0, external=True,
                  spikes=True, v0=v0)
few = simulate_ring(p, key=jax.random.key(3), n_trials=13, duration_ms=200.0)
print(json.dumps({"devices": jax.local_device_count(), "split": split,
                  "counts": r.counts.tolist(), "external": r.external_counts.tolist(),
                  "steps": [s.tolist() for s in r.spike_steps],
                  "ids": [i.tolist() for i in r.spike_ids], "few": few.counts.tolist()}))
"""


def test_two_devices_split_the_trials_and_give_the_same_result():
    out = subprocess.run(
        [sys.executable, "-c", CASE], capture_output=True, text=True, check=True, timeout=600
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["devices"] == 2
    # 17 trials: split (9 per device after padding to 18); 13 trials: 7 per device, not split
    assert got["split"] == [2, 1]
    assert jax.local_device_count() == 1  # this process: the one-device path
    p = ring_params("fig1", n_per_type=40, dt_ms=0.1)
    v0 = np.random.default_rng(1).uniform(0, 0.9, (17, 80))
    here = simulate_ring(
        p,
        key=jax.random.key(3),
        n_trials=17,
        duration_ms=200.0,
        external=True,
        spikes=True,
        v0=v0,
    )
    np.testing.assert_array_equal(np.array(got["counts"]), here.counts)
    assert here.counts.sum() > 1000
    np.testing.assert_array_equal(np.array(got["external"]), here.external_counts)
    for t in range(17):
        np.testing.assert_array_equal(got["steps"][t], here.spike_steps[t])
        np.testing.assert_array_equal(got["ids"][t], here.spike_ids[t])
    few = simulate_ring(p, key=jax.random.key(3), n_trials=13, duration_ms=200.0)
    np.testing.assert_array_equal(np.array(got["few"]), few.counts)
