"""The training engine end to end: it learns, resumes bit-identically, stops on NaN, refuses bad
input without touching a run folder, and reloads for evaluation and prediction."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurolearn import metrics as M
from neurolearn.checkpoints import Checkpoints, flatten_tree
from neurolearn.config import TrainConfig
from neurolearn.data import ArraySpec, Normalisation, split_last
from neurolearn.data.prepare import Examples
from neurolearn.models import CNNConfig
from neurolearn.predict import predict_file
from neurolearn.tasks import Task, register
from neurolearn.testing import snapshot, write_toy_hh_voltage
from neurolearn.train import NonFiniteLossError, evaluate_run, load_run, train_and_evaluate
from neurosim.spikefinder import read_table, write_table

FAST = {"n_val": 40, "batch_size": 32, "learning_rate": 1e-2, "eval_batch_size": 64}


def weights(run_dir: Path, which: str = "latest") -> dict[str, np.ndarray]:
    ck = Checkpoints(Path(run_dir) / "checkpoints")
    try:
        state, _, _ = ck.restore(which)
    finally:
        ck.close()
    return flatten_tree(state)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    return write_toy_hh_voltage(
        d / "toy.h5", n_train=200, n_test=2, length=100, test_length=400, seed=0
    )


@pytest.fixture(scope="module")
def trained(toy, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "hh"
    result = train_and_evaluate(
        "hh-voltage", {**FAST, "epochs": 12}, data=toy, workdir=run, progress=False, log=None
    )
    return run, result


# --------------------------------------------------------------------------- it learns


def test_training_reduces_validation_error_far_below_the_variance_baseline(trained):
    run, result = trained
    out = json.loads((run / "metrics.json").read_text())
    for split in ("val", "test"):
        mse = out["metrics"][split]["mse"]
        var_baseline = out["baselines"][f"{split}_mean"]["mse"]
        assert mse < 0.15 * var_baseline, (split, mse, var_baseline)
    hist = result.history
    assert hist[0]["epoch"] == 0 and hist[-1]["epoch"] == 12
    assert result.metrics["val"]["rmse"] < 0.4 * hist[0]["val_rmse"]  # vs the untrained model


def test_run_folder_holds_everything_needed(trained, toy):
    run, result = trained
    for name in (
        "run.json",
        "config.json",
        "normalisation.json",
        "split.json",
        "history.csv",
        "history.jsonl",
        "curves.png",
        "examples.png",
        "report.md",
        "metrics.json",
    ):
        assert (run / name).exists(), name
    for png in ("curves.png", "examples.png"):
        assert (run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "done" and info["n_params"] == 219 and info["seed"] == 0
    assert info["data"]["sha256"] and info["versions"]["flax"]
    # normalisation was fitted on the 160 training traces only
    with h5py.File(toy) as f:
        x, y = f["X"][()], f["Y"][()]
    norm = Normalisation.load(run / "normalisation.json")
    np.testing.assert_allclose(norm.x.mean, x[:160].reshape(-1, 1).mean(0), rtol=1e-6)
    np.testing.assert_allclose(norm.y.std, y[:160].reshape(-1, 1).std(0), rtol=1e-6)
    assert not np.allclose(norm.x.mean, x.reshape(-1, 1).mean(0), rtol=1e-6)
    lines = (run / "history.csv").read_text().splitlines()
    assert len(lines) == 1 + 13 and lines[0].startswith("epoch,step,loss")
    rows = [json.loads(s) for s in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(13))
    assert Checkpoints(run / "checkpoints").latest_step() == 12
    report = (run / "report.md").read_text()
    assert f"{result.metrics['val']['rmse']:.4g}" in report and "examples.png" in report
    # the test metrics come from X_test, not from rows of the split (whose n_test is 0)
    assert "- test: X_test/Y_test: 2 traces × 400 ms" in report
    [split_line] = [s for s in report.splitlines() if s.startswith("- split: ")]
    assert "n_train = 160" in split_line and "n_test" not in split_line
    assert "Weights: the **best** checkpoint, epoch " in report


def test_evaluate_and_reload_reproduce_the_final_metrics(trained, toy):
    run, result = trained
    ev = evaluate_run(run, toy)
    for split in ("val", "test"):
        for k, v in result.metrics[split].items():
            assert ev["metrics"][split][k] == pytest.approx(v, rel=1e-6), (split, k)
    loaded = load_run(run)
    with h5py.File(toy) as f:
        xt, yt = f["X_test"][()], f["Y_test"][()]
    pred = loaded.predict(xt)
    assert M.rmse(yt, pred) == pytest.approx(result.metrics["test"]["rmse"], rel=1e-5)


def test_predict_files_hdf5_and_spikefinder_csv(trained, toy, tmp_path):
    run, _ = trained
    loaded = load_run(run)
    out = predict_file(run, toy, tmp_path / "pred.h5", key="X_test")
    with h5py.File(out) as f, h5py.File(toy) as g:
        np.testing.assert_allclose(f["Y_pred"][()], loaded.predict(g["X_test"][()]), rtol=1e-6)
        assert f.attrs["task"] == "hh-voltage"
        xt = g["X_test"][()]
    # CSV: one column per trace, unequal lengths; one prediction per input frame
    write_table(tmp_path / "in.csv", [xt[0, :, 0], xt[1, :250, 0]])
    predict_file(run, tmp_path / "in.csv", tmp_path / "out.csv.gz", frame_rate=1000)
    cols = read_table(tmp_path / "out.csv.gz")
    assert [len(c) for c in cols] == [400, 250]
    np.testing.assert_allclose(cols[1], loaded.predict(xt[1:2, :250])[0, :, 0], rtol=1e-6)
    with pytest.raises(FileExistsError):
        predict_file(run, tmp_path / "in.csv", tmp_path / "out.csv.gz")
    with pytest.raises(ValueError, match="1000 Hz but the input is at 100 Hz"):
        predict_file(run, tmp_path / "in.csv", tmp_path / "o2.csv", frame_rate=100)
    write_table(tmp_path / "short.csv", [xt[0, :10, 0]])
    with pytest.raises(ValueError, match="shorter than the model's receptive field"):
        predict_file(run, tmp_path / "short.csv", tmp_path / "o3.csv")
    assert not (tmp_path / "o2.csv").exists() and not (tmp_path / "o3.csv").exists()


# --------------------------------------------------------------------------- determinism, resume


class Interrupt(Exception):
    pass


def test_resumed_run_ends_bit_identical_to_an_uninterrupted_one(toy, tmp_path):
    cfg = {**FAST, "epochs": 4, "steps_per_call": 3}  # 5 steps per epoch: chunks of 3 and 2
    a = train_and_evaluate(
        "hh-voltage", cfg, data=toy, workdir=tmp_path / "a", progress=False, log=None
    )

    def stop_after_2(end):
        if end.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(
            "hh-voltage",
            cfg,
            data=toy,
            workdir=tmp_path / "b",
            progress=False,
            log=None,
            callbacks=[stop_after_2],
        )
    info = json.loads((tmp_path / "b" / "run.json").read_text())
    assert info["status"] == "interrupted after epoch 2"
    assert not (tmp_path / "b" / "report.md").exists()
    b = train_and_evaluate(
        "hh-voltage",
        {},
        data=toy,
        workdir=tmp_path / "b",
        resume=True,
        progress=False,
        log=None,
    )
    info = json.loads((tmp_path / "b" / "run.json").read_text())
    assert info["status"] == "done"
    [resume] = info["resumes"]  # every resume and what it changed
    assert resume == {
        "utc": resume["utc"],
        "after_epoch": 2,
        "action": "train",
        "changes": {},
        "earlier_results": None,
    }
    wa, wb = weights(tmp_path / "a"), weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)  # bit-identical
    assert [r["loss"] for r in a.history] == [r["loss"] for r in b.history]
    assert a.metrics == b.metrics
    header = [(tmp_path / r / "history.csv").read_text().splitlines()[0] for r in "ab"]
    assert header[0] == header[1]


def test_a_run_interrupted_in_its_final_evaluation_is_finished_by_resume(
    toy, tmp_path, monkeypatch
):
    import neurolearn.report

    run = tmp_path / "fin"
    cfg = {**FAST, "epochs": 2, "schedule": "cosine"}
    real = neurolearn.report.plot_curves  # the first step after the final metrics

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(neurolearn.report, "plot_curves", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate("hh-voltage", cfg, data=toy, workdir=run, progress=False, log=None)
    info = json.loads((run / "run.json").read_text())
    assert info["status"].startswith("interrupted after epoch 2, in the final evaluation")
    assert not (run / "report.md").exists()
    monkeypatch.setattr(neurolearn.report, "plot_curves", broken)
    with pytest.raises(OSError, match="disk full"):
        train_and_evaluate("hh-voltage", {}, data=toy, workdir=run, resume=True, log=None)
    status = json.loads((run / "run.json").read_text())["status"]
    assert status.startswith("failed in the final evaluation after epoch 2: OSError: disk full")
    monkeypatch.setattr(neurolearn.report, "plot_curves", real)
    # a cosine schedule spans the epochs of the first start: another number is refused
    before = snapshot(run)
    with pytest.raises(ValueError, match=r"epochs 2 → 3: its learning-rate schedule 'cosine'"):
        train_and_evaluate(
            "hh-voltage", {"epochs": 3}, data=toy, workdir=run, resume=True, log=None
        )
    assert snapshot(run) == before
    r = train_and_evaluate(
        "hh-voltage", {}, data=toy, workdir=run, resume=True, progress=False, log=None
    )
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "done" and (run / "report.md").exists()
    assert [x["action"] for x in info["resumes"]] == ["finish", "finish"]
    assert len(r.history) == 3 and (r.final_checkpoint, r.final_epoch) == ("best", r.best_epoch)
    saved = json.loads((run / "metrics.json").read_text())["metrics"]
    ev = evaluate_run(run, toy)["metrics"]
    for split in ("val", "test"):
        assert saved[split]["rmse"] == pytest.approx(ev[split]["rmse"], rel=1e-6)
    with pytest.raises(ValueError, match=r"already finished 2 epoch\(s\) of 2 .* new run folder"):
        train_and_evaluate("hh-voltage", {}, data=toy, workdir=run, resume=True, log=None)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(toy, tmp_path):
    run = tmp_path / "nan"
    cfg = {**FAST, "epochs": 20, "optimizer": "sgd", "learning_rate": 2.0}  # diverges
    with pytest.raises(NonFiniteLossError, match=r"last good checkpoint \(epoch (\d+)\)") as e:
        train_and_evaluate("hh-voltage", cfg, data=toy, workdir=run, progress=False, log=None)
    # the advice can be followed: a new run folder (a resume may not change learning_rate)
    assert "in a new run folder" in str(e.value) and "--out NEW_RUN_DIR" in str(e.value)
    assert "learning_rate=0.2 clip_norm=1" in str(e.value)
    kept = int(__import__("re").search(r"epoch (\d+)\) is kept", str(e.value)).group(1))
    assert kept >= 1
    assert Checkpoints(run / "checkpoints").latest_step() == kept
    w = weights(run)
    assert all(np.all(np.isfinite(v)) for v in w.values())
    history = [json.loads(s) for s in (run / "history.jsonl").read_text().splitlines()]
    assert history[-1]["epoch"] == kept
    assert json.loads((run / "run.json").read_text())["status"].startswith("failed")
    assert not (run / "report.md").exists()


# --------------------------------------------------------------------------- bad input


def test_window_shorter_than_receptive_field_is_refused(toy, tmp_path):
    with pytest.raises(
        ValueError,
        match=r"10 frames long, shorter than the model's receptive "
        r"field of 15",
    ):
        train_and_evaluate(
            "hh-voltage",
            {**FAST, "window": 10},
            data=toy,
            workdir=tmp_path / "w",
            progress=False,
            log=None,
        )
    assert not (tmp_path / "w").exists()


def test_nan_features_are_refused(toy, tmp_path):
    bad = tmp_path / "nan.h5"
    shutil.copy(toy, bad)
    with h5py.File(bad, "r+") as f:
        f["X"][3, 50, 0] = np.nan
    with pytest.raises(ValueError, match=r"'X' has 1 NaN.*\(3, 50, 0\)"):
        train_and_evaluate(
            "hh-voltage", FAST, data=bad, workdir=tmp_path / "r", progress=False, log=None
        )
    assert not (tmp_path / "r").exists()


def test_existing_folder_incompatible_resume_and_other_data_change_nothing(trained, toy, tmp_path):
    run, _ = trained
    before = snapshot(run)
    with pytest.raises(FileExistsError, match="--resume"):
        train_and_evaluate("hh-voltage", FAST, data=toy, workdir=run, progress=False, log=None)
    with pytest.raises(ValueError, match=r"cannot resume .*channels"):
        train_and_evaluate(
            "hh-voltage",
            {"model.channels": [4, 6, 16], "epochs": 20},
            data=toy,
            workdir=run,
            resume=True,
            progress=False,
            log=None,
        )
    other = write_toy_hh_voltage(tmp_path / "other.h5", n_train=200, length=100, seed=5)
    with pytest.raises(ValueError, match="not the data file"):
        train_and_evaluate(
            "hh-voltage",
            {"epochs": 20},
            data=other,
            workdir=run,
            resume=True,
            progress=False,
            log=None,
        )
    with pytest.raises(ValueError, match="already finished 12 epoch"):
        train_and_evaluate(
            "hh-voltage", {}, data=toy, workdir=run, resume=True, progress=False, log=None
        )
    assert snapshot(run) == before


def test_checkpoint_from_an_incompatible_config_is_refused(trained, toy, tmp_path):
    run, _ = trained
    copy = tmp_path / "edited"
    shutil.copytree(run, copy)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["model"]["channels"] = [4, 6, 16]
    (copy / "config.json").write_text(json.dumps(cfg))
    before = snapshot(copy)
    with pytest.raises(
        ValueError,
        match=r"does not fit the model built from the config: "
        r"convs/0/bias has shape \(2,\) in the checkpoint",
    ):
        evaluate_run(copy, toy)
    with pytest.raises(ValueError, match="incompatible config"):
        predict_file(copy, toy, tmp_path / "p.h5")
    assert snapshot(copy) == before and not (tmp_path / "p.h5").exists()


def test_checkpoint_saved_under_another_config_with_the_same_shapes_is_refused(
    trained, toy, tmp_path
):
    run, _ = trained
    copy = tmp_path / "edited"
    shutil.copytree(run, copy)
    cfg = json.loads((copy / "config.json").read_text())
    cfg["model"]["causal"] = True  # same parameter shapes, another model
    (copy / "config.json").write_text(json.dumps(cfg))
    before = snapshot(copy)
    msg = r"was saved with another config than .*config.json.*model: .*\"causal\": false.* in the checkpoint"
    with pytest.raises(ValueError, match=msg):
        evaluate_run(copy, toy)
    with pytest.raises(ValueError, match=msg):
        load_run(copy, which="latest")
    with pytest.raises(ValueError, match=msg):
        train_and_evaluate(
            "hh-voltage",
            {"epochs": 20},
            data=toy,
            workdir=copy,
            resume=True,
            progress=False,
            log=None,
        )
    assert snapshot(copy) == before


def test_a_failed_resume_of_a_finished_run_moves_its_report_aside(trained, toy, tmp_path):
    run, _ = trained
    copy = tmp_path / "longer"
    shutil.copytree(run, copy)
    report = (copy / "report.md").read_text()

    def stop(end):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_and_evaluate(
            "hh-voltage",
            {"epochs": 13},
            data=toy,
            workdir=copy,
            resume=True,
            progress=False,
            log=None,
            callbacks=[stop],
        )
    info = json.loads((copy / "run.json").read_text())
    assert info["status"] == "interrupted after epoch 13"
    # no report beside run.json describes other weights than the checkpoints'
    for name in ("report.md", "metrics.json", "curves.png", "examples.png"):
        assert not (copy / name).exists(), name
        assert (copy / "earlier" / "after_epoch_12" / name).exists(), name
    assert (copy / "earlier" / "after_epoch_12" / "report.md").read_text() == report
    [resume] = info["resumes"]
    assert resume["changes"] == {"epochs": [12, 13]}
    assert resume["earlier_results"] == "earlier/after_epoch_12"


# --------------------------------------------------------------------------- a binary task


@dataclass(frozen=True)
class DetectConfig(TrainConfig):
    epochs: int = 8
    batch_size: int = 32
    learning_rate: float = 3e-2
    n_val: int = 60
    model: object = CNNConfig(channels=(4,), kernels=(9,))


class ToyDetectTask(Task):
    """Is there a bump in the trace? Binary labels, class-balanced sampling, BCE."""

    name = "toy-detect"
    description = "test-only binary task"
    dataset = "toy-detect"
    Config = DetectConfig
    kind = "binary"
    monitor = ("val_loss", "min")

    def schema(self, cfg):
        return {
            "X": ArraySpec(3, (1,), kind="f"),
            "y": ArraySpec(1, kind="iuf", binary=True, rows_as="X"),
        }

    def examples(self, data, cfg):
        return Examples({"x": data["X"], "y": data["y"].astype(np.float32)}), None

    def split(self, ex, cfg, *, key):
        return split_last(len(ex), cfg.n_val)

    def balance_labels(self, ex, cfg):
        return ex.arrays["y"]

    def out_features(self, ex, cfg):
        return 1

    def forward(self, model, x, cfg, *, train, rngs=None):
        return model(x).max(axis=(1, 2))  # a logit per trace

    def example_loss(self, outputs, batch, cfg):
        import optax

        return optax.sigmoid_binary_cross_entropy(outputs, batch["y"])

    def predictions(self, outputs, cfg):
        import jax

        return jax.nn.sigmoid(outputs)

    def metrics(self, y_true, y_pred, cfg):
        return {
            "balanced_accuracy": M.balanced_accuracy(y_true, y_pred >= 0.5),
            "roc_auc": M.roc_auc(y_true, y_pred),
        }


register(ToyDetectTask())


def write_detect(path, *, n=300, t=80, seed=0, bad_label=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, t, 1)).astype(np.float32)
    y = (rng.uniform(size=n) < 0.15).astype(np.int64)  # rare positives
    for i in np.flatnonzero(y):
        c = rng.integers(10, t - 10)
        x[i, c - 4 : c + 5, 0] += 3.0 * np.hanning(9)
    if bad_label:
        y[7] = 2
    with h5py.File(path, "w") as f:
        f["X"], f["y"] = x, y
        f.attrs["dataset"] = "toy-detect"
    return path


def test_binary_task_with_class_balancing_learns(tmp_path):
    data = write_detect(tmp_path / "d.h5")
    r = train_and_evaluate(
        "toy-detect", {}, data=data, workdir=tmp_path / "run", progress=False, log=None
    )
    assert r.metrics["val"]["roc_auc"] > 0.95
    assert r.metrics["val"]["balanced_accuracy"] > 0.85  # 15 % positives: chance is 0.5


def test_labels_that_are_not_0_or_1_are_refused(tmp_path):
    data = write_detect(tmp_path / "bad.h5", bad_label=True)
    with pytest.raises(ValueError, match=r"'y' holds class labels and must be 0 or 1, got \[2\]"):
        train_and_evaluate(
            "toy-detect", {}, data=data, workdir=tmp_path / "run", progress=False, log=None
        )
    assert not (tmp_path / "run").exists()


def test_a_run_of_another_task_is_refused(trained, toy, tmp_path):
    run, _ = trained
    before = snapshot(run)
    data = write_detect(tmp_path / "d.h5")
    with pytest.raises(
        ValueError,
        match=r"holds a 'hh-voltage' model, which needs a "
        r"'hh-voltage' dataset, but .* is a 'toy-detect'",
    ):
        evaluate_run(run, data)
    with pytest.raises(ValueError, match=r"holds a 'hh-voltage' run, not 'toy-detect'"):
        train_and_evaluate(
            "toy-detect", {}, data=data, workdir=run, resume=True, progress=False, log=None
        )
    with pytest.raises(ValueError, match=r"holds a 'hh-voltage' run, not 'toy-detect'"):
        load_run(run, task="toy-detect")
    assert snapshot(run) == before


# --------------------------------------------------------------------------- engine options


def test_host_prefetched_batches_train_like_device_resident_ones(toy, tmp_path):
    cfg = {**FAST, "epochs": 2}
    a = train_and_evaluate(
        "hh-voltage", cfg, data=toy, workdir=tmp_path / "dev", progress=False, log=None
    )
    b = train_and_evaluate(
        "hh-voltage",
        {**cfg, "device_budget_mb": 0},
        data=toy,
        workdir=tmp_path / "host",
        progress=False,
        log=None,
    )
    assert json.loads((tmp_path / "dev" / "run.json").read_text())["device_resident_data"]
    assert not json.loads((tmp_path / "host" / "run.json").read_text())["device_resident_data"]
    wa, wb = weights(tmp_path / "dev"), weights(tmp_path / "host")
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], rtol=1e-5, atol=1e-6, err_msg=k)
    assert a.metrics["val"]["rmse"] == pytest.approx(b.metrics["val"]["rmse"], rel=1e-4)


def test_early_stopping_on_windows_restores_the_best_epoch(toy, tmp_path):
    # min_delta is huge: no epoch after the first counts as an improvement
    cfg = {**FAST, "epochs": 10, "patience": 2, "min_delta": 1e9, "window": 40}
    r = train_and_evaluate(
        "hh-voltage", cfg, data=toy, workdir=tmp_path / "es", progress=False, log=None
    )
    assert r.stopped_early and r.best_epoch == 1
    assert [h["epoch"] for h in r.history] == [0, 1, 2, 3]
    info = json.loads((tmp_path / "es" / "run.json").read_text())
    assert info["info"]["n_train_examples"] == 160 * 4  # windows of 40 ms, stride 20, in 100 ms
    # the reported metrics are those of epoch 1's weights, not the last epoch's
    assert r.metrics["val"]["rmse"] == pytest.approx(r.history[1]["val_rmse"], rel=1e-6)
    assert r.history[3]["val_rmse"] != r.history[1]["val_rmse"]
    assert load_run(tmp_path / "es").checkpoint == ("best", 1)
    # resuming as it is: nothing to do, and the message says why and what would train on
    with pytest.raises(ValueError, match=r"stopped early after epoch 3 of 10") as e:
        train_and_evaluate(
            "hh-voltage", cfg, data=toy, workdir=tmp_path / "es", resume=True, log=None
        )
    assert "patience=N with N > 2" in str(e.value) and "already finished" not in str(e.value)
    # more patience continues the count: as if the run had had patience 3 from the start
    r2 = train_and_evaluate(
        "hh-voltage",
        {**cfg, "patience": 3},
        data=toy,
        workdir=tmp_path / "es",
        resume=True,
        progress=False,
        log=None,
    )
    assert r2.stopped_early and r2.best_epoch == 1
    assert [h["epoch"] for h in r2.history] == [0, 1, 2, 3, 4]
    assert r2.history[:4] == r.history


def test_optimizer_schedules_and_gradient_clipping():
    import jax.numpy as jnp

    from neurolearn.config import make_config
    from neurolearn.train import make_optimizer

    cfg = make_config(TrainConfig, {"epochs": 10, "schedule": "cosine", "learning_rate": 0.1})
    _, sched = make_optimizer(cfg, 5)
    assert float(sched(0)) == pytest.approx(0.1) and float(sched(50)) == pytest.approx(0.0)
    cfg = make_config(
        TrainConfig,
        {"epochs": 10, "schedule": "warmup_cosine", "warmup_epochs": 2, "learning_rate": 0.1},
    )
    _, sched = make_optimizer(cfg, 5)
    assert float(sched(0)) == 0.0 and float(sched(10)) == pytest.approx(0.1)
    cfg = make_config(TrainConfig, {"optimizer": "sgd", "learning_rate": 1.0, "clip_norm": 0.5})
    tx, _ = make_optimizer(cfg, 5)
    g = {"w": jnp.array([3.0, 4.0])}  # norm 5 → clipped to 0.5
    upd, _ = tx.update(g, tx.init(g), g)
    # the clipped update points along −g with norm 0.5 (NumPy, independent of optax's own norm)
    np.testing.assert_allclose(np.asarray(upd["w"]), [-0.3, -0.4], rtol=1e-6)
    assert float(np.linalg.norm(np.asarray(upd["w"]))) == pytest.approx(0.5, rel=1e-6)


def test_evaluate_a_small_independent_file_scores_all_of_it(trained, tmp_path):
    run, _ = trained
    small = write_toy_hh_voltage(
        tmp_path / "small.h5", n_train=10, n_test=1, length=100, test_length=200, seed=9
    )
    ev = evaluate_run(run, small)
    assert ev["split"]["method"] == "all rows" and ev["split"]["n_val"] == 10
    loaded = load_run(run)
    with h5py.File(small) as f:
        x, y = f["X"][()], f["Y"][()]
    assert ev["metrics"]["val"]["rmse"] == pytest.approx(M.rmse(y, loaded.predict(x)), rel=1e-5)


def test_monitor_mode_follows_the_metric():
    from neurolearn.config import make_config, monitor_mode

    cfg = make_config(TrainConfig, {})
    assert monitor_mode("val_rmse", ("val_rmse", "min"), cfg) == "min"
    assert monitor_mode("val_explained_variance", ("val_rmse", "min"), cfg) == "max"
    assert monitor_mode("val_balanced_accuracy", ("val_loss", "min"), cfg) == "max"
    assert monitor_mode("val_poisson_deviance", ("val_loss", "min"), cfg) == "min"
    forced = make_config(TrainConfig, {"monitor_mode": "min"})
    assert monitor_mode("val_roc_auc", ("val_loss", "min"), forced) == "min"
    with pytest.raises(ValueError, match="monitor_mode must be min, max or null"):
        make_config(TrainConfig, {"monitor_mode": "up"})


# --------------------------------------------------------------------------- engine for many tasks


def test_l2_selects_parameters_by_path():
    from flax import nnx

    from neurolearn.config import make_config
    from neurolearn.engine import l2_selection
    from neurolearn.tasks import get

    task = get("hh-voltage")
    cfg = make_config(task.Config, {})
    model = task.build_model(cfg, in_features=1, out_features=1, rngs=nnx.Rngs(params=0))
    params = nnx.state(model, nnx.Param)
    # Keras l2(0.01) on the convolution kernels and biases, not on the read-out
    assert sorted(l2_selection(cfg, params)) == [
        f"convs/{i}/{p}" for i in range(3) for p in ("bias", "kernel")
    ]
    assert len(l2_selection(make_config(task.Config, {"l2_params": ""}), params)) == 8
    with pytest.raises(ValueError, match=r"l2_params '\(' is not a regular expression"):
        make_config(task.Config, {"l2_params": "("})


def test_the_validation_split_adapts_to_a_small_file_and_presets_apply(tmp_path):
    data = write_toy_hh_voltage(tmp_path / "t.h5", n_train=60, n_test=1, length=60, seed=2)
    r = train_and_evaluate(
        "hh-voltage",
        {"epochs": 1},
        data=data,
        workdir=tmp_path / "run",
        progress=False,
        log=None,
        preset="best",
    )
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert (split["n_train"], split["n_val"]) == (57, 3)  # 5 % of 60 traces validate
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["model"]["causal"] is True and cfg["epochs"] == 1  # best, then the override
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["preset"] == "best" and info["overrides"] == {"epochs": 1}
    assert np.isfinite(r.metrics["val"]["rmse"])
    with pytest.raises(ValueError, match="no config preset 'fast'"):
        train_and_evaluate(
            "hh-voltage", {}, data=data, workdir=tmp_path / "r2", log=None, preset="fast"
        )


def test_predict_checks_the_sampling_rate_an_hdf5_input_records(trained, tmp_path):
    run, _ = trained
    other = write_toy_hh_voltage(tmp_path / "fast.h5", n_train=4, n_test=1, length=50)
    with h5py.File(other, "r+") as f:
        f.attrs["dt_sample_ms"] = 0.5
    with pytest.raises(ValueError, match="1000 Hz but the input is at 2000 Hz"):
        predict_file(run, other, tmp_path / "p.h5")
    with pytest.raises(ValueError, match="--frame-rate 1000 Hz disagrees with"):
        predict_file(run, other, tmp_path / "p.h5", frame_rate=1000)
    assert not (tmp_path / "p.h5").exists()


def test_evaluation_draws_from_fixed_keys():
    import jax

    from neurolearn.engine import EVAL_KEY_SEED, stream_rngs

    a = stream_rngs(jax.random.key(EVAL_KEY_SEED), 0)
    b = stream_rngs(jax.random.key(EVAL_KEY_SEED), 0)
    assert np.array_equal(jax.random.key_data(a.dropout()), jax.random.key_data(b.dropout()))
    assert not np.array_equal(jax.random.key_data(a.noise()), jax.random.key_data(a.dropout()))
