"""The neurolearn command line: help, tasks, train → evaluate → predict, score, clear errors."""

from __future__ import annotations

import contextlib
import io
import json

import h5py
import numpy as np
import pandas as pd
import pytest

from neurolearn.cli import main
from neurolearn.testing import write_toy_hh_voltage

SUBCOMMANDS = ("tasks", "train", "evaluate", "predict", "score")


@pytest.mark.parametrize("argv", [["--help"]] + [[c, "--help"] for c in SUBCOMMANDS])
def test_help_everywhere(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    assert "usage: neurolearn" in capsys.readouterr().out


def test_tasks_lists_hh_voltage(capsys):
    assert main(["tasks"]) == 0
    assert "hh-voltage" in capsys.readouterr().out
    assert main(["tasks", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hh-voltage"]["dataset"] == "hh-voltage"
    assert main(["tasks", "hh-voltage"]) == 0
    out = capsys.readouterr().out
    assert "channels" in out and "[2, 6, 16]" in out and "learning_rate" in out
    assert main(["tasks", "hh-voltage", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["config"]["model"]["kernels"] == [11, 5, 1]
    assert {"seed", "best", "small"} <= set(d["presets"])
    assert main(["tasks", "nope"]) == 2


def test_score_json_is_exactly_cells_and_mean(spikefinder_dir, capsys):
    truth = spikefinder_dir / "5.train.spikes.csv.gz"
    pred = spikefinder_dir / "reference" / "stm.5.train.spikes.csv.gz"
    assert main(["score", str(truth), str(pred), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == ["cells", "mean"]
    ref = pd.read_csv(spikefinder_dir / "reference" / "stm_train_scores_25hz.csv.gz")
    want = ref[ref.dataset == 5].sort_values("cell").stm_corr_25hz.to_numpy()
    np.testing.assert_allclose(out["cells"], want, atol=5e-5)
    assert out["mean"] == pytest.approx(want.mean(), abs=5e-5)
    assert main(["score", str(truth), str(pred)]) == 0
    text = capsys.readouterr().out
    assert "cell 8: 0.0912" in text and f"mean: {want.mean():.4f}" in text


def test_score_drops_interior_empty_cells_as_the_definition_says(tmp_path, capsys):
    from scipy.stats import pearsonr

    rng = np.random.default_rng(4)
    truth = (rng.uniform(size=(400, 2)) < 0.1).astype(float)
    pred = truth + rng.uniform(size=(400, 2))
    truth_gaps = truth.copy()
    truth_gaps[[13, 250], 0] = np.nan  # interior empty cells (gaps), not a NaN tail
    pred_gaps = pred.copy()
    pred_gaps[77, 1] = np.nan
    for name, a in (("t.csv", truth_gaps), ("p.csv", pred_gaps)):
        pd.DataFrame(a, columns=["0", "1"]).to_csv(tmp_path / name, index=False)
    assert main(["score", str(tmp_path / "t.csv"), str(tmp_path / "p.csv"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = []
    for j, drop in ((0, [13, 250]), (1, [77])):
        keep = np.setdiff1d(np.arange(400), drop)
        t, p = truth[keep, j], pred[keep, j]
        n = len(t) // 4 * 4  # sum non-overlapping bins of 4 kept frames
        want.append(pearsonr(t[:n].reshape(-1, 4).sum(1), p[:n].reshape(-1, 4).sum(1))[0])
    np.testing.assert_allclose(out["cells"], want, rtol=1e-12)
    assert out["mean"] == pytest.approx(np.mean(want), rel=1e-12)


def test_score_errors(spikefinder_dir, tmp_path, capsys):
    a = spikefinder_dir / "4.train.spikes.csv.gz"
    b = spikefinder_dir / "5.train.spikes.csv.gz"
    assert main(["score", str(a), str(b)]) == 2
    assert "has 6 cells (columns) but" in capsys.readouterr().err
    assert main(["score", str(a), str(tmp_path / "nope.csv")]) == 2
    assert "neurolearn: error:" in capsys.readouterr().err


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    data = write_toy_hh_voltage(
        d / "toy.h5", n_train=120, n_test=2, length=80, test_length=300, seed=3
    )
    run = d / "run"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = main(
            [
                "train",
                "hh-voltage",
                "--data",
                str(data),
                "--out",
                str(run),
                "--epochs",
                "3",
                "--config",
                "n_val=30",
                "batch_size=30",
                "learning_rate=0.01",
                "restore_best=false",  # report with the latest weights
                "--no-progress",
            ]
        )
    assert code == 0
    (d / "train_stdout.txt").write_text(printed.getvalue())
    return data, run


def test_train_evaluate_predict(cli_run, tmp_path, capsys):
    data, run = cli_run
    assert json.loads((run / "config.json").read_text())["n_val"] == 30
    assert json.loads((run / "config.json").read_text())["epochs"] == 3
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    assert (
        main(
            [
                "evaluate",
                str(run),
                "--data",
                str(data),
                "--json",
                "--out",
                str(tmp_path / "ev.json"),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["metrics"]["val"]["rmse"] == pytest.approx(metrics["val"]["rmse"], rel=1e-6)
    assert json.loads((tmp_path / "ev.json").read_text()) == out
    assert main(["evaluate", str(run), "--data", str(data)]) == 0
    assert "rmse" in capsys.readouterr().out
    assert main(["predict", str(run), "--input", str(data), "--out", str(tmp_path / "p.h5")]) == 0
    with h5py.File(tmp_path / "p.h5") as f:
        assert f["Y_pred"].shape == (120, 80, 1)
    assert main(["predict", str(run), "--input", str(data), "--out", str(tmp_path / "p.h5")]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--config", "chanels=[4]"], "unknown config key(s) ['chanels']"),
        (["--config", "learning_rate=-1"], "learning_rate must be > 0"),
        (["--config", "model.causal=maybe"], "model.causal must be true or false"),
        (["--config", "model=gru"], "unknown model 'gru'; known models: "),
        (["--config", "model.hidden=[8]"], "unknown config key(s) ['model.hidden']"),
        (["--config", "huge"], "no config preset 'huge'; its presets: seed, best, small"),
        (["--config", "n_val=oops"], "n_val must be an integer"),
        (["--config", "model.kernels=[11,5]"], "must be non-empty lists of the same length"),
        (["--config", "window=9", "n_val=30"], "shorter than the model's receptive field of 15"),
        (["--config", "n_val=500"], "config n_val=500 leaves no training traces"),
    ],
)
def test_train_config_errors(cli_run, tmp_path, capsys, extra, message):
    data, _ = cli_run
    out = tmp_path / "new"
    code = main(
        [
            "train",
            "hh-voltage",
            "--data",
            str(data),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--no-progress",
            "--quiet",
            *extra,
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("neurolearn: error: ") and message in err
    assert not out.exists()


def test_train_errors(cli_run, tmp_path, capsys):
    data, run = cli_run
    assert main(["train", "no-such-task", "--data", str(data), "--out", str(tmp_path / "x")]) == 2
    assert "unknown task 'no-such-task'; known tasks: " in capsys.readouterr().err
    assert main(["train", "hh-voltage", "--data", str(data), "--out", str(run)]) == 2
    assert "already holds files; pass --resume" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "hh-voltage",
                "--data",
                str(tmp_path / "missing.h5"),
                "--out",
                str(tmp_path / "y"),
            ]
        )
        == 2
    )
    assert "does not exist" in capsys.readouterr().err
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["X"] = np.zeros((4, 10, 1))
        f.attrs["dataset"] = "ring-counts"
    assert main(["train", "hh-voltage", "--data", str(other), "--out", str(tmp_path / "z")]) == 2
    assert "is a 'ring-counts' dataset, expected 'hh-voltage'" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path), "--data", str(data)]) == 2
    assert "not a neurolearn run folder" in capsys.readouterr().err
    for name in ("x", "y", "z"):
        assert not (tmp_path / name).exists()


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity (not JSON)."""

    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_the_final_weights_are_labelled_by_the_checkpoint_used(cli_run):
    data, run = cli_run
    saved = json.loads((run / "metrics.json").read_text())
    assert (saved["final_checkpoint"], saved["final_epoch"]) == ("latest", 3)
    best = saved["best_epoch"]
    printed = (run.parent / "train_stdout.txt").read_text()
    assert f"final metrics (latest checkpoint, epoch 3; best epoch {best}):" in printed


def test_undefined_metrics_are_null_in_every_json_output(cli_run, tmp_path, capsys, monkeypatch):
    from neurolearn.checkpoints import write_json_atomic
    from neurolearn.tasks.hh_voltage import HHVoltageTask

    data, run = cli_run
    metrics = HHVoltageTask.metrics
    # a metric that is undefined (NaN) on these data, e.g. a correlation of a constant trace
    monkeypatch.setattr(
        HHVoltageTask, "metrics", lambda self, t, p, c: {**metrics(self, t, p, c), "r": np.nan}
    )
    out = tmp_path / "e.json"
    assert main(["evaluate", str(run), "--data", str(data), "--json", "--out", str(out)]) == 0
    printed = strict_json(capsys.readouterr().out)
    assert printed["metrics"]["test"]["r"] is None and printed["metrics"]["test"]["rmse"] > 0
    assert strict_json(out.read_text()) == printed
    # metrics.json, run.json, history.jsonl go through the same writer
    write_json_atomic(tmp_path / "m.json", {"a": [np.float32(np.nan), np.inf, 1.5]})
    assert strict_json((tmp_path / "m.json").read_text()) == {"a": [None, None, 1.5]}
    for line in (run / "history.jsonl").read_text().splitlines():
        strict_json(line)


def test_damaged_files_and_paths_give_clear_errors(cli_run, tmp_path, capsys):
    import shutil

    data, run = cli_run
    # --out naming an existing file (or a path inside one)
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "run"):
        assert main(["train", "hh-voltage", "--data", str(data), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("neurolearn: error: ") and "a file, not a folder" in err
    assert afile.read_text() == "x"
    # a damaged .h5: input of predict, data of evaluate and train
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"this is not HDF5" * 100)
    commands = [
        ["predict", str(run), "--input", str(bad), "--out", str(tmp_path / "p.h5")],
        ["evaluate", str(run), "--data", str(bad)],
        ["train", "hh-voltage", "--data", str(bad), "--out", str(tmp_path / "new")],
    ]
    for argv in commands:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("neurolearn: error: ") and "is not a readable HDF5 file" in err
        assert "'dataset' attribute" not in err
    assert not (tmp_path / "p.h5").exists() and not (tmp_path / "new").exists()
    # NaN in the input of predict: the advice is about prediction, not training
    nan_in = tmp_path / "nan.h5"
    with h5py.File(data) as f, h5py.File(nan_in, "w") as g:
        x = f["X"][:4]
        x[1, 5, 0] = np.nan
        g["X"] = x
    assert main(["predict", str(run), "--input", str(nan_in), "--out", str(tmp_path / "p.h5")]) == 2
    err = capsys.readouterr().err
    assert "(1, 5, 0)" in err and "before prediction" in err and "training" not in err
    # a damaged config.json is named
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "config.json").write_text('{"epochs": 3,')
    assert main(["evaluate", str(copy), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "config.json' is not valid JSON" in err
