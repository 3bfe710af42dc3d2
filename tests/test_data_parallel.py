"""Data-parallel training (config devices=4) equals one device; its checkpoints restore on one.

(Slow: ~1 min on the 2-core machine; only the argument checks run in the default suite.)

The 4-device runs happen in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``
(this process has one CPU device, see conftest.py); it writes run folders that this process
reads, compares with its own one-device runs, and resumes on its one device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neurolearn.checkpoints import Checkpoints, flatten_tree
from neurolearn.config import TrainConfig
from neurolearn.testing import write_toy_hh_voltage
from neurolearn.train import train_and_evaluate

ROOT = Path(__file__).resolve().parents[1]
# 160 training windows, batches of 32: 5 steps per epoch, 8 examples per device
CFG = {"n_val": 40, "batch_size": 32, "learning_rate": 1e-2, "eval_batch_size": 64, "epochs": 2}

CHILD = """
import json, sys
import jax
from neurolearn.train import train_and_evaluate
from neurolearn.engine import data_mesh
from neurolearn.config import TrainConfig

data, out, cfg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
assert jax.local_device_count() == 4
for name, extra in (("dev4", {"devices": 4}), ("host4", {"devices": "all", "device_budget_mb": 0})):
    r = train_and_evaluate("hh-voltage", {**cfg, **extra}, data=data, workdir=f"{out}/{name}",
                           progress=False, log=None)
    print(name, json.dumps({"loss": [h["loss"] for h in r.history], "val": r.metrics["val"]}))
try:
    data_mesh(TrainConfig(batch_size=30, devices=4))
except ValueError as e:
    print("ERR", e)
"""


def weights(run: Path, which: str = "latest") -> dict[str, np.ndarray]:
    ck = Checkpoints(run / "checkpoints")
    try:
        state, _, _ = ck.restore(which)
    finally:
        ck.close()
    return flatten_tree(state)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("dp")
    data = write_toy_hh_voltage(
        d / "toy.h5", n_train=200, n_test=2, length=100, test_length=400, seed=0
    )
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(data), str(d), json.dumps(CFG)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    one = train_and_evaluate(
        "hh-voltage", CFG, data=data, workdir=d / "one", progress=False, log=None
    )
    return d, data, lines, one


@pytest.mark.slow
def test_four_devices_train_like_one(runs):
    d, _, lines, one = runs
    w1 = weights(d / "one")  # also: checkpoints written on 4 devices restore here, on 1
    for name in ("dev4", "host4"):
        got = json.loads(lines[name])
        w4 = weights(d / name)
        assert w4.keys() == w1.keys()
        moved = 0.0
        for k in w1:
            np.testing.assert_allclose(w4[k], w1[k], rtol=2e-4, atol=2e-5, err_msg=f"{name} {k}")
            moved = max(moved, float(np.max(np.abs(w1[k]))))
        assert moved > 0
        np.testing.assert_allclose(got["loss"][1:], [h["loss"] for h in one.history][1:], rtol=1e-4)
        assert got["val"]["rmse"] == pytest.approx(one.metrics["val"]["rmse"], rel=1e-3)
        info = json.loads((d / name / "config.json").read_text())
        assert info["devices"] in (4, "all")


@pytest.mark.slow
def test_training_moved_the_weights_away_from_the_initialisation(runs, tmp_path):
    """Guard against a vacuous comparison: 2 epochs change the weights well beyond tolerance."""
    d, data, _, _ = runs
    r0 = train_and_evaluate(
        "hh-voltage", {**CFG, "epochs": 1}, data=data, workdir=tmp_path / "e1", progress=False,
        log=None,
    )  # fmt: skip
    assert r0.history[-1]["epoch"] == 1
    w1, w2 = weights(tmp_path / "e1"), weights(d / "one")
    assert max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1) > 1e-3


@pytest.mark.slow
def test_a_four_device_checkpoint_resumes_on_one_device(runs):
    d, data, _, _ = runs
    r = train_and_evaluate(
        "hh-voltage", {"epochs": 3, "devices": 1}, data=data, workdir=d / "dev4", resume=True,
        progress=False, log=None,
    )  # fmt: skip
    assert r.history[-1]["epoch"] == 3 and np.isfinite(r.history[-1]["loss"])
    info = json.loads((d / "dev4" / "run.json").read_text())
    assert info["resumes"][-1]["changes"] == {"epochs": [2, 3], "devices": [4, 1]}


@pytest.mark.slow
def test_batch_size_must_be_a_multiple_of_the_devices(runs):
    _, _, lines, _ = runs
    assert lines["ERR"].startswith("config batch_size=30 is not a multiple of the 4 devices")


def test_devices_errors():
    for bad in (0, "two", True, 1.5):
        with pytest.raises(ValueError, match="config devices must be a positive integer or 'all'"):
            TrainConfig(devices=bad)
    from neurolearn.engine import data_mesh

    with pytest.raises(ValueError, match="config devices=2 but this process sees only 1"):
        data_mesh(TrainConfig(devices=2))
    assert data_mesh(TrainConfig(devices="all")) is None  # one device: the one-device program
