"""Metrics for regression, binary classification, spike-rate inference and spike times.

Every function takes NumPy-compatible arrays (JAX arrays are converted), works on the host in
float64 and returns Python floats (or small arrays), so results do not depend on the device.
Definitions follow scikit-learn where it has the same metric (the tests compare against it) and
the Spikefinder challenge (Berens et al. 2018) and CASCADE (Rupprecht et al. 2021) otherwise;
``docs/metrics.md`` states each formula.

Shapes: ``y_true`` and ``y_pred`` of regression metrics may have any shape (all elements are
pooled); classification metrics take 1-D labels (0/1) and scores (any real number; larger means
"more likely 1").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "mse",
    "rmse",
    "explained_variance",
    "r2",
    "poisson_deviance",
    "accuracy",
    "balanced_accuracy",
    "confusion_matrix",
    "roc_auc",
    "pr_auc",
    "precision_recall_f1",
    "f1_at_threshold",
    "best_f1",
    "binary_scores",
    "spikefinder_correlation",
    "spikefinder_scores",
    "SpikefinderScores",
    "cascade_error_bias",
    "spike_time_f1",
]


def _pair(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"{name}: y_true has shape {t.shape} but y_pred has shape {p.shape}")
    if t.size == 0:
        raise ValueError(f"{name}: no values to score")
    return t, p


# --------------------------------------------------------------------------- regression


def mse(y_true, y_pred) -> float:
    """Mean squared error, ``mean((y_true - y_pred)**2)`` over all elements (units²)."""
    t, p = _pair(y_true, y_pred, "mse")
    return float(np.mean((t - p) ** 2))


def rmse(y_true, y_pred) -> float:
    """Root mean squared error (the units of ``y``)."""
    return float(np.sqrt(mse(y_true, y_pred)))


def explained_variance(y_true, y_pred) -> float:
    """Explained variance ``1 - Var(y_true - y_pred) / Var(y_true)`` over all elements.

    As scikit-learn's ``explained_variance_score`` on flattened arrays; a constant bias in the
    prediction does not lower it (use :func:`r2` for that).
    """
    t, p = _pair(y_true, y_pred, "explained_variance")
    var = np.var(t)
    if var == 0:
        raise ValueError("explained_variance: y_true is constant (variance 0)")
    return float(1.0 - np.var(t - p) / var)


def r2(y_true, y_pred) -> float:
    """Coefficient of determination ``1 - Σ(y_true - y_pred)² / Σ(y_true - mean)²``."""
    t, p = _pair(y_true, y_pred, "r2")
    ss_tot = np.sum((t - t.mean()) ** 2)
    if ss_tot == 0:
        raise ValueError("r2: y_true is constant (variance 0)")
    return float(1.0 - np.sum((t - p) ** 2) / ss_tot)


def poisson_deviance(y_true, y_pred) -> float:
    """Mean Poisson deviance ``mean(2 (y log(y/μ) - y + μ))`` with ``0 log 0 = 0``.

    Args:
        y_true: counts (≥ 0).
        y_pred: predicted means μ (> 0).

    As scikit-learn's ``mean_poisson_deviance``.
    """
    t, p = _pair(y_true, y_pred, "poisson_deviance")
    if np.any(t < 0):
        raise ValueError(f"poisson_deviance: y_true must be >= 0, got min {t.min()}")
    if np.any(p <= 0):
        raise ValueError(f"poisson_deviance: y_pred must be > 0, got min {p.min()}")
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(t > 0, t * np.log(t / p), 0.0)
    return float(np.mean(2.0 * (term - t + p)))


# --------------------------------------------------------------------------- classification


def _labels(y, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{name}: expected 1-D labels, got shape {y.shape}")
    if y.dtype == bool:
        return y.astype(np.int64)
    bad = ~np.isin(y, (0, 1))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}: labels must be 0 or 1, got {y[i]!r} (at index {i})")
    return y.astype(np.int64)


def _labels_scores(y_true, scores, name: str) -> tuple[np.ndarray, np.ndarray]:
    t = _labels(y_true, name)
    s = np.asarray(scores, dtype=np.float64)
    if s.shape != t.shape:
        raise ValueError(f"{name}: labels have shape {t.shape} but scores have shape {s.shape}")
    if not np.all(np.isfinite(s)):
        raise ValueError(f"{name}: scores contain NaN or infinity")
    return t, s


def confusion_matrix(y_true, y_pred) -> np.ndarray:
    """2×2 counts ``[[TN, FP], [FN, TP]]`` (rows: truth 0/1, columns: prediction 0/1)."""
    t = _labels(y_true, "confusion_matrix")
    p = _labels(y_pred, "confusion_matrix")
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: {t.shape} labels but {p.shape} predictions")
    cm = np.zeros((2, 2), dtype=np.int64)
    np.add.at(cm, (t, p), 1)
    return cm


def accuracy(y_true, y_pred) -> float:
    """Fraction of predictions equal to the labels."""
    cm = confusion_matrix(y_true, y_pred)
    return float(np.trace(cm) / cm.sum())


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean of the recall of each class present in ``y_true`` (0.5 = chance)."""
    cm = confusion_matrix(y_true, y_pred)
    per_class = cm.sum(axis=1)
    present = per_class > 0
    recalls = np.diag(cm)[present] / per_class[present]
    return float(np.mean(recalls))


