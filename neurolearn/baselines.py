"""Simple models that the tasks' baselines share."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_logistic", "balanced_weights"]


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Per-example weights ``n / (2 n_class)``: both classes weigh the same (scikit-learn's
    ``class_weight="balanced"``)."""
    y = np.asarray(y, np.float64)
    n, n1 = len(y), y.sum()
    return np.where(y > 0.5, n / (2 * n1), n / (2 * (n - n1)))


def fit_logistic(
    x: np.ndarray,
    y: np.ndarray,
    *,
    l2: float,
    sample_weight: np.ndarray | None = None,
    max_iter: int = 5000,
    tol: float = 1e-8,
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by L-BFGS (scipy).

    Minimises ``Σ sᵢ [log(1 + e^{zᵢ}) − yᵢ zᵢ] + (l2/2)·‖w‖²`` with ``z = x w + b`` (the
    intercept is not penalised): scikit-learn's ``LogisticRegression(C=1/l2)`` objective
    (with ``sample_weight``).

    Returns:
        ``(w, b)``: weights (features,) and intercept.
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    n_f = x.shape[1]

    def fun(theta):
        w, b = theta[:n_f], theta[n_f]
        z = x @ w + b
        loss = np.sum(s * (np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * np.dot(w, w)
        r = s * (expit(z) - y)
        return loss, np.concatenate([x.T @ r + l2 * w, [r.sum()]])

    p = float(np.clip(np.sum(s * y) / np.sum(s), 1e-6, 1 - 1e-6))
    theta0 = np.concatenate([np.zeros(n_f), [np.log(p / (1 - p))]])
    res = minimize(
        fun,
        theta0,
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iter, "gtol": tol, "ftol": 1e-12},
    )
    return res.x[:n_f], float(res.x[n_f])
