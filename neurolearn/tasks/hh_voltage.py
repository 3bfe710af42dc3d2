"""hh-voltage: predict a Hodgkin–Huxley neuron's subthreshold voltage from its input current.

Data (``neurosim generate hh-voltage``): ``X`` (N, 1000, 1) input current in pA and ``Y``
(N, 1000, 1) membrane voltage in mV, 1 ms samples; ``X_test``, ``Y_test`` (M, 10000, 1) longer
traces. The seed (a Keras notebook) trained a Conv1D network (2/6/16 channels, kernels 11/5/1,
'same' padding, ReLU, L2 0.01 on kernels and biases, a per-step Dense(1); 219 parameters) with
Adam 1e-3, MSE, batch 100 for 100 epochs on all but the last 500 traces, and reported a
validation MSE ≈ 0.112 mV² (≈ 4 % of Var V).

Here: the same model and training (the defaults, preset ``seed``), split by trace (the last
``n_val`` traces, 5 % by default, validate: traces are independent trials, so nothing leaks),
metrics in mV on the validation traces and on the 10 s test traces, and two baselines (the
training mean; a linear filter with the model's receptive field fitted by least squares).
``model.causal=true`` (preset ``best``) pads on the left only (the prediction at t uses the
current up to t). Deviation from the seed: inputs and targets are
standardised with training-split statistics by default (``normalise=false`` trains on raw pA/mV as
the seed did); the L2 penalty then acts on weights in normalised units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import metrics as M
from ..config import TrainConfig
from ..data.prepare import Examples
from ..data.readers import ArraySpec
from ..data.splits import split_last
from ..data.windows import WindowSource, window_starts
from ..models import describe_model
from ..models.cnn import CNNConfig
from .registry import Task, register

__all__ = ["HHVoltageConfig", "HHVoltageTask"]


@dataclass(frozen=True)
class HHVoltageConfig(TrainConfig):
    """hh-voltage settings (defaults: the seed's experiment).

    Attributes:
        model: the model (default: the seed's Conv1D, 2/6/16 channels, kernels 11/5/1, 'same'
            padding; ``model.causal=true`` pads on the left only).
        l2, l2_params: Keras ``l2(0.01)`` on the convolution kernels and biases (not the
            read-out).
        n_val: the last ``n_val`` traces validate (None: ``val_fraction`` of them).
        val_fraction: share of the traces that validate when ``n_val`` is None (the seed: 500 of
            10,000).
        normalise: standardise X and Y with training-split statistics.
        window: train on windows of this many ms cut from the training traces (None: whole
            traces, as the seed). Must be at least the receptive field.
        window_stride: ms between window starts (default: ``window // 2``).
        n_examples_plot: validation traces shown in the report's figure.
    """

    epochs: int = 100
    batch_size: int = 100
    learning_rate: float = 1e-3
    eval_batch_size: int = 100
    model: Any = CNNConfig()
    l2: float = 0.01
    l2_params: str = "^convs/"
    n_val: int | None = None
    val_fraction: float = 0.05
    normalise: bool = True
    window: int | None = None
    window_stride: int | None = None
    n_examples_plot: int = 3

    def __post_init__(self):
        super().__post_init__()
        if self.n_val is not None and self.n_val < 1:
            raise ValueError(f"config n_val must be >= 1 or null, got {self.n_val}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"config val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.window is not None and self.window < 1:
            raise ValueError(f"config window must be >= 1 or null, got {self.window}")
        if self.window_stride is not None and self.window_stride < 1:
            raise ValueError(f"config window_stride must be >= 1, got {self.window_stride}")


def _lagged(x: np.ndarray, lags: range) -> np.ndarray:
    """(N, T) → (N, T, len(lags)+1): x shifted by each lag (zero padded) and a constant 1."""
    n, t = x.shape
    out = np.zeros((n, t, len(lags) + 1))
    for j, lag in enumerate(lags):
        if lag >= 0:
            out[:, lag:, j] = x[:, : t - lag]
        else:
            out[:, : t + lag, j] = x[:, -lag:]
    out[..., -1] = 1.0
    return out


class HHVoltageTask(Task):
    name = "hh-voltage"
    description = (
        "Conv1D (219 params): HH input current (pA) -> subthreshold voltage (mV), "
        "1 ms steps; causal variant: preset best (model.causal=true)"
    )
    dataset = "hh-voltage"
    Config = HHVoltageConfig
    kind = "regression"
    monitor = ("val_rmse", "min")
    units = {
        "loss": "normalised MSE",
        "rmse": "mV",
        "mse": "mV²",
        "explained_variance": "",
        "r2": "",
    }
    frame_rate_hz = 1000.0
    predict_key = "X"
    presets = {
        # the notebook: Conv1D 2/6/16, kernels 11/5/1, 'same', L2 0.01, Adam 1e-3, batch 100,
        # 100 epochs, the last 5 % of the traces validate (500 of 10,000)
        "seed": {},
        # the same network with causal padding (the prediction at t uses the current up to t)
        # and a ten times larger learning rate
        "best": {"model.causal": True, "learning_rate": 1e-2},
        # the quickstart: best for 40 epochs
        "small": {"model.causal": True, "learning_rate": 1e-2, "epochs": 40},
    }

    def schema(self, cfg):
        return {
            "X": ArraySpec(3, (1,), kind="f", unit="pA"),
            "Y": ArraySpec(3, (1,), kind="f", rows_as="X", unit="mV"),
            "X_test": ArraySpec(3, (1,), kind="f", optional=True, unit="pA"),
            "Y_test": ArraySpec(3, (1,), kind="f", rows_as="X_test", optional=True, unit="mV"),
        }

    def load(self, path, cfg):
        ds = super().load(path, cfg)
        for a, b in (("X", "Y"), ("X_test", "Y_test")):
            if (a in ds.arrays) != (b in ds.arrays):
                raise ValueError(
                    f"{ds.source!r} has {a if a in ds.arrays else b} but not "
                    f"{b if a in ds.arrays else a}"
                )
            if a in ds.arrays and ds[a].shape != ds[b].shape:
                raise ValueError(
                    f"{ds.source!r}: {a} has shape {ds[a].shape} but {b} has {ds[b].shape}; "
                    "current and voltage must have one sample per step each"
                )
        dt = float(
            next(
                (
                    ds.attrs[k]
                    for k in ("config.sample_ms", "dt_sample_ms", "sample_ms")
                    if k in ds.attrs
                ),
                1.0,
            )
        )
        if not np.isclose(dt, 1.0):
            raise ValueError(f"{ds.source!r} is sampled every {dt} ms; hh-voltage models use 1 ms")
        return ds

    def examples(self, data, cfg):
        ex = Examples(
            {"x": data["X"], "y": data["Y"]},
            x_unit="pA",
            y_unit="mV",
            normalise_x=cfg.normalise,
            normalise_y=cfg.normalise,
        )
        test = None
        if "X_test" in data.arrays:
            test = Examples({"x": data["X_test"], "y": data["Y_test"]})
        return ex, test

    def split(self, ex, cfg, *, key):
        n = len(ex)
        n_val = cfg.n_val if cfg.n_val is not None else max(1, round(cfg.val_fraction * n))
        if n_val >= n:
            raise ValueError(
                f"config n_val={n_val} leaves no training traces: the file has {n} traces; use "
                f"--config n_val=N with N < {n} (the seed used 500 of 10000)"
            )
        return split_last(n, n_val)

    def describe(self, data, ex, test, cfg):
        x = ex.arrays["x"]
        return {
            "trace_ms": int(x.shape[1]),
            "n_traces": int(len(x)),
            "n_test_traces": int(len(test)) if test is not None else 0,
            "test_trace_ms": int(test.arrays["x"].shape[1]) if test is not None else 0,
            "test_source": (
                f"X_test/Y_test: {len(test)} traces × {test.arrays['x'].shape[1]} ms, "
                "predicted whole"
                if test is not None
                else None
            ),
            "window": cfg.window,
        }

    def prepare(self, data, cfg, *, key, normalisation=None, whole=False):
        prepared = super().prepare(data, cfg, key=key, normalisation=normalisation, whole=whole)
        train = prepared.sources.get("train")
        if cfg.window is not None and train is not None:
            x, y = train.arrays["x"], train.arrays["y"]
            n, t = x.shape[:2]
            if cfg.window > t:
                raise ValueError(f"config window {cfg.window} is longer than the traces ({t} ms)")
            stride = cfg.window_stride or max(1, cfg.window // 2)
            series, start = window_starts(
                np.full(n, t), cfg.window, stride=stride, target="sequence"
            )
            prepared.sources["train"] = WindowSource(
                {
                    "x": x.reshape(-1, x.shape[-1]),
                    "y": y.reshape(-1, y.shape[-1]),
                    "starts": (series * t + start).astype(np.int32),
                },
                cfg.window,
                "sequence",
            )
        if train is not None:
            prepared.info["n_train_examples"] = len(prepared.sources["train"])
        return prepared

    def example_loss(self, outputs, batch, cfg):
        import jax.numpy as jnp

        return jnp.mean((outputs - batch["y"]) ** 2, axis=(1, 2))

    def metrics(self, y_true, y_pred, cfg):
        return {
            "rmse": M.rmse(y_true, y_pred),
            "mse": M.mse(y_true, y_pred),
            "explained_variance": M.explained_variance(y_true, y_pred),
            "r2": M.r2(y_true, y_pred),
        }

    def baselines(self, prepared, cfg):
        """The training mean, and a least-squares linear filter with the model's receptive field
        (same look-ahead as the model: centred for 'same', past only when causal)."""
        norm = prepared.normalisation
        src = prepared.sources

        def raw(name, key):
            a = src[name].arrays[key]
            if key == "x":
                return norm.x.invert(a) if norm.x else np.asarray(a, np.float64)
            return norm.invert_y(a)

        tr = src["train"]
        if isinstance(tr, WindowSource):  # windows: recover the whole training traces
            t = None
            xt = raw("train", "x")[:, 0]
            yt = raw("train", "y")[:, 0]
        else:
            xt, yt = raw("train", "x")[..., 0], raw("train", "y")[..., 0]
            t = xt.shape[1]
        if t is None:
            t = int(prepared.info["trace_ms"])
            xt, yt = xt.reshape(-1, t), yt.reshape(-1, t)
        model = cfg.model
        rf = 1 + sum(k - 1 for k in getattr(model, "kernels", (15,)))
        causal = getattr(model, "causal", True)
        lags = range(0, rf) if causal else range(-(rf // 2), rf - rf // 2)
        rows = min(len(xt), max(1, 2_000_000 // t))  # least squares on ≤ 2M samples
        A = _lagged(xt[:rows], lags).reshape(-1, len(lags) + 1)
        coef, *_ = np.linalg.lstsq(A, yt[:rows].reshape(-1), rcond=None)
        mean = float(yt.mean())
        out: dict[str, dict[str, float]] = {}
        for name in ("val", "test"):
            if name not in src:
                continue
            x, y = raw(name, "x")[..., 0], raw(name, "y")[..., 0]
            lin = _lagged(x, lags) @ coef
            out[f"{name}_mean"] = self.metrics(y, np.full_like(y, mean), cfg)
            out[f"{name}_linear_filter"] = self.metrics(y, lin, cfg)
        return out

    def plot_examples(self, path, examples, cfg):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        val = examples["val"]
        test = examples.get("test")
        n = len(val["x"])
        rows = n + (2 if test is not None else 0)
        fig, axes = plt.subplots(
            rows,
            2,
            figsize=(11, 2.0 * rows + 0.6),
            gridspec_kw={"width_ratios": [1, 2]},
            squeeze=False,
        )
        t = np.arange(val["x"].shape[1])
        for i in range(n):
            a, b = axes[i]
            a.plot(t, val["x"][i, :, 0], color="0.35", lw=0.8)
            a.set_ylabel("I (pA)")
            b.plot(t, val["y"][i, :, 0], color="k", lw=1.2, label="simulated V")
            b.plot(
                t, val["pred"][i, :, 0], color="tab:orange", lw=1.0, ls="--", label="CNN prediction"
            )
            err = M.rmse(val["y"][i], val["pred"][i])
            b.set_title(f"validation trace {i}: RMSE {err:.3f} mV", fontsize=9, loc="left")
            b.set_ylabel("V (mV)")
            if i == 0:
                a.set_title("input current", fontsize=9, loc="left")
        axes[n - 1, 0].set_xlabel("time (ms)")
        axes[n - 1, 1].set_xlabel("time (ms)")
        if test is not None:
            tt = np.arange(test["x"].shape[1])
            y, p = test["y"][0, :, 0], test["pred"][0, :, 0]
            a, b = axes[n]
            a.plot(tt, test["x"][0, :, 0], color="0.35", lw=0.5)
            a.set_ylabel("I (pA)")
            a.set_title("test trace 0 (10 s)", fontsize=9, loc="left")
            b.plot(tt, y, color="k", lw=0.6)
            b.plot(tt, p, color="tab:orange", lw=0.5, alpha=0.8)
            b.set_title(f"test trace 0: RMSE {M.rmse(y, p):.3f} mV", fontsize=9, loc="left")
            b.set_ylabel("V (mV)")
            lo, hi = 2900, min(3000, len(tt))
            if hi - lo < 50:
                lo, hi = 0, min(100, len(tt))
            b.axvspan(lo, hi, color="tab:blue", alpha=0.15)
            a, b = axes[n + 1]
            a.plot(tt[lo:hi], test["x"][0, lo:hi, 0], color="0.35", lw=0.8)
            a.set_ylabel("I (pA)")
            a.set_xlabel("time (ms)")
            b.plot(tt[lo:hi], y[lo:hi], color="k", lw=1.2, marker=".", ms=3)
            b.plot(tt[lo:hi], p[lo:hi], color="tab:orange", lw=1.0, ls="--")
            b.set_title(f"zoom {lo}–{hi} ms (shaded above)", fontsize=9, loc="left")
            b.set_ylabel("V (mV)")
            b.set_xlabel("time (ms)")
        fig.suptitle(
            f"hh-voltage: {describe_model(cfg.model)}",
            fontsize=11,
            x=0.02,
            ha="left",
        )
        handles, labels = axes[0, 1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper right", ncol=2, fontsize=9, frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 0.975))
        fig.savefig(path, dpi=110)
        plt.close(fig)


register(HHVoltageTask())
