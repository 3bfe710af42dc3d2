"""neurolearn.metrics against scikit-learn / scipy, hand-computed cases and published scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment
from scipy.stats import pearsonr

from neurolearn import metrics as M
from neurosim.spikefinder import read_table

sk = pytest.importorskip("sklearn.metrics")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# ----------------------------------------------------------------- regression


def test_regression_metrics_match_sklearn(rng):
    y = rng.normal(size=(7, 30, 2))
    p = y + rng.normal(scale=0.5, size=y.shape) + 0.3
    assert M.mse(y, p) == pytest.approx(sk.mean_squared_error(y.ravel(), p.ravel()), rel=1e-12)
    assert M.rmse(y, p) == pytest.approx(np.sqrt(sk.mean_squared_error(y.ravel(), p.ravel())))
    assert M.explained_variance(y, p) == pytest.approx(
        sk.explained_variance_score(y.ravel(), p.ravel()), rel=1e-12
    )
    assert M.r2(y, p) == pytest.approx(sk.r2_score(y.ravel(), p.ravel()), rel=1e-12)
    counts = rng.poisson(2.0, size=200).astype(float)
    mu = rng.uniform(0.5, 4.0, size=200)
    assert M.poisson_deviance(counts, mu) == pytest.approx(
        sk.mean_poisson_deviance(counts, mu), rel=1e-12
    )


def test_regression_hand_computed():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([1.0, 2.0, 3.0, 6.0])
    assert M.mse(y, p) == 1.0  # (0+0+0+4)/4
    assert M.rmse(y, p) == 1.0
    # a constant offset is fully "explained" in variance but not in R²
    assert M.explained_variance(y, y + 5) == 1.0
    assert M.r2(y, y + 5) == pytest.approx(1 - 4 * 25 / 5.0)
    # Poisson deviance of a perfect prediction is 0; of y=0, μ=1 it is 2μ = 2
    assert M.poisson_deviance([0.0, 3.0], [1.0, 3.0]) == pytest.approx((2.0 + 0.0) / 2)


def test_regression_errors():
    with pytest.raises(ValueError, match="shape"):
        M.mse(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="constant"):
        M.explained_variance(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="> 0"):
        M.poisson_deviance([1.0], [0.0])


# ----------------------------------------------------------------- classification


def test_classification_metrics_match_sklearn(rng):
    y = (rng.uniform(size=500) < 0.15).astype(int)
    s = y * 0.8 + rng.normal(size=500)
    s = np.round(s, 1)  # ties, which AUC and AP must handle like scikit-learn
    pred = (s >= 0.5).astype(int)
    assert M.accuracy(y, pred) == pytest.approx(sk.accuracy_score(y, pred))
    assert M.balanced_accuracy(y, pred) == pytest.approx(sk.balanced_accuracy_score(y, pred))
    np.testing.assert_array_equal(M.confusion_matrix(y, pred), sk.confusion_matrix(y, pred))
    assert M.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s), rel=1e-12)
    assert M.pr_auc(y, s) == pytest.approx(sk.average_precision_score(y, s), rel=1e-12)
    p, r, f = M.precision_recall_f1(y, pred)
    assert (p, r, f) == pytest.approx(
        (sk.precision_score(y, pred), sk.recall_score(y, pred), sk.f1_score(y, pred))
    )
    assert M.f1_at_threshold(y, s, 0.5) == pytest.approx(sk.f1_score(y, pred))
    prec, rec, thr = sk.precision_recall_curve(y, s)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1s = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0)[:-1]
    best, t = M.best_f1(y, s)
    assert best == pytest.approx(f1s.max(), rel=1e-12)
    assert M.f1_at_threshold(y, s, t) == pytest.approx(best)


def test_classification_hand_computed():
    y = [0, 0, 1, 1]
    s = [0.1, 0.4, 0.35, 0.8]
    # pairs (pos, neg): (0.35>0.1) yes, (0.35>0.4) no, (0.8>·) yes twice → 3/4
    assert M.roc_auc(y, s) == 0.75
    # ranks: 0.8 (tp) → P=1, R=.5; 0.4 (fp); 0.35 (tp) → P=2/3, R=1: AP = .5*1 + .5*2/3
    assert M.pr_auc(y, s) == pytest.approx(0.5 + 1 / 3)
    assert M.balanced_accuracy([0, 0, 0, 1], [0, 0, 0, 0]) == 0.5
    assert M.accuracy([0, 0, 0, 1], [0, 0, 0, 0]) == 0.75
    assert M.best_f1([0, 1, 1], [0.2, 0.9, 0.5]) == (1.0, 0.5)
    assert M.roc_auc([0, 1], [0.3, 0.3]) == 0.5  # a tie counts one half


def test_classification_rejects_non_binary_labels():
    with pytest.raises(ValueError, match="0 or 1.*index 2"):
        M.accuracy([0, 1, 2], [0, 1, 1])
    with pytest.raises(ValueError, match="both classes"):
        M.roc_auc([1, 1], [0.2, 0.3])


# ----------------------------------------------------------------- Spikefinder


def test_spikefinder_correlation_reproduces_published_stm_scores(spikefinder_dir):
    """Scoring the STM baseline's predictions gives the organisers' per-cell scores (4 dp)."""
    ref = pd.read_csv(spikefinder_dir / "reference" / "stm_train_scores_25hz.csv.gz")
    for ds in (4, 5):
        truth = read_table(spikefinder_dir / f"{ds}.train.spikes.csv.gz")
        pred = read_table(spikefinder_dir / "reference" / f"stm.{ds}.train.spikes.csv.gz")
        scores = M.spikefinder_scores(truth, pred)
        want = ref[ref.dataset == ds].sort_values("cell").stm_corr_25hz.to_numpy()
        assert len(scores.cells) == len(want)
        np.testing.assert_allclose(scores.cells, want, atol=5e-5, rtol=0)
        assert scores.mean == pytest.approx(want.mean(), abs=5e-5)
        assert scores.median == pytest.approx(np.median(want), abs=5e-5)


def test_spikefinder_correlation_hand_computed():
    truth = np.array([0, 1, 0, 0, 2, 0, 0, 0, 1, 1, 0, 0, 5.0])  # 13 frames: 3 full bins of 4
    pred = np.array([1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 3, np.nan, 9.0])
    # bins (sum of 4): truth [1, 2, 2]; pred: 13 → 12 frames after the shorter-length cut and
    # NaN-drop: [1, 2, 3]
    want = pearsonr([1, 2, 2], [1, 2, 3])[0]
    assert M.spikefinder_correlation(truth, pred) == pytest.approx(want)
    # NaN in the truth drops the frame from both traces before binning
    t2 = np.array([np.nan, 1, 2, 3, 4, 5, 6, 7, 8.0])
    p2 = np.array([100, 1, 2, 3, 4, 5, 6, 7, 9.0])
    assert M.spikefinder_correlation(t2, p2, downsample=4) == pytest.approx(
        pearsonr([10, 26], [10, 27])[0]
    )
    with pytest.raises(ValueError, match="cells"):
        M.spikefinder_scores([truth], [pred, pred])


def test_cascade_error_bias():
    from scipy.ndimage import gaussian_filter1d

    rng = np.random.default_rng(0)
    gt = (rng.uniform(size=400) < 0.05).astype(float)
    # a perfect prediction: no error, no bias; twice the spikes: error = bias = 1
    assert M.cascade_error_bias(gt, gt, sigma=3) == (0.0, 0.0)
    assert M.cascade_error_bias(gt, 2 * gt, sigma=3) == pytest.approx((1.0, 1.0))
    assert M.cascade_error_bias(gt, 0 * gt, sigma=3) == pytest.approx((1.0, -1.0))
    pred = np.roll(gt, 2) * 0.7
    sg, sp = gaussian_filter1d(gt, 3), gaussian_filter1d(pred, 3)
    e, b = M.cascade_error_bias(gt, pred, sigma=3)
    assert e == pytest.approx(np.abs(sp - sg).sum() / sg.sum())
    assert b == pytest.approx(-0.3, abs=1e-9)  # smoothing preserves the sum (reflecting edges)


def test_cascade_error_bias_drops_frames_where_either_trace_is_nan():
    rng = np.random.default_rng(1)
    gt = (rng.uniform(size=300) < 0.08).astype(float)
    pred = np.roll(gt, 1) * 0.8 + 0.01
    gt_nan, pred_nan = gt.copy(), pred.copy()
    gt_nan[[5, 100]] = np.nan  # e.g. gaps in the ground truth
    pred_nan[200] = np.nan
    keep = np.ones(300, bool)
    keep[[5, 100, 200]] = False
    want = M.cascade_error_bias(gt[keep], pred[keep], sigma=2)
    got = M.cascade_error_bias(gt_nan, pred_nan, sigma=2)
    assert np.all(np.isfinite(got)) and got == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="every frame has NaN"):
        M.cascade_error_bias(np.full(4, np.nan), np.ones(4), sigma=1)


# ----------------------------------------------------------------- spike times


def _max_matching(t, p, tol):
    if len(t) == 0 or len(p) == 0:
        return 0
    ok = np.abs(t[:, None] - p[None, :]) <= tol
    rows, cols = linear_sum_assignment(-ok.astype(float))
    return int(ok[rows, cols].sum())


def test_spike_time_f1_matches_optimal_assignment(rng):
    for _ in range(200):
        t = np.sort(rng.uniform(0, 100, size=rng.integers(0, 15)))
        p = np.sort(rng.uniform(0, 100, size=rng.integers(0, 15)))
        tol = rng.uniform(0.5, 8)
        out = M.spike_time_f1(t, p, tolerance=tol)
        tp = _max_matching(t, p, tol)
        assert out["tp"] == tp
        if len(t) + len(p):
            assert out["f1"] == pytest.approx(2 * tp / (len(t) + len(p)))


def test_spike_time_f1_hand_computed():
    out = M.spike_time_f1([10.0, 20.0, 30.0], [11.0, 19.5, 50.0, 51.0], tolerance=1.0)
    assert (out["tp"], out["fp"], out["fn"]) == (2, 2, 1)
    assert out["precision"] == 0.5 and out["recall"] == pytest.approx(2 / 3)
    assert out["f1"] == pytest.approx(4 / 7)
    # one prediction between two true spikes matches only one of them
    assert M.spike_time_f1([0.0, 2.0], [1.0], tolerance=1.0)["tp"] == 1


def test_spikefinder_mean_leaves_out_undefined_cells_and_counts_them():
    rng = np.random.default_rng(0)
    t = [rng.poisson(0.2, 400).astype(float) for _ in range(3)]
    p = [t[0] + rng.normal(0, 0.3, 400), np.ones(400), t[2] + rng.normal(0, 1.0, 400)]
    s = M.spikefinder_scores(t, p)
    assert np.isnan(s.cells[1]) and s.n_undefined == 1
    assert s.mean == pytest.approx(np.mean([s.cells[0], s.cells[2]]))
    assert s.median == pytest.approx(np.median([s.cells[0], s.cells[2]]))
    assert np.isnan(M.spikefinder_scores(t[:1], p[1:2]).mean)