def precision_recall_f1(y_true, y_pred) -> tuple[float, float, float]:
    """Precision, recall and F1 of class 1 (0 where undefined, as scikit-learn's default)."""
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return float(precision), float(recall), float(f1)


def f1_at_threshold(y_true, scores, threshold: float = 0.5) -> float:
    """F1 of class 1 when ``scores >= threshold`` is predicted positive."""
    t, s = _labels_scores(y_true, scores, "f1_at_threshold")
    return precision_recall_f1(t, (s >= threshold).astype(np.int64))[2]


def best_f1(y_true, scores) -> tuple[float, float]:
    """The highest F1 over all thresholds, and the threshold that gives it.

    Every distinct score is tried as a threshold (positive if ``score >= threshold``).

    Returns:
        ``(f1, threshold)``. With no positive label, ``(0.0, inf)``.
    """
    t, s = _labels_scores(y_true, scores, "best_f1")
    n_pos = int(t.sum())
    if n_pos == 0:
        return 0.0, float("inf")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    tp = np.cumsum(t_sorted)
    fp = np.cumsum(1 - t_sorted)
    # the last index of each run of equal scores: threshold = that score
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), len(s_sorted) - 1]
    tp, fp = tp[last], fp[last]
    fn = n_pos - tp
    f1 = 2 * tp / (2 * tp + fp + fn)
    i = int(np.argmax(f1))
    return float(f1[i]), float(s_sorted[last[i]])


