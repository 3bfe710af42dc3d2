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
    solver: str = "lbfgs",
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by L-BFGS (scipy) or Newton's method.

    Minimises ``Σ sᵢ [log(1 + e^{zᵢ}) − yᵢ zᵢ] + (l2/2)·‖w‖²`` with ``z = x w + b`` (the
    intercept is not penalised): scikit-learn's ``LogisticRegression(C=1/l2)`` objective
    (with ``sample_weight``).

    Args:
        solver: ``"lbfgs"`` (scipy L-BFGS-B; ``tol`` is its ``gtol``) or ``"newton"`` (the
            exact Hessian, a (features + 1)² system per step, with a backtracking line search;
            stops when the largest gradient entry is below ``tol`` times the total weight, or
            after ``max_iter`` steps): the same minimum, far fewer passes over ``x`` when
            features are many and correlated (e.g. a VAE's latents).

    Returns:
        ``(w, b)``: weights (features,) and intercept.
    """
    from scipy.optimize import minimize
    from scipy.special import expit

    if solver not in ("lbfgs", "newton"):
        raise ValueError(f"solver must be 'lbfgs' or 'newton', got {solver!r}")
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    s = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, np.float64)
    n_f = x.shape[1]
    if solver == "newton":
        return _newton_logistic(x, y, s, l2=l2, max_iter=min(max_iter, 200), tol=tol)

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


def _newton_logistic(x, y, s, *, l2, max_iter, tol) -> tuple[np.ndarray, float]:
    from scipy.special import expit

    n_f = x.shape[1]
    xa = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    pen = np.full(n_f + 1, float(l2))
    pen[-1] = 0.0
    p = float(np.clip(np.sum(s * y) / np.sum(s), 1e-6, 1 - 1e-6))
    theta = np.zeros(n_f + 1)
    theta[-1] = np.log(p / (1 - p))

    def loss(th):
        z = xa @ th
        return float(np.sum(s * (np.logaddexp(0.0, z) - y * z)) + 0.5 * np.dot(pen * th, th))

    f = loss(theta)
    for _ in range(max_iter):
        z = xa @ theta
        q = expit(z)
        g = xa.T @ (s * (q - y)) + pen * theta
        if np.max(np.abs(g)) <= tol * np.sum(s):
            break
        h = (xa * (s * q * (1 - q))[:, None]).T @ xa + np.diag(pen)
        h[np.diag_indices_from(h)] += 1e-12 * max(1.0, float(np.trace(h)) / len(h))
        step = np.linalg.solve(h, g)
        t = 1.0
        while True:  # backtracking (Armijo)
            cand = theta - t * step
            fc = loss(cand)
            if fc <= f - 1e-4 * t * np.dot(g, step) or t < 1e-10:
                break
            t *= 0.5
        if t < 1e-10:
            break
        theta, f = cand, fc
    return theta[:n_f], float(theta[n_f])
