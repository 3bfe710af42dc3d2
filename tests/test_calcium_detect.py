"""The calcium-detect task: windows and labels from the raw arrays, a split by whole cells,
class-balanced training batches, a small run of the classifier and of the VAE with their
baselines, prediction from raw traces, the logistic baseline against scikit-learn, and clear
refusals of bad input."""

from __future__ import annotations

import json
import math
import shutil

import h5py
import jax
import numpy as np
import pytest

from neurolearn.config import make_config
from neurolearn.data.batching import Batcher
from neurolearn.predict import predict_file
from neurolearn.tasks import get
from neurolearn.tasks.calcium_detect import (
    cell_normalise,
    centre_labels,
    fit_logistic,
    window_features,
)
from neurolearn.testing import write_toy_hh_voltage
from neurolearn.train import load_run, train_and_evaluate
from neurosim.datasets.calcium import CalciumDatasetConfig, generate_calcium
from neurosim.spikefinder import read_table, write_table

TASK = get("calcium-detect")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8 synthetic GCaMP6s cells, 40 s at 100 Hz, ν = 2: HDF5, and the same traces as a
    Spikefinder-layout CSV pair."""
    d = tmp_path_factory.mktemp("calcium-detect")
    cfg = CalciumDatasetConfig(cells=8, duration_s=40.0, noise_level=2.0, seed=0)
    h5 = generate_calcium(d / "c.h5", cfg, progress=False).path
    with h5py.File(h5) as f:
        dff, spikes = f["dff"][()], f["spikes"][()]
    write_table(d / "1.train.calcium.csv", list(dff))
    write_table(d / "1.train.spikes.csv", list(spikes.astype(np.float64)))
    return {"h5": h5, "csv": d / "1.train.calcium.csv", "dff": dff, "spikes": spikes, "dir": d}


@pytest.fixture(scope="module")
def prepared(data):
    cfg = make_config(TASK.Config, {})  # the seed: raw windows (z-scored in the forward pass)
    ds = TASK.load(data["h5"], cfg)
    return cfg, TASK.prepare(ds, cfg, key=jax.random.key(0))


@pytest.fixture(scope="module")
def small_run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "small"
    r = train_and_evaluate(
        TASK, {}, data=data["csv"], workdir=out, progress=False, log=None, preset="small"
    )
    return r, out


def _cell_and_start(p, name, idx, n_frames):
    starts = np.asarray(p.sources[name].arrays["starts"])[idx]
    cell = p.groups[name][idx]
    return cell, starts - cell * n_frames  # cells are laid end to end, all of equal length


def test_windows_hold_the_raw_frames_and_labels_come_from_the_spikes(prepared, data):
    cfg, p = prepared
    dff, spikes = data["dff"], data["spikes"]
    n_frames = dff.shape[1]
    assert cfg.window == 20 and cfg.label_frames == 4
    for name in ("train", "val", "test"):
        src = p.sources[name]
        y_all = np.asarray(src.fetch(src.arrays, np.arange(len(src)))["y"])
        idx = np.concatenate([np.flatnonzero(y_all == 1)[:3], np.flatnonzero(y_all == 0)[:3]])
        assert len(idx) == 6
        b = src.fetch(src.arrays, idx)
        cells, starts = _cell_and_start(p, name, idx, n_frames)
        for j, (c, s) in enumerate(zip(cells, starts, strict=True)):
            np.testing.assert_array_equal(b["x"][j, :, 0], dff[c, s : s + 20])
            # the tutorial: calcium[i-10 : i+10], did_spike = any(spikes[i-2 : i+2])
            i = s + 10
            assert b["y"][j] == float(spikes[c, i - 2 : i + 2].sum() > 0)
    # windows start every `stride` frames of a cell and never cross its end
    src = p.sources["train"]
    _, starts = _cell_and_start(p, "train", np.arange(len(src)), n_frames)
    assert np.all(starts % cfg.stride == 0) and np.all(starts + cfg.window <= n_frames)


def test_centre_labels_of_a_hand_made_spike_train():
    s = np.zeros(12, int)
    s[5] = 2
    # label of centre t: a spike in frames [t-2, t+2)
    np.testing.assert_array_equal(np.flatnonzero(centre_labels(s, 4)), [4, 5, 6, 7])
    np.testing.assert_array_equal(np.flatnonzero(centre_labels(s, 1)), [5])
    np.testing.assert_array_equal(np.flatnonzero(centre_labels(s, 3)), [4, 5, 6])  # [t-1, t+2)


def test_features_keep_the_tutorials_delta_quirk_and_offer_the_difference():
    x = np.arange(1.0, 6.0)[None, :, None]  # one window 1, 2, 3, 4, 5
    f = window_features(x, normalise_window=False, delta="tutorial")[0]
    # its DeltaFeature: x - [0, 0, 0, 0, x0]: x itself except at the last frame
    np.testing.assert_array_equal(f[:, 1], [1, 2, 3, 4, 4])
    np.testing.assert_array_equal(f[:, 2], x[0, :, 0] ** 2)
    g = window_features(x, normalise_window=False, delta="diff")[0]
    np.testing.assert_array_equal(g[:, 1], [0, 1, 1, 1, 1])
    z = window_features(x, normalise_window=True, delta="diff")[0, :, 0]
    assert abs(z.mean()) < 1e-12 and z.std() == pytest.approx(1.0, rel=1e-6)
    # JAX and NumPy agree (the forward pass and the baselines use the same function)
    j = window_features(jax.numpy.asarray(x), normalise_window=True, delta="tutorial")
    np.testing.assert_allclose(
        j, window_features(x, normalise_window=True, delta="tutorial"), rtol=1e-6
    )


def test_split_is_by_whole_cells(prepared, data):
    _, p = prepared
    parts = {name: set(p.groups[name].tolist()) for name in ("train", "val", "test")}
    assert parts["train"] and parts["val"] and parts["test"]
    assert not parts["train"] & parts["val"]
    assert not parts["train"] & parts["test"]
    assert not parts["val"] & parts["test"]
    assert set.union(*parts.values()) == set(range(data["dff"].shape[0]))
    assert p.split["method"] == "by group"
    assert sorted(p.split["val_groups"]) == sorted(parts["val"])


def test_training_batches_are_class_balanced(prepared):
    cfg, p = prepared
    labels = p.balance
    assert 0.02 < labels.mean() < 0.3  # spikes in the centre 40 ms are the rarer class
    b = Batcher(
        np.arange(len(labels)), cfg.batch_size, key=0, balance=labels, epoch_size=cfg.epoch_size
    )
    assert b.steps_per_epoch == math.ceil(10_000 / 32)
    for epoch in (0, 1):
        idx, w = b.epoch(epoch)
        real = idx[w > 0]
        assert len(real) == 10_000
        assert labels[real].mean() == 0.5


def test_small_run_trains_and_reports_model_and_baselines(small_run):
    r, out = small_run
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert history[1]["step"] == math.ceil(8000 / 64)  # epoch_size balanced windows per epoch
    m = json.loads((out / "metrics.json").read_text())
    for s in ("val", "test"):
        v = m["metrics"][s]
        assert 0 <= v["balanced_accuracy"] <= 1 and 0 <= v["roc_auc"] <= 1
        assert v["n_cells_scored"] >= 1 and "balanced_accuracy_cell_sd" in v
        assert m["baselines"][f"{s}_base_rate"]["roc_auc"] == 0.5
        assert m["baselines"][f"{s}_base_rate"]["balanced_accuracy"] == 0.5
        assert m["baselines"][f"{s}_logistic"]["roc_auc"] > 0.7
    assert m["metrics"]["val"]["roc_auc"] > 0.8  # learned in seconds (chance: 0.5)
    info = json.loads((out / "run.json").read_text())
    assert info["info"]["source"] == "spikefinder" and info["info"]["n_cells"] == 8
    assert info["info"]["label"] == "a spike in window frames 8-11 of 0-19"
    assert info["model_io"] == [1, 1]  # raw traces in; the 3 features are made inside
    assert (out / "report.md").exists() and (out / "examples.png").exists()


def test_prediction_takes_raw_traces_from_csv_or_hdf5(small_run, data, tmp_path):
    _, run = small_run
    a = predict_file(run, data["csv"], tmp_path / "p.csv")
    b = predict_file(run, data["h5"], tmp_path / "p.h5")
    cols = read_table(a)
    assert len(cols) == 8 and all(len(c) == data["dff"].shape[1] for c in cols)
    c0 = cols[0]
    assert np.all((c0 >= 0) & (c0 <= 1))  # a probability for every frame, edges included
    with h5py.File(b) as f:
        np.testing.assert_allclose(f["Y_pred"][()][0], c0, rtol=1e-4, atol=1e-5)
    # frame t gets the prediction of the window centred on it (frames t-10 … t+9)
    loaded = load_run(run)
    t = 500
    x = cell_normalise(data["dff"][0])[t - 10 : t + 10][None, :, None]
    assert loaded.predict(x)[0] == pytest.approx(c0[t], rel=1e-4, abs=1e-5)


def test_the_vae_variant_trains_with_mse_and_kl_and_reports_reconstruction(data, tmp_path):
    over = {"epochs": 1, "epoch_size": 256, "model.latent": 8, "model.hidden": 8}
    r = train_and_evaluate(
        TASK, over, data=data["h5"], workdir=tmp_path / "vae", progress=False, log=None,
        preset="seed-vae",
    )  # fmt: skip
    cfg = json.loads((tmp_path / "vae" / "config.json").read_text())
    assert cfg["objective"] == "vae" and cfg["model"]["name"] == "lstm_vae"
    assert cfg["monitor"] == "val_loss" and cfg["kl_weight"] == 1e-4
    m = json.loads((tmp_path / "vae" / "metrics.json").read_text())
    v = m["metrics"]["val"]
    assert v["recon_mse"] > 0 and v["kl"] >= 0
    assert v["loss"] == pytest.approx(v["recon_mse"] + 1e-4 * v["kl"], rel=1e-4)
    base = m["baselines"]
    # each window z-scored: predicting its mean leaves exactly its variance, 1
    assert base["val_window_mean"]["recon_mse"] == pytest.approx(1.0, abs=1e-4)
    assert base["val_pca_5"]["recon_mse"] < base["val_pca_2"]["recon_mse"] < 1.0
    assert r.best_epoch == 1
    with pytest.raises(ValueError, match="predicts no per-frame value"):
        predict_file(tmp_path / "vae", data["csv"], tmp_path / "p.csv")


def test_logistic_baseline_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    y = (x @ rng.normal(size=6) + 0.3 * rng.normal(size=400) > 1.0).astype(float)
    n1 = y.sum()
    sw = np.where(y == 1, len(y) / (2 * n1), len(y) / (2 * (len(y) - n1)))
    for c in (0.1, 1.0):
        w, b = fit_logistic(x, y, l2=1.0 / c, sample_weight=sw)
        ref = sklearn.LogisticRegression(C=c, class_weight="balanced", tol=1e-10, max_iter=10_000)
        ref.fit(x, y)
        np.testing.assert_allclose(w, ref.coef_[0], rtol=1e-4, atol=1e-5)
        assert b == pytest.approx(ref.intercept_[0], rel=1e-4, abs=1e-5)


def test_cell_normalise_is_in_units_of_the_noise():
    rng = np.random.default_rng(1)
    x = 3.0 + 0.5 * rng.normal(size=20_000)
    z = cell_normalise(x)
    assert abs(np.median(z)) < 1e-6
    assert z.std() == pytest.approx(1.0, rel=0.03)
    np.testing.assert_allclose(cell_normalise(7.0 * x - 2.0), z, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- bad input


def test_another_kind_of_dataset_is_refused(tmp_path):
    hh = write_toy_hh_voltage(tmp_path / "hh.h5", n_train=4, length=50, n_test=1)
    with pytest.raises(ValueError, match="is a 'hh-voltage' dataset, expected 'calcium' or "):
        train_and_evaluate(TASK, {}, data=hh, workdir=tmp_path / "run", progress=False, log=None)
    assert not (tmp_path / "run").exists()
    lfp = tmp_path / "rec.csv"
    lfp.write_text("time,lfp,spike\n0.000,0.1,0\n0.001,0.2,1\n0.002,0.1,0\n")
    with pytest.raises(ValueError, match="is a 'lfp' dataset, expected 'calcium' or 'spikefinder'"):
        TASK.load(lfp, TASK.Config())


def test_nan_inside_a_trace_is_refused(data, tmp_path):
    bad = tmp_path / "nan.h5"
    shutil.copy(data["h5"], bad)
    with h5py.File(bad, "a") as f:
        f["dff"][1, 100] = np.nan
    with pytest.raises(ValueError, match=r"'dff' has 1 NaN/infinite value\(s\), the first at"):
        TASK.load(bad, TASK.Config())
    csv = tmp_path / "2.train.calcium.csv"
    csv.write_text("0,1\n0.1,0.2\n0.3,\n0.5,0.6\n")
    (tmp_path / "2.train.spikes.csv").write_text("0,1\n0,0\n1,0\n0,0\n")
    with pytest.raises(ValueError, match="cell 1 has an empty/NaN value at frame 1"):
        TASK.load(csv, TASK.Config())


def test_a_single_cell_too_short_for_a_window_is_refused(tmp_path):
    csv = tmp_path / "3.train.calcium.csv"
    write_table(csv, [np.linspace(0, 1, 10)])
    with pytest.raises(FileNotFoundError, match="no spikes file beside it"):
        TASK.load(csv, TASK.Config())
    write_table(tmp_path / "3.train.spikes.csv", [np.zeros(10)])
    with pytest.raises(ValueError, match="no cell has the 20 frames one window needs .*has 10"):
        train_and_evaluate(TASK, {}, data=csv, workdir=tmp_path / "run", progress=False, log=None)
    assert not (tmp_path / "run").exists()


def test_wrong_frame_rate_and_inconsistent_configs_are_refused(data, tmp_path):
    bad = tmp_path / "50hz.h5"
    shutil.copy(data["h5"], bad)
    with h5py.File(bad, "a") as f:
        f.attrs["frame_rate_hz"] = 50.0
    with pytest.raises(ValueError, match="recorded at 50 Hz; calcium-detect works at 100 Hz"):
        TASK.load(bad, TASK.Config())
    with pytest.raises(ValueError, match="objective 'vae' needs model=lstm_vae"):
        make_config(TASK.Config, {"objective": "vae"})
    with pytest.raises(ValueError, match="objective 'classify' needs a model with one output"):
        make_config(TASK.Config, {"model": "lstm_vae", "objective": "classify"})
    with pytest.raises(ValueError, match="label_frames must be between 1 and window"):
        make_config(TASK.Config, {"label_frames": 30})
    assert make_config(TASK.Config, {"model": "lstm_vae"}).objective == "vae"
