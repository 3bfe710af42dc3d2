"""The ring-counts task: windows and targets from the raw arrays, a split by whole trials, the
normalisation fitted on training frames only, baselines recomputed by hand, prediction of whole
trials window by window, and clear refusals of bad data."""

from __future__ import annotations

import json
import shutil

import h5py
import jax
import numpy as np
import pytest

from neurolearn import metrics as M
from neurolearn.predict import predict_file
from neurolearn.tasks import get
from neurolearn.testing import write_toy_hh_voltage
from neurolearn.train import evaluate_run, load_run, train_and_evaluate
from neurosim.datasets.ring_counts import generate_ring_counts

SMALL = {"epochs": 2, "model": "lstm", "model.hidden": [16], "window": 4, "batch_size": 64}


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    d = tmp_path_factory.mktemp("ring")
    return generate_ring_counts(
        d / "ring.h5", n_trials=8, duration_ms=400.0, bin_ms=10.0, seed=1, progress=False
    )


@pytest.fixture(scope="module")
def raw(ring):
    with h5py.File(ring) as f:
        return f["counts"][()], f["external"][()]


@pytest.fixture(scope="module")
def prepared(ring):
    task = get("ring-counts")
    cfg = task.Config(window=4)
    cfg = type(cfg)(**{**cfg.__dict__})
    data = task.load(ring, cfg)
    return task, cfg, task.prepare(data, cfg, key=jax.random.key(0))


