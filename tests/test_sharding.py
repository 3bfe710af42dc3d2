"""One sharding helper (neurosim.parallel): 4 devices give the results of 1, for every simulator.

The multi-device runs happen in a subprocess started with
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (this process has one CPU device, see
conftest.py); the subprocess writes its results to .npz / .h5 files that are compared here, array
by array, with the same computations done on this process's one device.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest

from neurosim import parallel
from neurosim.cli import main
from neurosim.hh import OU, HHParams, simulate_hh
from neurosim.ring import ring_params, simulate_ring

ROOT = Path(__file__).resolve().parents[1]

# 10 HH neurons: padded to 12, 3 per device; 30 ring trials: padded to 32, 8 per device.
HH_CASE = dict(duration_ms=50.0, dt=0.025, record=("V", "m"), record_every=40, n=10)
RING_TRIALS = 30
RING_ARGS = ["--trials", str(RING_TRIALS), "--duration-ms", "100", "--param", "n_per_type=40"]
HV_ARGS = ["--n-train", "12", "--n-test", "1", "--duration-ms", "200", "--test-duration-ms",
           "400", "--chunk", "10"]  # fmt: skip
# calcium: chunks of 12 cells, 3 per device; lfp: 33 segments of 25 ms, the first 32 one batch
# of ring trials (8 per device), the last alone
CA_ARGS = ["--cells", "24", "--chunk", "12", "--duration-s", "5", "--frame-rate", "30",
           "--neuropil", "0.2", "--seed", "2"]  # fmt: skip
LFP_ARGS = ["--duration-s", "0.825", "--segment-s", "0.025", "--warmup-ms", "20",
            "--batch-segments", "32", "--seed", "3"]  # fmt: skip

CHILD = """
import sys, json
import jax, numpy as np
from neurosim import parallel
from neurosim.cli import main
from neurosim.hh import OU, HHParams, simulate_hh
from neurosim.ring import ring_params, simulate, simulate_ring

simulate._SHARD_MIN = 8  # split small batches too (the default waits for 64 per device)
out = sys.argv[1]
HH_CASE = json.loads(sys.argv[2])
RING_ARGS, HV_ARGS = json.loads(sys.argv[3]), json.loads(sys.argv[4])
CA_ARGS, LFP_ARGS = json.loads(sys.argv[5]), json.loads(sys.argv[6])
assert jax.local_device_count() == 4, jax.devices()
split = []
real = simulate._run_jit
def spy(dyn, seeds, v0, **kw):
    split.append(len(seeds.sharding.device_set))
    return real(dyn, seeds, v0, **kw)
simulate._run_jit = spy

inp = OU(mean=8.0, sd=3.0, tau_ms=5.0)
p = HHParams(g_na=np.linspace(100.0, 140.0, 10))
r4 = simulate_hh(inp, key=jax.random.key(5), params=p, **HH_CASE)
assert len(r4.spike_times.sharding.device_set) == 4, r4.spike_times.sharding
ring = simulate_ring(ring_params("fig1", n_per_type=40), key=jax.random.key(2), n_trials=30,
                     duration_ms=100.0, external=True, spikes=True)
np.savez(out + "/sim.npz", V4=r4.traces["V"], m4=r4.traces["m"], t4=r4.spike_times,
         c4=r4.spike_counts, fin4=r4.final_state.V,
         counts=ring.counts, external=ring.external_counts,
         steps=np.concatenate(ring.spike_steps), ids=np.concatenate(ring.spike_ids),
         split=np.array(split))
assert main(["generate", "ring-counts", *RING_ARGS, "--out", f"{out}/ring4.h5",
             "--no-progress", "--devices", "4"]) == 0
assert main(["generate", "hh-voltage", *HV_ARGS, "--out", f"{out}/hv4.h5", "--no-progress",
             "--devices", "4"]) == 0
from neurosim.observe import calcium as obs
real_pipeline, ca_split = obs._pipeline, []
def pipeline_spy(*args, **kw):
    w = args[0]
    ca_split.append(len(w.sharding.device_set) if isinstance(w, jax.Array) else 1)
    return real_pipeline(*args, **kw)
obs._pipeline = pipeline_spy
assert main(["generate", "calcium", *CA_ARGS, "--out", f"{out}/ca4.h5", "--no-progress",
             "--devices", "4"]) == 0
n_ring_calls = len(split)
assert main(["generate", "lfp", *LFP_ARGS, "--out", f"{out}/lfp4.h5", "--no-progress",
             "--devices", "4"]) == 0
np.savez(out + "/split2.npz", calcium=np.array(ca_split), lfp=np.array(split[n_ring_calls:]))
parallel.set_devices("all")
try:
    parallel.local_devices(8)
except ValueError as e:
    print("ERR", e)