def roc_auc(y_true, scores) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random
    negative, ties counting one half (Mann–Whitney U / (n₁ n₀)).

    Raises:
        ValueError: only one class is present.
    """
    from scipy.stats import rankdata

    t, s = _labels_scores(y_true, scores, "roc_auc")
    n1 = int(t.sum())
    n0 = t.size - n1
    if n1 == 0 or n0 == 0:
        raise ValueError(f"roc_auc: needs both classes, got {n1} positives and {n0} negatives")
    ranks = rankdata(s)  # average ranks for ties
    u = ranks[t == 1].sum() - n1 * (n1 + 1) / 2
    return float(u / (n1 * n0))


def pr_auc(y_true, scores) -> float:
    """Area under the precision–recall curve as average precision ``Σ (R_k − R_{k−1}) P_k``
    over distinct thresholds (scikit-learn's ``average_precision_score``; no interpolation).

    The value for a classifier that guesses is the base rate (fraction of 1s).

    Raises:
        ValueError: no positive label.
    """
    t, s = _labels_scores(y_true, scores, "pr_auc")
    n_pos = int(t.sum())
    if n_pos == 0:
        raise ValueError("pr_auc: no positive labels, precision-recall is undefined")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, t_sorted = s[order], t[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted) != 0), len(s_sorted) - 1]
    tp = np.cumsum(t_sorted)[last]
    fp = np.cumsum(1 - t_sorted)[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    recall_prev = np.r_[0.0, recall[:-1]]
    return float(np.sum((recall - recall_prev) * precision))


def binary_scores(y_true, scores, *, threshold: float = 0.5) -> dict[str, float]:
    """The detection tasks' summary of labels (0/1) and scores (P(y = 1)): ``base_rate``,
    ``accuracy`` and ``balanced_accuracy`` at ``threshold``, ``roc_auc``, ``pr_auc`` (the
    last two NaN when the labels hold one class only)."""
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(scores, np.float64)

    def defined(fn) -> float:
        try:
            return float(fn(y, p))
        except ValueError:  # one class only
            return float("nan")

    return {
        "base_rate": float(y.mean()),
        "accuracy": accuracy(y, p >= threshold),
        "balanced_accuracy": balanced_accuracy(y, p >= threshold),
        "roc_auc": defined(roc_auc),
        "pr_auc": defined(pr_auc),
    }


# --------------------------------------------------------------------------- spike inference


def _downsample(x: np.ndarray, factor: int) -> np.ndarray:
    """Sum non-overlapping groups of ``factor`` frames (Spikefinder: ``convolve(x, ones(f),
    'valid')[::f]``; an incomplete last group is dropped)."""
    if factor < 2:
        return x
    return np.convolve(x, np.ones(factor), "valid")[::factor]


def spikefinder_correlation(truth, prediction, *, downsample: int = 4) -> float:
    """The Spikefinder correlation of one cell.

    Drop frames where either trace is NaN (after cutting both to the shorter length), sum
    non-overlapping groups of ``downsample`` frames (4 at 100 Hz → 25 Hz, 40 ms bins), cut both
    to the shorter length, Pearson r.

    Args:
        truth: spike counts per frame, shape (T,).
        prediction: predicted rate (any scale), shape (T',).
        downsample: frames per bin (4 → 25 Hz, 8 → 12.5 Hz, 16 → 6.25 Hz at 100 Hz).

    Returns:
        r; NaN when either binned trace is constant.
    """
    x = np.asarray(truth, dtype=np.float64).ravel()
    y = np.asarray(prediction, dtype=np.float64).ravel()
    if downsample < 1:
        raise ValueError(f"downsample must be >= 1, got {downsample}")
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    ok = ~(np.isnan(x) | np.isnan(y))
    x = _downsample(x[ok], downsample)
    y = _downsample(y[ok], downsample)
    n = min(len(x), len(y))
    x, y = x[:n], y[:n]
    if n < 2:
        raise ValueError(f"spikefinder_correlation: only {n} bins left to correlate")
    if np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


@dataclass(frozen=True)
class SpikefinderScores:
    """Per-cell Spikefinder correlations of one recording.

    Attributes:
        cells: r per cell, in column order (NaN where r is undefined: a constant trace).
        mean: mean over the cells whose r is defined (the paper's summary).
        median: median over those cells (the leaderboard's, per dataset).
        downsample: frames per bin used.
        n_undefined: cells whose r is undefined (left out of the mean and median).
    """

    cells: tuple[float, ...]
    mean: float
    median: float
    downsample: int
    n_undefined: int = 0

    def to_json(self) -> dict:
        """``{"cells": [...], "mean": r}``: the ``neurolearn score --json`` output."""
        return {"cells": list(self.cells), "mean": self.mean}


def spikefinder_scores(truth_cells, prediction_cells, *, downsample: int = 4) -> SpikefinderScores:
    """Spikefinder correlation of every cell (column) and their mean and median over the cells
    whose r is defined (a constant trace has none; ``n_undefined`` counts them).

    Args:
        truth_cells: one 1-D spike-count array per cell.
        prediction_cells: one 1-D prediction per cell, same number of cells.
        downsample: frames per bin (see :func:`spikefinder_correlation`).
    """
    if len(truth_cells) != len(prediction_cells):
        raise ValueError(
            f"truth has {len(truth_cells)} cells but the prediction has {len(prediction_cells)}"
        )
    if not truth_cells:
        raise ValueError("no cells to score")
    r = tuple(
        spikefinder_correlation(t, p, downsample=downsample)
        for t, p in zip(truth_cells, prediction_cells, strict=True)
    )
    arr = np.asarray(r)
    ok = np.isfinite(arr)
    if not ok.any():
        return SpikefinderScores(r, float("nan"), float("nan"), downsample, len(r))
    return SpikefinderScores(
        r, float(np.mean(arr[ok])), float(np.median(arr[ok])), downsample, int((~ok).sum())
    )


def cascade_error_bias(truth, prediction, *, sigma: float) -> tuple[float, float]:
    """CASCADE's error and bias (Rupprecht et al. 2021) of one cell.

    Both traces are smoothed with a Gaussian of standard deviation ``sigma`` frames
    (``scipy.ndimage.gaussian_filter1d``, reflecting edges, as CASCADE's benchmark script), over
    the frames where neither trace is NaN (frames where either is NaN are dropped first, as in
    :func:`spikefinder_correlation`). Then

        error = Σ|pred − gt| / Σgt,    bias = Σ(pred − gt) / Σgt.

    Args:
        truth: spike counts per frame (or rate), shape (T,).
        prediction: predicted spikes per frame, same shape and units.
        sigma: smoothing in frames (CASCADE: smoothing time in s × frame rate in Hz).

    Returns:
        ``(error, bias)``: bias > 0 means too many spikes predicted.
    """
    from scipy.ndimage import gaussian_filter1d

    t, p = _pair(np.ravel(truth), np.ravel(prediction), "cascade_error_bias")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive (frames), got {sigma}")
    keep = ~(np.isnan(t) | np.isnan(p))
    t, p = t[keep], p[keep]
    if t.size == 0:
        raise ValueError("cascade_error_bias: every frame has NaN in the truth or the prediction")
    gt = gaussian_filter1d(t, sigma)
    pr = gaussian_filter1d(p, sigma)
    signal = gt.sum()
    if signal <= 0:
        raise ValueError("cascade_error_bias: the ground truth has no spikes")
    diff = pr - gt
    return float(np.abs(diff).sum() / signal), float(diff.sum() / signal)


def spike_time_f1(true_times, predicted_times, *, tolerance: float) -> dict[str, float]:
    """Match predicted spike times to true ones within ``±tolerance`` and score the matching.

    Each true spike matches at most one predicted spike and vice versa; the matching has the
    largest possible number of pairs (a greedy sweep over sorted times is optimal for intervals
    of equal width).

    Args:
        true_times: true spike times (any unit), shape (n,).
        predicted_times: predicted spike times, same unit, shape (m,).
        tolerance: the largest |t_pred − t_true| that counts as a hit, same unit.

    Returns:
        ``{"precision", "recall", "f1", "tp", "fp", "fn"}``; precision, recall and F1 are 0
        where undefined, except that no true and no predicted spike scores F1 = 1.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    t = np.sort(np.asarray(true_times, dtype=np.float64).ravel())
    p = np.sort(np.asarray(predicted_times, dtype=np.float64).ravel())
    if np.any(np.isnan(t)) or np.any(np.isnan(p)):
        raise ValueError("spike_time_f1: spike times contain NaN")
    i = j = tp = 0
    while i < len(t) and j < len(p):
        if p[j] < t[i] - tolerance:
            j += 1
        elif p[j] > t[i] + tolerance:
            i += 1
        else:
            tp += 1
            i += 1
            j += 1
    fp, fn = len(p) - tp, len(t) - tp
    if len(t) == 0 and len(p) == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 0, "fp": 0, "fn": 0}
    precision = tp / len(p) if len(p) else 0.0
    recall = tp / len(t) if len(t) else 0.0
    f1 = 2 * tp / (len(p) + len(t))
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}