def test_windows_hold_the_previous_bins_and_the_target_is_the_next_bin(prepared, raw):
    task, cfg, p = prepared
    counts, external = raw
    n_bins = counts.shape[1]
    norm = p.normalisation
    for name in ("train", "val", "test"):
        src = p.sources[name]
        idx = np.array([0, len(src) // 2, len(src) - 1])
        b = src.fetch(src.arrays, idx)
        groups = p.groups[name][idx]
        for j, i in enumerate(idx):
            start = int(src.arrays["starts"][i])
            trial, t0 = divmod(start, n_bins)
            assert trial == groups[j]
            want_x = np.concatenate([counts[trial], external[trial]], axis=-1)[t0 : t0 + 4]
            np.testing.assert_allclose(norm.x.invert(b["x"][j]), want_x, rtol=1e-5, atol=1e-4)
            np.testing.assert_array_equal(b["y"][j], counts[trial, t0 + 4])


def test_the_split_is_by_whole_trials(prepared, raw):
    task, cfg, p = prepared
    parts = {n: set(np.unique(p.groups[n]).tolist()) for n in ("train", "val", "test")}
    assert parts["train"] and parts["val"] and parts["test"]
    assert not (parts["train"] & parts["val"]) and not (parts["train"] & parts["test"])
    assert not (parts["val"] & parts["test"])
    assert set().union(*parts.values()) == set(range(raw[0].shape[0]))
    # every window of a trial is in the trial's part (no window dropped or moved)
    n_bins = raw[0].shape[1]
    for n in parts:
        assert len(p.sources[n]) == len(parts[n]) * (n_bins - 4)


def test_normalisation_is_fitted_on_training_trials_only(prepared, raw):
    task, cfg, p = prepared
    counts, external = raw
    train = sorted(np.unique(p.groups["train"]))
    # the frames training windows cover: bins 0 .. n_bins-2 of each training trial
    x = np.concatenate([counts[train], external[train]], axis=-1)[:, :-1].reshape(-1, 1200)
    np.testing.assert_allclose(p.normalisation.x.mean, x.mean(0), rtol=1e-6, atol=1e-9)
    allx = np.concatenate([counts, external], axis=-1).reshape(-1, 1200)
    assert not np.allclose(p.normalisation.x.mean, allx.mean(0))
    assert p.normalisation.y is None  # counts are not standardised (Poisson loss)


def test_baselines_agree_with_a_direct_computation(prepared, raw):
    task, cfg, p = prepared
    counts = raw[0]
    out = task.baselines(p, cfg)
    train = sorted(np.unique(p.groups["train"]))
    mean = counts[train, 4:].reshape(-1, 600).mean(0)
    for name in ("val", "test"):
        trials = sorted(np.unique(p.groups[name]))
        y = counts[trials, 4:].reshape(-1, 600).astype(float)
        last = counts[trials, 3:-1].reshape(-1, 600).astype(float)
        assert out[f"{name}_mean_rate"]["mse"] == pytest.approx(
            M.mse(y, np.broadcast_to(mean, y.shape)), rel=1e-9
        )
        assert np.isnan(out[f"{name}_mean_rate"]["pop_corr"])  # a constant prediction
        assert out[f"{name}_persistence"]["mse"] == pytest.approx(M.mse(y, last), rel=1e-9)
        assert out[f"{name}_persistence"]["poisson_deviance"] == pytest.approx(
            M.poisson_deviance(y, np.maximum(last, cfg.min_rate)), rel=1e-9
        )
        # ridge includes the mean-rate model (its intercept), its strength chosen on val
        assert out["val_ridge"]["mse"] <= out["val_mean_rate"]["mse"] + 1e-12


@pytest.fixture(scope="module")
def trained(ring, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "rc"
    r = train_and_evaluate(
        "ring-counts",
        {**SMALL, "loss": "poisson"},
        data=ring,
        workdir=run,
        progress=False,
        log=None,
        preset="small",
    )
    return run, r


def test_training_run_reports_model_and_baselines(trained, ring):
    run, r = trained
    m = json.loads((run / "metrics.json").read_text())
    assert set(m["baselines"]) == {
        f"{s}_{b}" for s in ("val", "test") for b in ("mean_rate", "persistence", "ridge")
    }
    for s in ("val", "test"):
        assert np.isfinite(m["metrics"][s]["poisson_deviance"])
        assert m["metrics"][s]["n_trials"] >= 1
    info = json.loads((run / "run.json").read_text())
    assert info["preset"] == "small" and info["model_io"] == [1200, 600]
    assert info["n_params"] == 4 * (16 * (16 + 1200) + 16) + 16 * 600 + 600
    assert "lstm(" in info["model"] and info["device"]["cpu_model"] is not None
    report = (run / "report.md").read_text()
    assert "baseline: mean rate, val" in report and "examples.png" in report
    ev = evaluate_run(run, ring)
    assert ev["metrics"]["val"]["poisson_deviance"] == pytest.approx(
        r.metrics["val"]["poisson_deviance"], rel=1e-6
    )
    assert ev["baselines"]["val_ridge"] == pytest.approx(m["baselines"]["val_ridge"])


def test_the_readout_starts_at_the_training_mean(ring, tmp_path):
    task = get("ring-counts")
    cfg = task.Config(**{**task.Config().__dict__, "window": 4, "loss": "poisson"})
    p = task.prepare(task.load(ring, cfg), cfg, key=jax.random.key(0))
    from flax import nnx

    model = task.build_model(cfg, in_features=1200, out_features=600, rngs=nnx.Rngs(params=0))
    task.init_model(model, p, cfg)
    src = p.sources["train"]
    mean = np.asarray(src.arrays["y"])[np.asarray(src.arrays["starts"]) + 4].mean(0)
    np.testing.assert_allclose(
        np.asarray(model.readout.bias[...]), np.log(np.maximum(mean, cfg.min_rate)), rtol=1e-5
    )


def test_predict_a_ring_file_gives_every_bin_after_the_first_window(trained, ring, tmp_path):
    run, _ = trained
    out = predict_file(run, ring, tmp_path / "pred.h5")
    loaded = load_run(run)
    with h5py.File(out) as f, h5py.File(ring) as g:
        pred = f["Y_pred"][()]
        x = np.concatenate([g["counts"][()], g["external"][()]], -1).astype(np.float32)
    assert pred.shape == (8, 40, 600)
    assert np.isnan(pred[:, :4]).all() and np.isfinite(pred[:, 4:]).all()
    windows = np.stack([x[2, t : t + 4] for t in range(36)])
    np.testing.assert_allclose(pred[2, 4:], loaded.predict(windows), rtol=1e-5, atol=1e-7)


def test_bad_ring_data_is_refused_and_nothing_is_written(ring, tmp_path):
    def train(data, **cfg):
        run = tmp_path / "run"
        train_and_evaluate(
            "ring-counts", {**SMALL, **cfg}, data=data, workdir=run, progress=False, log=None
        )

    hh = write_toy_hh_voltage(tmp_path / "hh.h5", n_train=20, length=50, test_length=60)
    with pytest.raises(ValueError, match=r"is a 'hh-voltage' dataset, expected 'ring-counts'"):
        train(hh)
    with pytest.raises(ValueError, match=r"40 bins per trial, too few for windows of 40"):
        train(ring, window=40)
    few = tmp_path / "few.h5"
    with h5py.File(ring) as f, h5py.File(few, "w") as g:
        for k in ("counts", "external"):
            g[k] = f[k][:2]
        g.attrs.update(dict(f.attrs))
    with pytest.raises(ValueError, match=r"has 2 trial\(s\); the split by trial needs at least 3"):
        train(few)
    neg = tmp_path / "neg.h5"
    shutil.copy(ring, neg)
    with h5py.File(neg, "r+") as f:
        f["counts"][0, 3, 7] = -1
    with pytest.raises(ValueError, match=r"counts must be >= 0, got min -1"):
        train(neg)
    nan = tmp_path / "nan.h5"
    shutil.copy(ring, nan)
    with h5py.File(nan, "r+") as f:
        f["external"][1, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"'external' has 1 NaN"):
        train(nan)
    with pytest.raises(ValueError, match=r"config loss must be one of"):
        train(ring, loss="l1")
    assert not (tmp_path / "run").exists()
