"""The lfp-spike task: windows and labels from the raw arrays (forecasting and detection), a block
split that leaks nothing and never crosses a segment, the notebook's random split warned about,
training from HDF5 and CSV with both baselines, the ceiling invariant, the logistic baseline
against scikit-learn, and clear refusals of bad input that leave run folders alone."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import jax
import numpy as np
import pytest

from neurolearn import metrics as M
from neurolearn.config import make_config
from neurolearn.data.readers import dataset_name
from neurolearn.data.splits import LeakageWarning, check_no_overlap
from neurolearn.tasks import get
from neurolearn.tasks.lfp_spike import fit_logistic, logistic_predict, window_features
from neurolearn.testing import snapshot, write_toy_hh_voltage
from neurolearn.train import evaluate_run, train_and_evaluate
from neurosim.datasets.lfp import LFPDatasetConfig, generate_lfp, write_lfp_csv

TASK = get("lfp-spike")
DETECT = {"label_position": 50}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """24 s of the ring's LFP in two 12 s segments (HDF5), and the same as a CSV."""
    d = tmp_path_factory.mktemp("lfp")
    h5, _ = generate_lfp(
        d / "lfp.h5", LFPDatasetConfig(duration_s=24.0, segment_s=12.0, seed=3), progress=False
    )
    with h5py.File(h5) as f:
        write_lfp_csv(d / "lfp.csv", f["time_s"][()], f["lfp"][()], f["spike"][()])
    return h5, d / "lfp.csv"


@pytest.fixture(scope="module")
def raw(files):
    with h5py.File(files[0]) as f:
        return {k: f[k][()] for k in ("lfp", "spike", "segment", "mua_current", "proxy")}


def cfg_of(**over):
    return make_config(TASK.Config, over)


def prepared(path, **over):
    cfg = cfg_of(**over)
    return cfg, TASK.prepare(TASK.load(path, cfg), cfg, key=jax.random.key(0))


# --------------------------------------------------------------------------- windows and labels


@pytest.mark.parametrize("over", [{}, DETECT, {"label_position": 0, "stride": 3}])
def test_labels_and_windows_are_the_raw_arrays(files, raw, over):
    cfg, p = prepared(files[0], **over)
    offset = cfg.window if cfg.label_position is None else cfg.label_position
    norm = p.normalisation.x
    for name in ("train", "val", "test"):
        src = p.sources[name]
        idx = np.linspace(0, len(src) - 1, 25).astype(int)
        b = src.fetch(src.arrays, idx)
        starts = np.asarray(src.arrays["starts"])[idx]
        np.testing.assert_array_equal(b["y"], raw["spike"][starts + offset])
        for j, s in enumerate(starts):
            np.testing.assert_allclose(
                norm.invert(b["x"][j])[:, 0], raw["lfp"][s : s + cfg.window], rtol=1e-5, atol=1e-5
            )
    # the label is that sample's: forecasting and detection differ, and the positives are
    # exactly the windows whose label sample holds a spike
    src = p.sources["val"]
    y = src.fetch(src.arrays, np.arange(len(src)))["y"]
    assert 0 < y.mean() < 0.2
    assert y.sum() == raw["spike"][np.asarray(src.arrays["starts"]) + offset].sum()


def test_proxy_input_is_the_noise_free_array(files, raw):
    cfg, p = prepared(files[0], input="proxy", **DETECT)
    src = p.sources["val"]
    idx = np.linspace(0, len(src) - 1, 10).astype(int)
    b = src.fetch(src.arrays, idx)
    for j, s in enumerate(np.asarray(src.arrays["starts"])[idx]):
        w = p.normalisation.x.invert(b["x"][j])[:, 0]
        np.testing.assert_allclose(w, raw["proxy"][s : s + cfg.window], rtol=1e-5, atol=1e-5)
        # and not the recording (which has the 1/f noise on top)
        assert np.abs(w - raw["lfp"][s : s + cfg.window]).max() > 0.05


