"""Small synthetic files with the layout of neurosim datasets, for tests and smoke runs.

These are *not* simulations: :func:`write_toy_hh_voltage` makes an ``hh-voltage``-layout file
whose voltage is a known function of the current (a short causal linear filter followed by a
tanh), so that a small CNN can learn it and a test can check that training really reduces the
validation error. The file says so in its ``toy`` and ``generator`` attributes.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["toy_hh_voltage_arrays", "write_toy_hh_voltage", "snapshot"]


def _ou(n: int, t: int, rng: np.random.Generator, *, tau_ms: float, sd_pA: float) -> np.ndarray:
    a = np.exp(-1.0 / tau_ms)
    noise = rng.standard_normal((n, t)) * sd_pA * np.sqrt(1 - a * a)
    x = np.empty((n, t))
    x[:, 0] = rng.standard_normal(n) * sd_pA
    for k in range(1, t):
        x[:, k] = a * x[:, k - 1] + noise[:, k]
    return x


def toy_hh_voltage_arrays(
    n: int, t: int, *, seed: int, tau_ms: float = 20.0, sd_pA: float = 177.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(X, Y)`` of shape (n, t, 1): an OU-like current (pA) and a "voltage" (mV).

    ``Y = -65 + 2 tanh(u / 250)``, ``u`` = X filtered by a causal exponential kernel (τ = 3 ms,
    8 taps, unit gain): inside the receptive field of the hh-voltage CNN.
    """
    rng = np.random.default_rng(seed)
    x = _ou(n, t + 50, rng, tau_ms=tau_ms, sd_pA=sd_pA)
    h = np.exp(-np.arange(8) / 3.0)
    h /= h.sum()
    u = np.zeros_like(x)
    for lag, w in enumerate(h):
        u[:, lag:] += w * x[:, : x.shape[1] - lag]
    y = -65.0 + 2.0 * np.tanh(u / 250.0)
    return x[:, 50:, None].astype(np.float32), y[:, 50:, None].astype(np.float32)


def write_toy_hh_voltage(
    path: str | os.PathLike,
    *,
    n_train: int = 200,
    n_test: int = 2,
    length: int = 200,
    test_length: int = 1000,
    seed: int = 0,
) -> Path:
    """Write a toy file with the ``hh-voltage`` layout: X, Y (n_train, length, 1), X_test,
    Y_test (n_test, test_length, 1), attrs ``dataset="hh-voltage"``, ``dt_sample_ms=1.0``,
    ``toy=True``."""
    import h5py

    path = Path(path)
    X, Y = toy_hh_voltage_arrays(n_train, length, seed=seed)
    Xt, Yt = toy_hh_voltage_arrays(n_test, test_length, seed=seed + 1)
    with h5py.File(path, "w") as f:
        for k, v in (("X", X), ("Y", Y), ("X_test", Xt), ("Y_test", Yt)):
            f.create_dataset(k, data=v)
        f.attrs["dataset"] = "hh-voltage"
        f.attrs["dt_sample_ms"] = 1.0
        f.attrs["seed"] = seed
        f.attrs["toy"] = True
        f.attrs["generator"] = "neurolearn.testing.write_toy_hh_voltage (not a simulation)"
    return path


def snapshot(folder: str | os.PathLike) -> dict[str, tuple[int, str]]:
    """``{relative path: (mtime_ns, sha256)}`` of every file under ``folder``: compare two
    snapshots to check that nothing was written."""
    import hashlib

    folder = Path(folder)
    return {
        str(p.relative_to(folder)): (
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
