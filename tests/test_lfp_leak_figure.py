"""docs/tasks/lfp_leak_figure.py: its ROC AUC standard error against a bootstrap, and its
refusals (no independent.json, an "independent" file that was the training file, a pair in the
wrong order)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from neurolearn import metrics as M

_spec = importlib.util.spec_from_file_location(
    "lfp_leak_figure", Path(__file__).parents[1] / "docs" / "tasks" / "lfp_leak_figure.py"
)
fig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fig)


@pytest.mark.parametrize("shift", [0.0, 0.3, 0.6])  # ROC AUC 0.5-0.67, the range it is used in
def test_auc_standard_error_matches_a_bootstrap(shift):
    rng = np.random.default_rng(1)
    n = 3000
    y = (rng.random(n) < 0.07).astype(np.int64)
    s = rng.normal(size=n) + shift * y
    auc = M.roc_auc(y, s)
    boot = [M.roc_auc(y[i], s[i]) for i in (rng.integers(0, n, n) for _ in range(300))]
    assert fig.auc_se(auc, n, y.mean()) == pytest.approx(np.std(boot), rel=0.2)


def _record(folder: Path, *, leaky: bool, same: bool = False, independent: bool = True):
    folder.mkdir(parents=True)
    val = {"roc_auc": 0.6, "base_rate": 0.07}
    (folder / "metrics.json").write_text(json.dumps({"metrics": {"val": val}, "best_epoch": 1}))
    (folder / "history.csv").write_text(
        "epoch,loss,val_loss,val_roc_auc\n0,,0.7,0.5\n1,0.6,0.6,0.6\n"
    )
    split = {"method": "random" if leaky else "by time block", "leaky": leaky, "n_val": 900}
    (folder / "split.json").write_text(json.dumps(split))
    if independent:
        ind = {
            "data": "/x/other.h5",
            "same_data_as_training": same,
            "split": {"n_val": 30000},
            "metrics": {"val": {"roc_auc": 0.61, "base_rate": 0.07}},
        }
        (folder / "independent.json").write_text(json.dumps(ind))
    return folder


def test_the_figure_is_drawn_and_bad_records_are_refused(tmp_path, capsys):
    b, r = _record(tmp_path / "b", leaky=False), _record(tmp_path / "r", leaky=True)
    out = tmp_path / "fig.png"
    assert fig.main(["--pair", "detection", str(b), str(r), "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000
    assert "val − independent -0.0100" in capsys.readouterr().out
    with pytest.raises(ValueError, match="expected a split=blocks run then a split=random run"):
        fig.main(["--pair", "x", str(r), str(b), "--out", str(tmp_path / "y.png")])
    same = _record(tmp_path / "same", leaky=True, same=True)
    with pytest.raises(ValueError, match="scored on the training file"):
        fig.main(["--pair", "x", str(b), str(same), "--out", str(tmp_path / "y.png")])
    none = _record(tmp_path / "none", leaky=True, independent=False)
    with pytest.raises(FileNotFoundError, match="no independent.json: run `neurolearn evaluate"):
        fig.main(["--pair", "x", str(b), str(none), "--out", str(tmp_path / "y.png")])
    assert not (tmp_path / "y.png").exists()