def test_block_split_leaves_a_gap_and_no_window_crosses_a_segment(files, raw):
    for over in ({}, DETECT):
        cfg = cfg_of(**over)
        ex, _ = TASK.examples(TASK.load(files[0], cfg), cfg)
        sp = TASK.split(ex, cfg, key=jax.random.key(0))
        assert sp.method == "by time block" and len(sp.val) and len(sp.test)
        # no training window within `window` samples of a held-out one (independent check)
        check_no_overlap(sp, ex.series, ex.start_in_series, cfg.span, gap=cfg.window)
        seg = raw["segment"]
        assert np.all(seg[ex.starts] == seg[ex.starts + cfg.span - 1])
        assert len(np.unique(seg)) == 2 and set(np.unique(ex.series)) == {0, 1}
        # the parts are disjoint
        assert not set(sp.train) & set(sp.val) and not set(sp.val) & set(sp.test)
        assert sp.details["gap_frames"] == cfg.span and sp.details["dropped_segments"] == []
    # the check can fail: the notebook's random split of overlapping windows does
    with pytest.warns(LeakageWarning):
        leaky = TASK.split(ex, cfg_of(split="random", **DETECT), key=jax.random.key(0))
    with pytest.raises(ValueError, match="within 100 frames of a training window"):
        check_no_overlap(leaky, ex.series, ex.start_in_series, cfg.span, gap=cfg.window)


def test_random_split_warns_and_is_recorded(files):
    with pytest.warns(LeakageWarning, match="overlapping windows"):
        cfg, p = prepared(files[0], split="random", val_fraction=0.3, test_fraction=0.0)
    assert p.split["leaky"] is True and p.split["overlapping_windows"] is True
    assert p.split["method"].startswith("random windows (leaks")
    assert "test" not in p.sources and p.split["n_val"] == pytest.approx(
        0.3 * (p.split["n_val"] + p.split["n_train"]), abs=1
    )


