"""ring-counts: predict the next 10 ms bin's spike counts of the 600-cell E/I ring from its past.

Data (``neurosim generate ring-counts``): ``counts`` (trials, bins, 600) spikes per bin and
``external`` (trials, bins, 600) the external input per bin, fresh Poisson input and initial
voltages per trial. The seed (a poster, ``shared/seeds/003_…``) cut each trial into overlapping
windows of the previous l bins of both (1,200 features per bin), trained an LSTM to predict the
next bin's 600 counts with MSE, and showed qualitative plots for one neuron.

Here: windows of ``window`` bins of [counts, external] (standardised per channel with
training-split statistics) → the next bin's 600 counts; the split is by whole trials (held-out
trials for validation and test, so no held-out window shares a frame with a training window).
``seed``: the poster's LSTM(128) with MSE. ``best``: a Poisson likelihood (the model outputs
log-rates) and a per-cell model (:mod:`neurolearn.models.percell`): the cells of a type share
one small filter of their own recent counts and input, and read an LSTM summary of the E and I
populations. Metrics per neuron-bin on held-out trials: MSE, Poisson deviance (predicted means
floored at ``min_rate`` so that a prediction of 0 where a spike occurred stays finite),
correlation of the population count, and the spread over held-out trials. Baselines on the same
windows: each cell's training mean, persistence (the last bin), and ridge autoregression on the
window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import metrics as M
from ..config import TrainConfig
from ..data.prepare import Examples
from ..data.readers import ArraySpec
from ..data.splits import split_groups
from ..data.windows import window_starts
from ..models.lstm import LSTMConfig
from .registry import Task, register

__all__ = ["RingCountsConfig", "RingCountsTask"]

LOSSES = ("mse", "poisson")


@dataclass(frozen=True)
class RingCountsConfig(TrainConfig):
    """ring-counts settings (defaults: the poster's experiment).

    Attributes:
        window: bins of history per example (l).
        loss: ``"mse"`` on counts (the seed) or ``"poisson"`` (negative log-likelihood; the
            model outputs log-rates).
        val_fraction, test_fraction: share of the trials held out for validation and test.
        min_rate: floor of predicted means in the Poisson deviance (counts per bin).
        ridge_lags: bins of all 1,200 channels the ridge baseline sees (the most recent ones);
            it also sees the E and I population sums of every bin of the window.
        n_examples_plot: consecutive held-out windows drawn in the report's figure.
    """

    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    eval_batch_size: int = 512
    # impl="vjp": the same LSTM with a hand-written backward pass (lstm.lstm_layer), 1.6x
    # faster per training step here: the 1,200-feature input projection dominates, and its
    # gradient becomes one matmul over all steps (benchmarks/results/lstm_impl_*.json)
    model: Any = LSTMConfig(hidden=(128,), readout="last", impl="vjp")
    window: int = 10
    loss: str = "mse"
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    min_rate: float = 1e-3
    ridge_lags: int = 2
    n_examples_plot: int = 200

    def __post_init__(self):
        super().__post_init__()
        if self.window < 1:
            raise ValueError(f"config window must be >= 1 bin, got {self.window}")
        if self.loss not in LOSSES:
            raise ValueError(f"config loss must be one of {LOSSES}, got {self.loss!r}")
        if not self.min_rate > 0:
            raise ValueError(f"config min_rate must be > 0, got {self.min_rate}")
        if self.ridge_lags < 1:
            raise ValueError(f"config ridge_lags must be >= 1, got {self.ridge_lags}")


class RingCountsTask(Task):
    name = "ring-counts"
    description = (
        "the E/I ring's spike counts and external input over the previous l bins -> the next "
        "bin's 600 counts (seed: the poster's LSTM; best: per-cell model); split by trial"
    )
    dataset = "ring-counts"
    Config = RingCountsConfig
    kind = "regression"
    monitor = ("val_poisson_deviance", "min")
    units = {
        "loss": "training loss",
        "mse": "spikes² per neuron-bin",
        "poisson_deviance": "per neuron-bin",
        "pop_corr": "",
    }
    presets = {
        # the poster: LSTM(128) on windows of 10 bins of counts and inputs, MSE
        "seed": {},
        # a Poisson likelihood (log-rate outputs) and a per-cell model: one small MLP per cell
        # type over each cell's own recent counts and input, plus an LSTM over the E and I
        # population means (neurolearn/models/percell.py)
        "best": {"loss": "poisson", "model": "percell", "epochs": 20, "schedule": "cosine"},
        # the quickstart: the per-cell model for a few epochs
        "small": {"loss": "poisson", "model": "percell", "epochs": 5},
    }

    def schema(self, cfg):
        return {
            "counts": ArraySpec(3, kind="iu", unit="spikes per bin"),
            "external": ArraySpec(3, kind="f", rows_as="counts", unit="input per bin"),
        }

    def load(self, path, cfg):
        ds = super().load(path, cfg)
        c, e = ds["counts"], ds["external"]
        if c.shape != e.shape:
            raise ValueError(
                f"{ds.source!r}: counts has shape {c.shape} but external has {e.shape}; both "
                "must be (trials, bins, cells)"
            )
        if np.any(c < 0):
            raise ValueError(f"{ds.source!r}: counts must be >= 0, got min {int(c.min())}")
        n_trials, n_bins = c.shape[:2]
        if n_bins < cfg.window + 1:
            raise ValueError(
                f"{ds.source!r} has {n_bins} bins per trial, too few for windows of "
                f"{cfg.window} bins and a next bin; use --config window=N with N < {n_bins}"
            )
        if n_trials < 3:
            raise ValueError(
                f"{ds.source!r} has {n_trials} trial(s); the split by trial needs at least 3 "
                "(training, validation, test); generate more with --trials"
            )
        return ds

    def examples(self, data, cfg):
        counts = np.asarray(data["counts"])
        n_trials, n_bins, n_cells = counts.shape
        frames_x = np.concatenate(
            [counts.astype(np.float32), np.asarray(data["external"], np.float32)], axis=-1
        ).reshape(n_trials * n_bins, 2 * n_cells)
        frames_y = counts.reshape(n_trials * n_bins, n_cells).astype(np.float32)
        series, start = window_starts(np.full(n_trials, n_bins), cfg.window, target="next")
        ex = Examples(
            {"x": frames_x, "y": frames_y},
            window=cfg.window,
            starts=series * n_bins + start,
            target="next",
            groups=series,
            x_unit="counts | input per bin",
            y_unit="spikes per bin",
            normalise_x=True,
            normalise_y=False,
        )
        return ex, None

    def split(self, ex, cfg, *, key):
        return split_groups(
            ex.groups, key=key, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction
        )

    def describe(self, data, ex, test, cfg):
        counts = data["counts"]
        return {
            "n_trials": int(counts.shape[0]),
            "bins_per_trial": int(counts.shape[1]),
            "n_cells": int(counts.shape[2]),
            "bin_ms": float(data.attrs.get("bin_ms", float("nan"))),
            "preset": data.attrs.get("preset"),
        }

    # ------------------------------------------------------------------ prediction on new data
    predict_key = "counts"

    def prediction_windows(self, cfg):
        return cfg.window, "next"

    def prediction_input(self, path, *, key, cfg):
        """Each trial of a ring-counts file as one trace of [counts, external] per bin."""
        from ..data.readers import frame_rate_of

        ds = super().load(path, cfg)
        x = np.concatenate(
            [np.asarray(ds["counts"], np.float32), np.asarray(ds["external"], np.float32)],
            axis=-1,
        )
        return list(x), frame_rate_of(ds.attrs)

    # ------------------------------------------------------------------ model and loss
    def init_model(self, model, prepared, cfg):
        """Start the read-out's bias at each cell's training mean count (its log for the
        Poisson loss), so that training starts from the mean-rate baseline."""
        readout = getattr(model, "readout", None)
        bias = getattr(readout, "bias", None)
        if bias is None or bias.shape != (prepared.out_features,):
            return
        mean = _training_mean(prepared.sources["train"], cfg.window)
        value = np.log(np.maximum(mean, cfg.min_rate)) if cfg.loss == "poisson" else mean
        readout.bias[...] = value.astype(np.float32)

    def example_loss(self, outputs, batch, cfg):
        import jax.numpy as jnp

        y = batch["y"]
        if cfg.loss == "poisson":  # outputs are log-rates; the y! term is constant
            return jnp.mean(jnp.exp(outputs) - y * outputs, axis=-1)
        return jnp.mean((outputs - y) ** 2, axis=-1)

    def predictions(self, outputs, cfg):
        import jax.numpy as jnp

        return jnp.exp(outputs) if cfg.loss == "poisson" else outputs

    # ------------------------------------------------------------------ evaluation
    def metrics(self, y_true, y_pred, cfg):
        pop_t, pop_p = y_true.sum(axis=-1), y_pred.sum(axis=-1)
        flat = [np.ptp(v) <= 1e-9 * max(1.0, float(np.abs(v).max())) for v in (pop_t, pop_p)]
        pop_corr = float("nan") if any(flat) else float(np.corrcoef(pop_t, pop_p)[0, 1])
        return {
            "mse": M.mse(y_true, y_pred),
            "poisson_deviance": M.poisson_deviance(y_true, np.maximum(y_pred, cfg.min_rate)),
            "pop_corr": pop_corr,
        }

    def evaluate(self, ev, split, cfg):
        out = super().evaluate(ev, split, cfg)
        pred, _ = ev.predict(split)
        y = ev.targets(split)
        groups = ev.groups(split)
        per_trial = [
            M.poisson_deviance(y[groups == g], np.maximum(pred[groups == g], cfg.min_rate))
            for g in np.unique(groups)
        ]
        out["poisson_deviance_trial_sd"] = float(np.std(per_trial))
        out["n_trials"] = float(len(per_trial))
        return out

    def baselines(self, prepared, cfg):
        """Each cell's training mean, persistence (the window's last bin) and ridge
        autoregression, on the same held-out windows as the model."""
        src = prepared.sources
        out: dict[str, dict[str, float]] = {}
        if "train" not in src:
            return out
        n_cells = prepared.out_features
        train = src["train"]
        rng = np.random.default_rng(cfg.seed)
        idx = np.arange(len(train))
        if len(idx) > 20_000:
            idx = np.sort(rng.choice(idx, 20_000, replace=False))
        bt = train.fetch(train.arrays, idx)
        mean = _training_mean(train, cfg.window)
        norm = prepared.normalisation.x
        held = {}
        for name in ("val", "test"):
            if name in src:
                s = src[name]
                held[name] = s.fetch(s.arrays, np.arange(len(s)))
        # ridge: its strength chosen on the validation split (the test split is not looked at)
        f = _features(bt["x"], cfg, n_cells)
        gram, rhs = f.T @ f, f.T @ np.asarray(bt["y"], np.float64)
        fv = _features(held["val"]["x"], cfg, n_cells)
        yv = np.asarray(held["val"]["y"], np.float64)
        fits = {a: _ridge(gram, rhs, a) for a in RIDGE_ALPHAS}
        alpha = min(fits, key=lambda a: M.mse(yv, fv @ fits[a]))
        for name, b in held.items():
            y = np.asarray(b["y"], np.float64)
            last_counts = norm.invert(np.asarray(b["x"])[:, -1, :])[:, :n_cells]
            last = np.clip(np.round(last_counts), 0, None)
            ridge = _features(b["x"], cfg, n_cells) @ fits[alpha]
            out[f"{name}_mean_rate"] = self.metrics(y, np.broadcast_to(mean, y.shape), cfg)
            out[f"{name}_persistence"] = self.metrics(y, last, cfg)
            out[f"{name}_ridge"] = {**self.metrics(y, ridge, cfg), "ridge_alpha": float(alpha)}
        return out

    def plot_examples(self, path, examples, cfg):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ex = examples.get("test") or examples["val"]
        y, p = ex["y"], ex["pred"]
        n_cells = y.shape[1]
        half = n_cells // 2
        # the busiest E and I cells of the stretch shown, and a median-rate E cell
        cells = [
            int(np.argmax(y[:, :half].sum(0))),
            int(np.argsort(y[:, :half].sum(0))[half // 2]),
            half + int(np.argmax(y[:, half:].sum(0))),
        ]
        t = np.arange(len(y))
        fig, axes = plt.subplots(len(cells) + 1, 1, figsize=(11, 2.0 * (len(cells) + 1)))
        a = axes[0]
        a.plot(t, y.sum(1), color="k", lw=1.0, label="population count (simulated)")
        a.plot(t, p.sum(1), color="tab:orange", lw=1.0, ls="--", label="model")
        a.set_ylabel("spikes / bin")
        a.legend(fontsize=8, loc="upper right", ncol=2)
        a.set_title(
            f"held-out trial, {len(y)} consecutive bins: population count (r = "
            f"{np.corrcoef(y.sum(1), p.sum(1))[0, 1]:.2f})",
            fontsize=9,
            loc="left",
        )
        for a, c in zip(axes[1:], cells, strict=True):
            kind = "E" if c < half else "I"
            a.bar(t, y[:, c], color="0.6", width=1.0, label="spikes")
            a.plot(t, p[:, c], color="tab:orange", lw=1.0, label="predicted mean")
            a.set_ylabel("spikes")
            a.set_title(f"{kind} cell {c}", fontsize=9, loc="left")
        axes[1].legend(fontsize=8, loc="upper right", ncol=2)
        axes[-1].set_xlabel("bin")
        fig.suptitle(f"ring-counts: {cfg.loss} loss", fontsize=11, x=0.02, ha="left")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


# ridge strengths tried on the validation split (features are standardised)
RIDGE_ALPHAS = tuple(10.0**k for k in range(8))


def _ridge(gram: np.ndarray, rhs: np.ndarray, alpha: float) -> np.ndarray:
    reg = alpha * np.eye(gram.shape[0])
    reg[-1, -1] = 0.0  # no penalty on the intercept
    return np.linalg.solve(gram + reg, rhs)


def _training_mean(train, window: int) -> np.ndarray:
    """Each cell's mean count over the target bins of the training windows."""
    starts = np.asarray(train.arrays["starts"], np.int64)
    return np.asarray(train.arrays["y"], np.float64)[starts + window].mean(axis=0)


def _features(x: np.ndarray, cfg, n_cells: int) -> np.ndarray:
    """Ridge features of windows x (B, l, 2n) (standardised): every channel of the last
    ``ridge_lags`` bins, the E and I sums of counts and inputs of every bin, and a constant."""
    x = np.asarray(x, np.float64)
    b = x.shape[0]
    half = n_cells // 2
    recent = x[:, -cfg.ridge_lags :, :].reshape(b, -1)
    pops = np.stack(
        [
            x[:, :, :half].mean(-1),
            x[:, :, half:n_cells].mean(-1),
            x[:, :, n_cells : n_cells + half].mean(-1),
            x[:, :, n_cells + half :].mean(-1),
        ],
        axis=-1,
    ).reshape(b, -1)
    return np.concatenate([recent, pops, np.ones((b, 1))], axis=1)


register(RingCountsTask())
