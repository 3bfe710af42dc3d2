"""`neurolearn latents`: the tutorial's latent analysis of a calcium-detect VAE run, on a tiny
VAE trained here (seconds). The PCA against numpy's SVD of the same latents, the classifier
fitted on training-cell windows only (checked against the run's split.json and against
scikit-learn refitted on the same windows), the reconstruction error against the run's own
evaluation, the decoded traces' shapes, and clear refusals."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from neurolearn import metrics as M
from neurolearn.cli import main
from neurolearn.latents import analyse_latents, pca
from neurolearn.tasks import get
from neurolearn.testing import write_toy_hh_voltage
from neurolearn.train import train_and_evaluate
from neurosim.datasets.calcium import CalciumDatasetConfig, generate_calcium
from neurosim.spikefinder import write_table

TASK = get("calcium-detect")
TINY = {"epochs": 1, "epoch_size": 256, "model.latent": 8, "model.hidden": 8}


def _calcium(path, *, cells, seed):
    cfg = CalciumDatasetConfig(cells=cells, duration_s=40.0, noise_level=2.0, seed=seed)
    return generate_calcium(path, cfg, progress=False).path


@pytest.fixture(scope="module")
def vae(tmp_path_factory):
    """A tiny seed-vae run on 10 synthetic cells, another synthetic file of 3 cells as a
    Spikefinder-layout CSV pair (the role of a real set), and the analysis of both."""
    d = tmp_path_factory.mktemp("latents")
    h5 = _calcium(d / "c.h5", cells=10, seed=0)
    other = _calcium(d / "other.h5", cells=3, seed=1)
    with h5py.File(other) as f:
        write_table(d / "7.train.calcium.csv", list(f["dff"][()]))
        write_table(d / "7.train.spikes.csv", list(f["spikes"][()].astype(np.float64)))
    run = d / "vae"
    train_and_evaluate(
        TASK, TINY, data=h5, workdir=run, progress=False, log=None, preset="seed-vae"
    )  # fmt: skip
    res = analyse_latents(
        run, data=[d / "7.train.calcium.csv"], out=d / "out", n_samples=5, progress=False
    )
    return {"dir": d, "h5": h5, "csv": d / "7.train.calcium.csv", "run": run, "res": res}


def test_pca_of_random_data_recovers_its_components():
    rng = np.random.default_rng(0)
    basis, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    sd = np.array([5.0, 3.0, 2.0, 1.0, 0.5])
    z = 4.0 + (rng.normal(size=(20_000, 5)) * sd) @ basis.T
    mu, comps, ratio = pca(z, 3)
    assert comps.shape == (3, 5) and ratio.shape == (3,)
    np.testing.assert_allclose(comps @ comps.T, np.eye(3), atol=1e-10)
    np.testing.assert_allclose(ratio, sd[:3] ** 2 / np.sum(sd**2), rtol=0.03)
    np.testing.assert_allclose(np.abs(comps @ basis[:, :3]), np.eye(3), atol=0.02)
    np.testing.assert_allclose(mu, 4.0 + np.zeros(5) @ basis.T, atol=0.1)
    assert pca(z)[2].sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="needs an"):
        pca(np.zeros(5))


def test_explained_variance_matches_numpys_svd_of_the_same_latents(vae):
    res = vae["res"]
    rep = res.report["pca"]
    ratio = np.array(rep["explained_variance_ratio"])
    assert len(ratio) == 8  # latent 8 < the 10 components asked for: all of them
    assert ratio.sum() <= 1 + 1e-9 and np.all(np.diff(ratio) <= 1e-12)
    held = np.concatenate([res.latents["val"], res.latents["test"]])
    assert rep["n_windows"] == len(held)
    s = np.linalg.svd(held - held.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(ratio, s**2 / np.sum(s**2), rtol=1e-6, atol=1e-9)
    assert rep["cumulative"][-1] == pytest.approx(1.0)


def test_the_classifier_sees_training_cells_only_and_scores_held_out_cells(vae):
    sklearn = pytest.importorskip("sklearn.linear_model")
    res, rep = vae["res"], vae["res"].report
    split = json.loads((vae["run"] / "split.json").read_text())
    held = set(split["val_groups"]) | set(split["test_groups"])
    train_cells = set(range(10)) - held
    assert set(rep["split"]["train_cells"]) == train_cells
    assert set(np.unique(res.cells["train"])) <= train_cells
    assert set(rep["classifier"]["fit_cells"]) == set(np.unique(res.cells["train"]))
    assert not set(rep["classifier"]["fit_cells"]) & held
    assert rep["sets"]["val"]["cells"] == sorted(split["val_groups"])
    assert rep["sets"]["test"]["cells"] == sorted(split["test_groups"])
    # every window of the held-out cells is scored
    assert rep["sets"]["val"]["n_windows"] + rep["sets"]["test"]["n_windows"] == (
        split["n_val"] + split["n_test"]
    )
    # the same regression refitted by scikit-learn on the same training latents scores the
    # held-out latents the same
    zt, yt = res.latents["train"], res.labels["train"]
    mu, sd = zt.mean(axis=0), zt.std(axis=0)
    ref = sklearn.LogisticRegression(C=1.0, class_weight="balanced", tol=1e-10, max_iter=10_000)
    ref.fit((zt - mu) / sd, yt)
    for name in ("val", "test"):
        p = ref.predict_proba((res.latents[name] - mu) / sd)[:, 1]
        got = rep["classifier"]["scores"][name]
        assert got["roc_auc"] == pytest.approx(M.roc_auc(res.labels[name], p), abs=1e-6)
        assert got["balanced_accuracy"] == pytest.approx(
            M.balanced_accuracy(res.labels[name], p >= 0.5), abs=1e-6
        )
    # the extra file: all of its cells held out, scored by the same classifier
    f = rep["sets"]["file:7"]
    assert f["n_cells"] == 3 and "file:7" in rep["classifier"]["scores"]
    assert 0 <= rep["classifier"]["scores"]["file:7"]["roc_auc"] <= 1


def test_reconstruction_error_is_the_runs_own(vae):
    rep = vae["res"].report
    m = json.loads((vae["run"] / "metrics.json").read_text())["metrics"]
    for name in ("val", "test"):
        got, want = rep["reconstruction"][name], m[name]
        assert got["recon_mse"] == pytest.approx(want["recon_mse"], rel=1e-4)
        assert got["kl"] == pytest.approx(want["kl"], rel=1e-3)
    assert rep["reconstruction"]["file:7"]["recon_mse"] > 0


def test_decoded_traces_and_samples_have_the_windows_shape(vae):
    res, rep = vae["res"], vae["res"].report
    steps = rep["decoded"]["steps_sd"]
    assert steps == [-8.0, -4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0]
    assert res.decoded.shape == (len(steps), 20) and np.all(np.isfinite(res.decoded))
    np.testing.assert_allclose(np.array(rep["decoded"]["traces"]), res.decoded)
    # along the classifier's direction its P(spike) rises monotonically
    assert np.all(np.diff(rep["decoded"]["p_spike_classifier"]) > 0)
    assert len(rep["decoded"]["class_mean_latents"]["spike"]["trace"]) == 20
    assert res.samples.shape == (5, 20)
    for f in ("pca.png", "decoded.png", "samples.png"):
        assert (vae["dir"] / "out" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((vae["dir"] / "out" / "latents.json").read_text())
    assert saved["run"]["seed"] == 0 and len(saved["run"]["training_data"]["sha256"]) == 64
    assert "jax" in saved["versions"] and saved["cpu"]


def test_the_command_line_writes_the_same_numbers(vae, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["latents", str(vae["run"]), "--out", str(out), "--samples", "5",
                 "--no-progress"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "explained variance" in text and f"wrote {out / 'latents.json'}" in text
    cli = json.loads((out / "latents.json").read_text())
    lib = vae["res"].report
    assert cli["pca"]["explained_variance_ratio"] == pytest.approx(
        lib["pca"]["explained_variance_ratio"], rel=1e-9
    )
    assert cli["classifier"]["scores"]["val"] == pytest.approx(
        lib["classifier"]["scores"]["val"], rel=1e-9
    )


# --------------------------------------------------------------------------- bad input


def _refused(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("neurolearn: error:") and match in err and "\n" not in err


def test_bad_runs_and_files_are_refused_with_one_line(vae, tmp_path, capsys):
    out = tmp_path / "out"
    run = str(vae["run"])
    _refused(capsys, ["latents", str(tmp_path / "nope"), "--out", str(out)], "does not exist")
    # a classifier run
    clf = tmp_path / "clf"
    train_and_evaluate(TASK, {"epochs": 1, "epoch_size": 256}, data=vae["h5"], workdir=clf,
                       progress=False, log=None, preset="small")  # fmt: skip
    _refused(capsys, ["latents", str(clf), "--out", str(out)], "not a VAE")
    # another task's run
    other = tmp_path / "other"
    shutil.copytree(vae["run"], other)
    info = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps({**info, "task": "hh-voltage"}))
    _refused(capsys, ["latents", str(other), "--out", str(out)], "holds a 'hh-voltage' run")
    # files of another kind, a CSV without its spikes, the training file itself, a missing one
    hh = write_toy_hh_voltage(tmp_path / "hh.h5", n_train=4, length=50, n_test=1)
    _refused(capsys, ["latents", run, "--data", str(hh), "--out", str(out)],
             "is a 'hh-voltage' dataset")  # fmt: skip
    lone = tmp_path / "3.train.calcium.csv"
    shutil.copy(vae["csv"], lone)
    _refused(capsys, ["latents", run, "--data", str(lone), "--out", str(out)], "no spikes file")
    _refused(capsys, ["latents", run, "--data", str(vae["h5"]), "--out", str(out)],
             "is the run's training file")  # fmt: skip
    _refused(capsys, ["latents", run, "--data", str(tmp_path / "x.csv"), "--out", str(out)],
             "does not exist")  # fmt: skip
    # the training file moved: named, and --train-data finds it
    moved = tmp_path / "vae-moved"
    shutil.copytree(vae["run"], moved)
    info = json.loads((moved / "run.json").read_text())
    info["data"]["path"] = str(tmp_path / "gone.h5")
    (moved / "run.json").write_text(json.dumps(info))
    _refused(capsys, ["latents", str(moved), "--out", str(out)], "--train-data")
    _refused(capsys, ["latents", str(moved), "--train-data", str(hh), "--out", str(out)],
             "is not the file run")  # fmt: skip
    assert not out.exists()  # nothing written by any refusal
    (tmp_path / "afile").write_text("x")
    _refused(capsys, ["latents", run, "--out", str(tmp_path / "afile")], "is a file")


def test_the_newton_solver_finds_the_same_logistic_regression_as_scikit_learn():
    sklearn = pytest.importorskip("sklearn.linear_model")
    from neurolearn.baselines import balanced_weights, fit_logistic

    rng = np.random.default_rng(3)
    # correlated features, as a VAE's latents
    x = rng.normal(size=(1000, 8)) @ (np.eye(8) + 0.5 * rng.normal(size=(8, 8)))
    y = (x[:, 0] - 0.5 * x[:, 1] + rng.normal(size=1000) > 0.8).astype(float)
    for c in (0.1, 10.0):
        w, b = fit_logistic(x, y, l2=1.0 / c, sample_weight=balanced_weights(y), solver="newton")
        ref = sklearn.LogisticRegression(C=c, class_weight="balanced", tol=1e-10, max_iter=10_000)
        ref.fit(x, y)
        np.testing.assert_allclose(w, ref.coef_[0], rtol=1e-4, atol=1e-6)
        assert b == pytest.approx(ref.intercept_[0], rel=1e-4, abs=1e-6)
    with pytest.raises(ValueError, match="solver must be 'lbfgs' or 'newton', got 'sgd'"):
        fit_logistic(x, y, l2=1.0, solver="sgd")