def test_csv_is_one_series_of_the_same_samples(files, raw):
    assert dataset_name(files[1]) == "lfp" and dataset_name(files[0]) == "lfp"
    cfg = cfg_of(**DETECT)
    ex_csv, _ = TASK.examples(TASK.load(files[1], cfg), cfg)
    ex_h5, _ = TASK.examples(TASK.load(files[0], cfg), cfg)
    assert len(ex_csv.lengths) == 1 and len(ex_h5.lengths) == 2
    assert len(ex_csv) == len(ex_h5) + cfg.window - 1  # the windows across the join
    np.testing.assert_allclose(ex_csv.arrays["x"][:, 0], raw["lfp"], rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- baselines


def test_logistic_baseline_is_scikit_learns(files):
    sklearn = pytest.importorskip("sklearn.linear_model")
    cfg, p = prepared(files[0], **DETECT)
    tr, va = p.sources["train"], p.sources["val"]
    st = np.asarray(tr.arrays["starts"], np.int64)[::3]
    X = window_features(tr.arrays["x"], st, cfg.window)
    y = np.asarray(tr.arrays["y"])[st + cfg.window - 1]
    sv = np.asarray(va.arrays["starts"], np.int64)
    yv = np.asarray(va.arrays["y"])[sv + cfg.window - 1].astype(int)
    Xv = window_features(va.arrays["x"], sv, cfg.window)
    lam = 1e-3
    for balance in (False, True):
        w, b = fit_logistic(X, y, lam, balance=balance)
        sk = sklearn.LogisticRegression(
            C=1 / (2 * len(y) * lam),
            class_weight="balanced" if balance else None,
            max_iter=5000,
            tol=1e-10,
        ).fit(X, y)
        ours = M.roc_auc(yv, logistic_predict(va.arrays["x"], sv, cfg.window, w, b))
        theirs = M.roc_auc(yv, sk.predict_proba(Xv)[:, 1])
        assert ours == pytest.approx(theirs, abs=1e-3)
        np.testing.assert_allclose(w, sk.coef_[0], atol=2e-3)
    assert ours > 0.55  # the LFP window says something about a spike inside it


def test_ceiling_the_labelled_cells_input_beats_the_lfp(files):
    auc = {}
    for inp in ("lfp", "mua_current"):
        cfg, p = prepared(files[0], input=inp, **DETECT)
        assert p.in_features == (1 if inp == "lfp" else 2)
        b = TASK.baselines(p, cfg)
        assert set(b) == {"val_base_rate", "val_logistic", "test_base_rate", "test_logistic"}
        assert b["val_base_rate"]["roc_auc"] == 0.5
        assert b["val_base_rate"]["pr_auc"] == pytest.approx(b["val_base_rate"]["base_rate"])
        auc[inp] = b["val_logistic"]["roc_auc"]
    assert auc["mua_current"] > auc["lfp"] and auc["mua_current"] > 0.6, auc


# --------------------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained(files, tmp_path_factory):
    d = tmp_path_factory.mktemp("runs")
    out = {}
    for kind, path in (("h5", files[0]), ("csv", files[1])):
        out[kind] = train_and_evaluate(
            "lfp-spike", {}, preset="small", data=path, workdir=d / kind, progress=False, log=None
        )
    return out


def test_small_trains_from_hdf5_and_csv_with_both_baselines(trained):
    for kind, r in trained.items():
        m = json.loads((r.folder / "metrics.json").read_text())
        for split in ("val", "test"):
            got = m["metrics"][split]
            for k in ("base_rate", "balanced_accuracy", "roc_auc", "pr_auc", "f1_best"):
                assert np.isfinite(got[k]), (kind, split, k)
            assert got["roc_auc"] > 0.55, (kind, split, got["roc_auc"])
            assert got["pr_auc"] > got["base_rate"]
            assert {f"{split}_base_rate", f"{split}_logistic"} <= set(m["baselines"])
        info = json.loads((r.folder / "run.json").read_text())
        assert info["preset"] == "small" and info["status"] == "done"
        assert info["info"]["label"].startswith("detection: spike at window start + 50")
        assert info["info"]["n_segments"] == (2 if kind == "h5" else 1)
        report = (r.folder / "report.md").read_text()
        assert "baseline: logistic" in report and "baseline: base rate" in report
        assert (r.folder / "examples.png").read_bytes()[:4] == b"\x89PNG"
        split = json.loads((r.folder / "split.json").read_text())
        assert split["method"] == "by time block"


def test_predict_gives_one_probability_per_sample(trained, files, raw, tmp_path):
    from neurolearn.predict import predict_file
    from neurolearn.reload import load_run
    from neurosim.spikefinder import read_table

    run = trained["h5"].folder
    out = predict_file(run, files[0], tmp_path / "p.h5")
    with h5py.File(out) as f:
        p = f["Y_pred"][()]
    lfp = raw[0] if isinstance(raw, tuple) else raw["lfp"]
    n = len(lfp)
    assert p.shape == (1, n)  # one probability per sample
    k = 50  # small: detection at window start + 50 of 100
    assert np.isnan(p[0, :k]).all() and np.isnan(p[0, n - 100 + k + 1 :]).all()
    ok = p[0, k : n - 100 + k + 1]
    assert np.isfinite(ok).all() and ((ok >= 0) & (ok <= 1)).all()
    window = np.asarray(lfp, np.float32)[1000:1100][None, :, None]
    want = float(np.ravel(load_run(run).predict(window))[0])
    assert p[0, 1000 + k] == pytest.approx(want, rel=1e-5)
    # a CSV in gives the Spikefinder layout out: one column, one value per sample
    predict_file(trained["csv"].folder, files[1], tmp_path / "p.csv")
    [col] = read_table(tmp_path / "p.csv", interior_nan=True)
    # empty cells where no window predicts: the first k samples, and the tail ends the column
    assert len(col) == n - (100 - k - 1) and np.isnan(col[:k]).all()
    assert np.isfinite(col[k:]).all()
    with pytest.raises(ValueError, match="--frame-rate 500 Hz disagrees with .* records 1000 Hz"):
        predict_file(run, files[0], tmp_path / "q.h5", frame_rate=500)


def test_evaluate_reproduces_the_metrics(trained, files):
    r = trained["h5"]
    ev = evaluate_run(r.folder, files[0])
    assert ev["metrics"]["val"]["roc_auc"] == pytest.approx(r.metrics["val"]["roc_auc"], rel=1e-6)
    assert set(ev["baselines"]) >= {"val_logistic", "val_base_rate"}


# --------------------------------------------------------------------------- bad input


def _copy(src: Path, dst: Path, **edit) -> Path:
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        for name, (i, v) in edit.items():
            f[name][i] = v
    return dst


def _short(src: Path, dst: Path, n: int) -> Path:
    with h5py.File(src) as f, h5py.File(dst, "w") as g:
        for k in ("time_s", "lfp", "spike", "segment"):
            g[k] = f[k][:n]
        g.attrs.update(dict(f.attrs))
    return dst


@pytest.mark.parametrize(
    "case",
    [
        "hh-voltage",
        "nan",
        "label-2",
        "too-short",
        "mua-on-csv",
        "proxy-on-csv",
        "csv-nan",
        "csv-label-2",
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(files, tmp_path, case):
    h5, csv = files
    over = {}
    if case == "hh-voltage":
        data = write_toy_hh_voltage(tmp_path / "hh.h5", n_train=20, length=50, test_length=50)
        err, match = ValueError, r"is a 'hh-voltage' dataset, expected 'lfp'"
    elif case == "nan":
        data = _copy(h5, tmp_path / "nan.h5", lfp=(123, np.nan))
        err, match = (
            ValueError,
            r"array 'lfp' has 1 NaN/infinite value\(s\), the first at index \(123,\)",
        )
    elif case == "label-2":
        data = _copy(h5, tmp_path / "two.h5", spike=(77, 2))
        err, match = ValueError, r"'spike' holds class labels and must be 0 or 1, got \[2\]"
    elif case == "too-short":
        data = _short(h5, tmp_path / "short.h5", 1500)
        err = ValueError
        match = (
            r"has 1500 samples \(1 segment\(s\), the longest 1500\): too few for split=blocks "
            r"with n_blocks=10, windows of 100 samples \+ the label after them and a gap of 101"
        )
    elif case == "mua-on-csv":
        data, over = csv, {"input": "mua_current"}
        err, match = ValueError, r"input=mua_current .* only the HDF5 file has; .*lfp.csv"
    elif case == "proxy-on-csv":
        data, over = csv, {"input": "proxy"}
        err, match = ValueError, r"input=proxy needs the noise-free LFP proxy, which only the HDF5"
    else:
        text = csv.read_text().splitlines()
        row = text[40].split(",")
        row[1 if case == "csv-nan" else 2] = "nan" if case == "csv-nan" else "2"
        text[40] = ",".join(row)
        data = tmp_path / "bad.csv"
        data.write_text("\n".join(text) + "\n")
        err, match = (
            (ValueError, r"array 'lfp' has 1 NaN/infinite value\(s\), the first at index \(39,\)")
            if case == "csv-nan"
            else (ValueError, r"column 'spike' must be 0 or 1")
        )
    run = tmp_path / "run"
    with pytest.raises(err, match=match):
        train_and_evaluate("lfp-spike", over, data=data, workdir=run, log=None)
    assert not run.exists()


def test_old_file_without_mua_current_is_refused(files, tmp_path):
    data = _short(files[0], tmp_path / "old.h5", 20_000)
    with pytest.raises(KeyError, match=r"has no 'mua_current' .* run `neurosim generate lfp`"):
        train_and_evaluate(
            "lfp-spike", {"input": "mua_current"}, data=data, workdir=tmp_path / "r", log=None
        )
    assert not (tmp_path / "r").exists()


def test_run_folders_of_other_tasks_and_files_of_other_kinds_are_refused(trained, tmp_path):
    run = trained["h5"].folder
    before = snapshot(run)
    hh = write_toy_hh_voltage(tmp_path / "hh.h5", n_train=20, length=50, test_length=50)
    with pytest.raises(
        ValueError,
        match=r"holds a 'lfp-spike' model, which needs a 'lfp' dataset, but .* is a "
        r"'hh-voltage' dataset",
    ):
        evaluate_run(run, hh)
    with pytest.raises(ValueError, match=r"holds a 'lfp-spike' run, not 'hh-voltage'"):
        train_and_evaluate("hh-voltage", {}, data=hh, workdir=run, resume=True, log=None)
    with pytest.raises(FileExistsError, match="already holds files"):
        train_and_evaluate("lfp-spike", {}, preset="small", data=hh, workdir=run, log=None)
    assert snapshot(run) == before


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match=r"label_position must be null .* \[0, 100\)"):
        cfg_of(label_position=100)
    with pytest.raises(ValueError, match="config input must be one of"):
        cfg_of(input="current")
    with pytest.raises(ValueError, match="config split must be one of"):
        cfg_of(split="interleaved")
