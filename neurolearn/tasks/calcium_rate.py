"""calcium-rate: the spike rate of every frame of a calcium trace (spike inference).

Data: synthetic calcium from ``neurosim generate calcium`` (HDF5: ``dff`` (cells, frames) ΔF/F
at the file's frame rate, ``spikes`` counts, ``spike_times_s``) or real recordings in the
Spikefinder layout (``N.train.calcium.csv`` + ``N.train.spikes.csv``, 100 Hz, normalised
fluorescence). The model works at 100 Hz, as the Spikefinder files: a synthetic file at another
frame rate (e.g. a recording's native 7.9 Hz) is Fourier-resampled to 100 Hz, the pipeline the
Spikefinder files went through (c2s, Theis et al. 2016), and its exact spike times are binned
into 10 ms frames.

The seed (``shared/seeds/002_…``, the Spikefinder "elephant" entry, Rupprecht and Bhatt):
windows of 128 frames (1.28 s) placed 25 % before and 75 % after the frame they predict (the
authors' ``before_frac, after_frac = 0.25, 0.75``), Conv1D 50 × 41, 60 × 21, max-pool 2,
70 × 7, max-pool 2 (no padding, ReLU), a per-step Dense(300, ReLU), Flatten, Dense(1) →
the spike train smoothed with a Gaussian of SD 2 frames at that frame; MSE, Adagrad (lr 0.01),
batch 256, 15 epochs, every frame of every training cell a window. The input is the trace
normalised as the Spikefinder files are (5th/80th percentile, ``normalise="percentile"``).

Here: the same windows, split by whole cells (``val_fraction``, ``test_fraction``); an epoch
draws ``epoch_size`` random training windows (all of them when None); held-out cells are
predicted at every frame (windows at stride 1) and scored per cell as the challenge did:
the Spikefinder correlation at 25, 12.5 and 6.25 Hz (mean and median over cells), CASCADE's
error and bias (both traces smoothed with a Gaussian of ``cascade_sigma_s``), each also per
requested noise level ν when the file mixes several (``neurosim``'s calcium mixtures). Baseline
on the same held-out frames: ridge regression of the target on the same window (a linear
deconvolution filter, fitted on training windows).

``normalise="cell"`` puts each trace in units of its own noise (median removed, divided by the
noise sd estimated from the first differences): a scale-free input, the same for ΔF/F and for
any normalised recording, which is what lets a model trained on simulation read real cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .. import metrics as M
from ..config import TrainConfig
from ..data.prepare import Examples
from ..data.readers import ArraySpec, is_spikefinder_path, read_dataset
from ..data.splits import split_groups
from ..data.windows import window_starts
from ..models.cnn import CNNConfig
from .calcium_detect import CALCIUM_SCHEMA, cell_normalise, check_cells, read_calcium
from .registry import Task, register

__all__ = [
    "CalciumRateConfig",
    "CalciumRateTask",
    "ELEPHANT",
    "normalise_trace",
    "smooth_spikes",
    "to_100hz",
]

#: the Spikefinder "elephant" CNN (120,131 parameters)
ELEPHANT = CNNConfig(
    channels=(50, 60, 70), kernels=(41, 21, 7), pools=(1, 2, 2), dense=300, window=128
)
NORMALISE = ("percentile", "cell", "none")
#: the model's frame rate (the Spikefinder files')
FRAME_RATE = 100.0
#: the Spikefinder correlation's bins: frames per bin at 100 Hz and the rate they give
BINS = ((4, "25hz"), (8, "12hz"), (16, "6hz"))


@dataclass(frozen=True)
class CalciumRateConfig(TrainConfig):
    """calcium-rate settings (defaults: the elephant CNN's training).

    Attributes:
        model: a model with one output per window (the ``cnn`` family with ``window`` set, or
            ``lstm``/``bilstm`` with ``readout="last"``), or a sequence model (``cnn`` without
            ``window``), read at ``target_offset``. A ``cnn`` window model's ``window`` follows
            this config's ``window``.
        window: frames per input window (128 = 1.28 s at 100 Hz).
        target_offset: the frame a window predicts, counted from its first frame (the elephant:
            32, a quarter into the window).
        stride: frames between training window starts (1: every frame).
        target_sd_frames: SD (frames) of the Gaussian that smooths the spike train into the
            target rate (the elephant: 2; 0: the raw counts).
        normalise: each trace before windowing: ``"percentile"`` (the Spikefinder files'
            5th/80th percentile normalisation), ``"cell"`` (units of its noise sd) or
            ``"none"``; then one mean and sd fitted on the training frames.
        epoch_size: random training windows per epoch (None: all).
        val_fraction, test_fraction: share of the cells held out.
        cascade_sigma_s: SD (s) of the Gaussian for CASCADE's error and bias.
        ridge_alpha: L2 strength of the ridge baseline (on standardised windows).
        baseline_windows: most training windows the baseline is fitted on.
        plot_seconds: length of the held-out stretch in the report's figure.
    """

    epochs: int = 15
    batch_size: int = 256
    learning_rate: float = 0.01
    optimizer: str = "adagrad"
    eval_batch_size: int = 2048
    model: Any = ELEPHANT
    window: int = 128
    target_offset: int = 32
    stride: int = 1
    target_sd_frames: float = 2.0
    normalise: str = "percentile"
    epoch_size: int | None = None
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    cascade_sigma_s: float = 0.2
    ridge_alpha: float = 1.0
    baseline_windows: int = 50_000
    plot_seconds: float = 20.0

    @property
    def n_examples_plot(self) -> int:
        """Held-out windows the figure shows (consecutive frames of the first cell)."""
        return int(self.plot_seconds * FRAME_RATE)

    def __post_init__(self):
        super().__post_init__()
        from ..models.registry import describe_model

        if self.window < 2:
            raise ValueError(f"config window must be >= 2 frames, got {self.window}")
        if isinstance(self.model, CNNConfig) and self.model.window not in (None, self.window):
            object.__setattr__(self, "model", replace(self.model, window=self.window))
        readout = getattr(self.model, "readout", None)
        if readout not in (None, "last"):
            raise ValueError(
                "calcium-rate needs a model with one output per window (cnn, or lstm/bilstm "
                f"with readout 'last'), got {describe_model(self.model)}"
            )
        if not 0 <= self.target_offset < self.window:
            raise ValueError(
                f"config target_offset must be in [0, window) = [0, {self.window}), got "
                f"{self.target_offset}"
            )
        if self.stride < 1:
            raise ValueError(f"config stride must be >= 1 frame, got {self.stride}")
        if not (self.target_sd_frames >= 0 and math.isfinite(self.target_sd_frames)):
            raise ValueError(f"config target_sd_frames must be >= 0, got {self.target_sd_frames}")
        if self.normalise not in NORMALISE:
            raise ValueError(f"config normalise must be one of {NORMALISE}, got {self.normalise!r}")
        if self.epoch_size is not None and self.epoch_size < 1:
            raise ValueError(f"config epoch_size must be >= 1 or null, got {self.epoch_size}")
        if not 0 < self.val_fraction < 1 or not 0 <= self.test_fraction < 1:
            raise ValueError("config val_fraction must be in (0, 1) and test_fraction in [0, 1)")
        if not self.cascade_sigma_s > 0:
            raise ValueError(f"config cascade_sigma_s must be > 0, got {self.cascade_sigma_s}")
        if not self.ridge_alpha > 0:
            raise ValueError(f"config ridge_alpha must be > 0, got {self.ridge_alpha}")


# ---------------------------------------------------------------------------- pure functions


def smooth_spikes(spikes: np.ndarray, sd_frames: float) -> np.ndarray:
    """The target rate: spike counts convolved with a unit-area Gaussian of SD ``sd_frames``
    (truncated at 3.5 SD: the elephant's 15-sample kernel at SD 2), spikes conserved."""
    s = np.asarray(spikes, np.float64)
    if sd_frames == 0:
        return s.astype(np.float32)
    half = max(1, int(math.ceil(3.5 * sd_frames)))
    k = np.exp(-0.5 * (np.arange(-half, half + 1) / sd_frames) ** 2)
    return np.convolve(s, k / k.sum(), mode="same").astype(np.float32)


def normalise_trace(x: np.ndarray, how: str, *, name: str = "trace") -> np.ndarray:
    """One trace as the model reads it (see :class:`CalciumRateConfig`).

    Raises:
        ValueError: a constant trace (no signal and no noise to scale by).
    """
    from neurosim.spikefinder import normalize_trace

    x = np.asarray(x, np.float64)
    if len(x) > 1 and np.ptp(x) == 0:
        raise ValueError(f"{name} is constant ({x[0]:g} in every frame): nothing to infer from")
    if how == "percentile":
        lo, hi = np.percentile(x, [5.0, 80.0])
        if hi == lo:  # mostly constant: fall back to the noise scale
            return cell_normalise(x)
        return normalize_trace(x, "percentile").astype(np.float32)
    if how == "cell":
        return cell_normalise(x)
    return x.astype(np.float32)


def to_100hz(dff: np.ndarray, spike_times_s: list[np.ndarray], frame_rate: float):
    """Traces at ``frame_rate`` → 100 Hz (Fourier resampling, as c2s), with the exact spike
    times binned into 10 ms frames. Returns ``(calcium list, spikes list)``."""
    from neurosim.spikefinder import resample_trace

    cells, spikes = [], []
    for x, t in zip(dff, spike_times_s, strict=True):
        n = int(math.floor(len(x) * FRAME_RATE / frame_rate + 1e-9))
        cells.append(resample_trace(x, frame_rate, FRAME_RATE, method="fourier", n_new=n))
        j = np.floor(np.asarray(t, np.float64) * FRAME_RATE).astype(np.int64)
        spikes.append(np.bincount(j[(j >= 0) & (j < n)], minlength=n).astype(np.float32))
    return cells, spikes


def _shift(a: np.ndarray, d: int) -> np.ndarray:
    """``out[i] = a[i - d]`` (zeros where undefined): the value a window's target frame holds
    read at the window's centre, ``d = window // 2 - target_offset`` frames later."""
    out = np.zeros_like(a)
    if d > 0:
        out[d:] = a[:-d]
    elif d < 0:
        out[:d] = a[-d:]
    else:
        out[:] = a
    return out


def _ridge(x: np.ndarray, y: np.ndarray, alpha: float):
    """Ridge regression on standardised columns: ``(w, b, mu, sd)``."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    z = (x - mu) / sd
    ym = y.mean()
    w = np.linalg.solve(z.T @ z + alpha * len(z) * np.eye(z.shape[1]) / 1000.0, z.T @ (y - ym))
    return w, ym, mu, sd


# ---------------------------------------------------------------------------- the task


class CalciumRateTask(Task):
    name = "calcium-rate"
    description = (
        "the elephant CNN on windows of 128 frames: the spike rate of each frame, scored with "
        "the Spikefinder correlation (split by cell; trained on simulation, read real cells)"
    )
    dataset = "calcium"
    other_datasets = ("spikefinder",)
    Config = CalciumRateConfig
    kind = "regression"
    monitor = ("val_corr_25hz_mean", "max")
    units = {
        "loss": "MSE of the smoothed rate (spikes/frame)²",
        "mse": "(spikes/frame)²",
        "corr_25hz_mean": "Pearson r (40 ms bins)",
        "cascade_error": "fraction of the spikes",
        "cascade_bias": "fraction of the spikes",
    }
    frame_rate_hz = FRAME_RATE
    predict_key = "dff"
    presets = {
        # the elephant's training on every window (15 epochs of Adagrad, batch 256); an epoch
        # of a large synthetic file is long on a CPU: cap it with epoch_size=N
        "seed": {},
        # docs/tasks/calcium-rate.md: the elephant CNN on inputs in units of each trace's
        # noise (scale-free: ΔF/F and normalised recordings alike), Adam with a cosine
        # schedule, 10 epochs of 50,000 random windows
        "best": {
            "normalise": "cell",
            "optimizer": "adam",
            "learning_rate": 1e-3,
            "schedule": "cosine",
            "epochs": 10,
            "epoch_size": 50_000,
        },
        # the quickstart: a narrower CNN, seconds
        "small": {
            "model.channels": [16, 16, 16],
            "model.dense": 32,
            "normalise": "cell",
            "optimizer": "adam",
            "learning_rate": 2e-3,
            "epochs": 4,
            "epoch_size": 20_000,
            "batch_size": 128,
            "baseline_windows": 10_000,
        },
    }

    # ------------------------------------------------------------------ data
    def schema(self, cfg):
        return dict(CALCIUM_SCHEMA)

    def load(self, path, cfg):
        ds, rate = read_calcium(path, allowed=(self.dataset, *self.other_datasets), task=self.name)
        n = len(ds["calcium"])
        nu = np.full(n, np.nan)
        if ds.name != "spikefinder":  # a neurosim calcium file: its noise levels, spike times
            import h5py

            with h5py.File(path, "r") as f:
                if "noise_level_requested" in f:  # a mixture
                    nu = np.asarray(f["noise_level_requested"][()], np.float64)
                else:
                    nu = np.full(n, float(ds.attrs.get("config.noise_level", np.nan)))
                if not np.isclose(rate, FRAME_RATE):
                    if "spike_times_s" not in f:
                        raise ValueError(
                            f"{ds.source!r} is at {rate:g} Hz and has no spike_times_s to bin "
                            f"at {FRAME_RATE:g} Hz; calcium-rate works at {FRAME_RATE:g} Hz"
                        )
                    times = [np.asarray(t, np.float64) for t in f["spike_times_s"][()]]
                    ds.arrays["calcium"], ds.arrays["spikes"] = to_100hz(
                        np.stack(ds["calcium"]), times, rate
                    )
            ds.attrs = {**ds.attrs, "native_frame_rate_hz": rate}
        ds.arrays["spikes"] = [np.asarray(s, np.float32) for s in ds["spikes"]]
        ds.arrays["noise_level"] = nu
        check_cells(ds, cfg.window)
        return ds

    def examples(self, data, cfg):
        from ..data.windows import concatenate_series

        d = cfg.window // 2 - cfg.target_offset
        xs, ys, ss, nus = [], [], [], []
        nu_cell = np.asarray(data["noise_level"], np.float32)
        for i, (c, s) in enumerate(zip(data["calcium"], data["spikes"], strict=True)):
            xs.append(normalise_trace(c, cfg.normalise, name=f"{data.source}: cell {i}")[:, None])
            ys.append(_shift(smooth_spikes(s, cfg.target_sd_frames), d))
            ss.append(_shift(np.asarray(s, np.float32), d))
            nus.append(np.full(len(c), nu_cell[i], np.float32))
        lengths = [len(c) for c in xs]
        x, offsets = concatenate_series(xs)
        y, _ = concatenate_series(ys)
        s, _ = concatenate_series(ss)
        nu, _ = concatenate_series(nus)
        series, start = window_starts(lengths, cfg.window, stride=cfg.stride, target="centre")
        unit = {"percentile": "percentile-normalised", "cell": "noise sd", "none": "file unit"}
        ex = Examples(
            {"x": x, "y": y, "s": s, "nu": nu},
            window=cfg.window,
            starts=offsets[series] + start,
            target="centre",
            groups=series,
            x_unit=unit[cfg.normalise],
            y_unit="spikes per frame",
            normalise_x=True,
            normalise_y=False,
        )
        return ex, None

    def epoch_size(self, cfg):
        return cfg.epoch_size

    def split(self, ex, cfg, *, key):
        return split_groups(
            ex.groups, key=key, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction
        )

    def describe(self, data, ex, test, cfg):
        lengths = np.array([len(c) for c in data["calcium"]])
        n_spikes = float(sum(np.sum(s) for s in data["spikes"]))
        info = {
            "source": data.name,
            "n_cells": int(len(lengths)),
            "frames_per_cell": [int(lengths.min()), int(np.median(lengths)), int(lengths.max())],
            "n_windows": int(len(ex)),
            "mean_rate_hz": n_spikes / max(1.0, float(lengths.sum()) / FRAME_RATE),
            "frame_rate_hz": FRAME_RATE,
            "target": f"spikes smoothed (Gaussian SD {cfg.target_sd_frames:g} frames) at window "
            f"frame {cfg.target_offset} of 0-{cfg.window - 1}",
        }
        nu = np.asarray(data["noise_level"])
        if np.isfinite(nu).any():
            info["noise_levels"] = sorted({float(v) for v in nu[np.isfinite(nu)]})
        for k in ("native_frame_rate_hz", "config.indicator", "config.source"):
            if k in data.attrs:
                v = data.attrs[k]
                info[k.removeprefix("config.")] = v.item() if hasattr(v, "item") else v
        return info

    # ------------------------------------------------------------------ model and loss
    def out_features(self, ex, cfg):
        return 1

    def forward(self, model, x, cfg, *, train, rngs=None):
        out = model(x, train=train, rngs=rngs)
        if out.ndim == 3:  # a sequence model: its output at the target frame
            out = out[:, cfg.target_offset]
        return out[:, 0]

    def example_loss(self, outputs, batch, cfg):
        return (outputs - batch["y"]) ** 2

    # ------------------------------------------------------------------ evaluation
    def metrics(self, y_true, y_pred, cfg):
        return {"mse": M.mse(y_true, y_pred)}

    @staticmethod
    def _per_cell(source, groups, pred):
        """Per held-out cell (in id order): truth spikes and prediction over the frames its
        windows target, and the cell's requested ν (NaN: unknown)."""
        at = np.asarray(source.arrays["starts"]) + source.window // 2
        s, nu = np.asarray(source.arrays["s"])[at], np.asarray(source.arrays["nu"])[at]
        cells = np.unique(groups)
        sel = [groups == g for g in cells]
        return [s[m] for m in sel], [pred[m] for m in sel], np.array([nu[m][0] for m in sel])

    def score_cells(self, truth, pred, cfg, *, nu=None) -> dict[str, float]:
        """The Spikefinder correlation at 25/12.5/6.25 Hz (mean, median, undefined cells),
        CASCADE's error and bias (median over cells) and, with ``nu`` per cell, the mean r at
        25 Hz of every noise level."""
        out: dict[str, float] = {}
        for factor, tag in BINS:
            sc = M.spikefinder_scores(truth, pred, downsample=factor)
            out[f"corr_{tag}_mean"] = sc.mean
            out[f"corr_{tag}_median"] = sc.median
            if factor == 4:
                out["corr_25hz_cell_sd"] = float(np.nanstd(np.asarray(sc.cells)))
                out["n_undefined"] = float(sc.n_undefined)
                r25 = np.asarray(sc.cells)
        nan = float("nan")
        err, bias = np.full(len(truth), np.nan), np.full(len(truth), np.nan)
        for i, (t, p) in enumerate(zip(truth, pred, strict=True)):
            if np.sum(t) > 0:  # undefined for a cell without spikes
                err[i], bias[i] = M.cascade_error_bias(t, p, sigma=cfg.cascade_sigma_s * FRAME_RATE)

        def median(x, sel=True):
            x = x[sel & np.isfinite(x)]
            return float(np.median(x)) if x.size else nan

        out["cascade_error"] = median(err)
        out["cascade_bias"] = median(bias)
        if nu is not None:
            nu = np.asarray(nu, np.float64)
            levels = sorted({float(v) for v in nu[np.isfinite(nu)]})
            if len(levels) > 1:
                for v in levels:
                    sel = (nu == v) & np.isfinite(r25)
                    out[f"corr_25hz_nu{v:g}"] = float(r25[sel].mean()) if sel.any() else nan
                for v in levels:
                    out[f"cascade_error_nu{v:g}"] = median(err, nu == v)
                    out[f"cascade_bias_nu{v:g}"] = median(bias, nu == v)
        return out

    def evaluate(self, ev, split, cfg):
        pred, losses = ev.predict(split)
        y = np.asarray(ev.targets(split))
        src = ev.prepared.sources[split]
        truth, cells, nu = self._per_cell(src, ev.groups(split), np.asarray(pred, np.float64))
        out = {"loss": float(losses.mean()), "mse": M.mse(y, pred)}
        out.update(self.score_cells(truth, cells, cfg, nu=nu))
        out["n_cells"] = float(len(cells))
        return out

    def baselines(self, prepared, cfg):
        """Ridge regression of the target on the window (a linear deconvolution filter),
        fitted on training windows, scored per held-out cell like the model."""
        src = prepared.sources
        if "train" not in src:
            return {}
        train = src["train"]
        rng = np.random.default_rng(cfg.seed)
        idx = np.arange(len(train))
        if len(idx) > cfg.baseline_windows:
            idx = np.sort(rng.choice(idx, cfg.baseline_windows, replace=False))
        bt = train.fetch(train.arrays, idx)
        w, b0, mu, sd = _ridge(
            np.asarray(bt["x"][..., 0], np.float64),
            np.asarray(bt["y"], np.float64),
            cfg.ridge_alpha,
        )
        out = {}
        for name in ("val", "test"):
            if name not in src:
                continue
            s = src[name]
            groups = prepared.groups[name]
            preds = np.empty(len(s))
            for lo in range(0, len(s), 50_000):
                sel = np.arange(lo, min(lo + 50_000, len(s)))
                xb = np.asarray(s.fetch(s.arrays, sel)["x"][..., 0], np.float64)
                preds[sel] = ((xb - mu) / sd) @ w + b0
            truth, pred, nu = self._per_cell(s, groups, preds)
            out[f"{name}_ridge"] = self.score_cells(truth, pred, cfg, nu=nu)
        return out

    # ------------------------------------------------------------------ prediction
    def prediction_input(self, path, *, key, cfg):
        """The traces of a calcium HDF5 file (``dff`` rows, at the file's rate) or of a
        Spikefinder-layout CSV (empty cells inside a column kept as NaN frames)."""
        if is_spikefinder_path(path):
            from neurosim.spikefinder import read_table

            return [c.reshape(-1, 1) for c in read_table(path, interior_nan=True)], None
        ds = read_dataset(path, {key: ArraySpec(2, kind="f")}, purpose="prediction")
        rate = ds.attrs.get("frame_rate_hz", ds.attrs.get("config.frame_rate_hz"))
        return [np.asarray(r)[:, None] for r in ds[key]], None if rate is None else float(rate)

    def prediction_windows(self, cfg):
        return cfg.window, int(cfg.target_offset)

    def predict_traces(self, run, traces, *, frame_rate=None):
        """The rate (spikes per 10 ms frame) at every frame of each trace. NaN frames (the
        Spikefinder files' gaps) are left out of the trace and NaN in the output; the trace is
        extended by its first and last values where a window would cross an end, so every
        other frame gets a value. A trace at another frame rate is refused (the rate named)."""
        cfg = run.config
        if frame_rate is not None and not np.isclose(frame_rate, FRAME_RATE):
            raise ValueError(
                f"the input is at {frame_rate:g} Hz; calcium-rate predicts at {FRAME_RATE:g} Hz "
                "(resample it first: neurosim.spikefinder.resample_recording, method 'fourier', "
                "as the Spikefinder files were)"
            )
        before, after = cfg.target_offset, cfg.window - cfg.target_offset - 1
        padded, keep = [], []
        for i, t in enumerate(traces):
            t = np.asarray(t, np.float64).reshape(len(t), -1)
            if t.shape[1] != 1:
                raise ValueError(f"trace {i} has {t.shape[1]} channels; calcium-rate reads one")
            ok = np.isfinite(t[:, 0])
            if ok.sum() < 2:
                raise ValueError(f"trace {i} has {int(ok.sum())} finite frames; at least 2 needed")
            x = normalise_trace(t[ok, 0], cfg.normalise, name=f"trace {i}")[:, None]
            padded.append(np.pad(x, ((before, after), (0, 0)), mode="edge"))
            keep.append(ok)
        out = super().predict_traces(run, padded, frame_rate=None)
        result = []
        for p, ok in zip(out, keep, strict=True):
            full = np.full((len(ok), 1), np.nan)
            full[ok] = np.asarray(p).reshape(len(p), -1)[before : before + int(ok.sum())]
            result.append(full)
        return result

    # ------------------------------------------------------------------ figures
    def plot_metrics(self, path, metrics, baselines, cfg):
        """Mean r (25 Hz) of the held-out cells against their noise level ν, model and ridge
        baseline, when the data mixes several noise levels."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        def by_nu(m):
            pts = sorted(
                (float(k.removeprefix("corr_25hz_nu")), v)
                for k, v in (m or {}).items()
                if k.startswith("corr_25hz_nu")
            )
            return [p for p in pts if np.isfinite(p[1])]

        splits = [s for s in ("val", "test") if len(by_nu(metrics.get(s))) > 1]
        if not splits:
            return False
        fig, ax = plt.subplots(figsize=(6, 4))
        for split, style in zip(splits, ("-", "--"), strict=False):
            for label, m, color in (
                ("model", metrics.get(split), "tab:orange"),
                ("ridge baseline", baselines.get(f"{split}_ridge"), "0.5"),
            ):
                pts = by_nu(m)
                if pts:
                    x, y = zip(*pts, strict=True)
                    ax.plot(x, y, style, marker="o", color=color, label=f"{label} ({split})")
        ax.set_xscale("log")
        ax.set_xlabel("noise level ν of the held-out cells (%·s$^{-1/2}$)")
        ax.set_ylabel("Spikefinder r (25 Hz), mean over cells")
        ax.legend(fontsize=8)
        ax.set_title("calcium-rate: correlation against noise", fontsize=10, loc="left")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return True

    def plot_examples(self, path, examples, cfg):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ex = examples.get("test") or examples["val"]
        x = ex["x"][:, cfg.target_offset, 0]  # the input at each window's target frame
        y, p = np.asarray(ex["y"]).ravel(), np.asarray(ex["pred"]).ravel()
        n = min(len(y), int(cfg.plot_seconds * FRAME_RATE))
        t = np.arange(n) / FRAME_RATE
        fig, (a0, a1) = plt.subplots(2, 1, figsize=(11, 5), sharex=True)
        a0.plot(t, x[:n], color="k", lw=0.8)
        a0.set_ylabel("input (normalised)")
        a1.plot(t, y[:n], color="k", lw=1.0, label="true rate (smoothed spikes)")
        a1.plot(t, p[:n], color="tab:orange", lw=1.0, label="predicted")
        a1.set_ylabel("spikes per frame")
        a1.set_xlabel("time (s) in the first held-out cell")
        a1.legend(fontsize=8, loc="upper right")
        fig.suptitle(
            "calcium-rate: a held-out cell, input and inferred rate", fontsize=11, x=0.02,
            ha="left",
        )  # fmt: skip
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


register(CalciumRateTask())