"""


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    """Run CHILD on 4 forced CPU devices; return its output folder and stdout."""
    import json

    out = tmp_path_factory.mktemp("four")
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), json.dumps(HH_CASE), json.dumps(RING_ARGS),
         json.dumps(HV_ARGS), json.dumps(CA_ARGS), json.dumps(LFP_ARGS)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc.stdout


@pytest.mark.slow
def test_hh_on_four_devices_equals_one_device(four):
    out, _ = four
    got = np.load(out / "sim.npz")
    here = simulate_hh(
        OU(mean=8.0, sd=3.0, tau_ms=5.0),
        key=jax.random.key(5),
        params=HHParams(g_na=np.linspace(100.0, 140.0, 10)),
        **HH_CASE,
    )
    assert jax.local_device_count() == 1
    assert np.asarray(here.spike_counts).sum() > 10  # the neurons spike: spike times compared
    np.testing.assert_array_equal(got["c4"], here.spike_counts)
    np.testing.assert_array_equal(got["V4"], here.traces["V"])
    np.testing.assert_array_equal(got["m4"], here.traces["m"])
    np.testing.assert_array_equal(got["t4"], here.spike_times)
    np.testing.assert_array_equal(got["fin4"], here.final_state.V)


@pytest.mark.slow
def test_ring_on_four_devices_equals_one_device(four):
    out, _ = four
    got = np.load(out / "sim.npz")
    assert list(got["split"][:1]) == [4]  # 30 trials: split, 8 per device after padding
    here = simulate_ring(
        ring_params("fig1", n_per_type=40),
        key=jax.random.key(2),
        n_trials=30,
        duration_ms=100.0,
        external=True,
        spikes=True,
    )
    assert here.counts.sum() > 100
    np.testing.assert_array_equal(got["counts"], here.counts)
    np.testing.assert_array_equal(got["external"], here.external_counts)
    np.testing.assert_array_equal(got["steps"], np.concatenate(here.spike_steps))
    np.testing.assert_array_equal(got["ids"], np.concatenate(here.spike_ids))


def _compare_files(a: Path, b: Path, *, exact_attrs: bool = True):
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert sorted(fa) == sorted(fb)
        for k in fa:
            assert fa[k].dtype == fb[k].dtype and fa[k].shape == fb[k].shape, k
            if h5py.check_vlen_dtype(fa[k].dtype) is not None:  # one array per row
                for x, y in zip(fa[k][()], fb[k][()], strict=True):
                    np.testing.assert_array_equal(x, y, err_msg=k)
            else:
                np.testing.assert_array_equal(fa[k][()], fb[k][()], err_msg=k)
        skip = {"created_utc"}
        assert {k: v for k, v in fa.attrs.items() if k not in skip}.keys() == {
            k for k in fb.attrs if k not in skip
        }
        for k in fa.attrs:
            if k not in skip:
                assert str(fa.attrs[k]) == str(fb.attrs[k]), k


def _equals_one_device(dataset: str, args: list[str], four_file: Path, tmp_path: Path) -> Path:
    """Generate ``dataset`` on one device here and compare it with the 4-device file."""
    one = tmp_path / four_file.name.replace("4.h5", "1.h5")
    assert main(["generate", dataset, *args, "--out", str(one), "--no-progress",
                 "--devices", "1"]) == 0  # fmt: skip
    _compare_files(four_file, one)
    return one


@pytest.mark.slow
def test_dataset_files_on_four_devices_equal_one_device(four, tmp_path):
    out, _ = four
    _equals_one_device("ring-counts", RING_ARGS, out / "ring4.h5", tmp_path)
    _equals_one_device("hh-voltage", HV_ARGS, out / "hv4.h5", tmp_path)


@pytest.mark.slow
def test_calcium_and_lfp_files_on_four_devices_equal_one_device(four, tmp_path):
    out, _ = four
    split = np.load(out / "split2.npz")
    assert list(split["calcium"]) == [4, 4]  # both chunks of 12 cells split, 3 per device
    assert list(split["lfp"]) == [4, 1]  # 32 segments split, 8 per device; the 33rd alone
    _equals_one_device("calcium", CA_ARGS, out / "ca4.h5", tmp_path)
    lfp1 = _equals_one_device("lfp", LFP_ARGS, out / "lfp4.h5", tmp_path)
    with h5py.File(lfp1) as f:
        assert f["spike"][()].sum() > 10 and len(f["rates_hz"]) == 33


@pytest.mark.slow
def test_devices_errors(four, capsys):
    _, stdout = four
    assert "ERR devices=8 but this process sees only 4 cpu device(s)" in stdout
    with pytest.raises(SystemExit):
        main(["generate", "ring-counts", "--trials", "1", "--out", "x.h5", "--devices", "0"])
    assert "expected 'all' or a positive integer, got '0'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="devices must be 'all' or a positive integer"):
        parallel.set_devices("some")
    assert parallel.parse_devices("all") is None and parallel.parse_devices("3") == 3


def test_shard_batch_pads_splits_and_unpads():
    """On one device nothing moves; axes=None leaves are replicated, batched ones padded."""
    tree = {"a": np.arange(5.0), "b": np.float32(2.0)}
    placed, n = parallel.shard_batch(tree, 5, axes={"a": 0, "b": None})
    assert n == 5 and placed is tree  # one device: unchanged
    x = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(parallel.unpad({"x": x}, 4, axis=1)["x"], x[:, :4])
    with pytest.raises(ValueError, match="devices=2 but this process sees only 1"):
        parallel.shard_batch(tree, 5, devices=2)
