"""calcium-detect: is there a spike at the centre of a 20-frame window of a calcium trace?

Data: synthetic calcium from ``neurosim generate calcium`` (HDF5: ``dff`` (cells, frames) ΔF/F
and ``spikes`` (cells, frames) counts; or its Spikefinder layout) or real recordings in the
Spikefinder layout (``N.train.calcium.csv`` + ``N.train.spikes.csv``, one column per cell,
100 Hz; normalised fluorescence, not ΔF/F). The seed (a Keras tutorial, ``shared/seeds/001_…``,
and its ``utils.py``) cut every cell into windows of 20 frames every 10 frames, ``calcium[i-10 :
i+10]``, labelled 1 when a spike falls in ``spikes[i-2 : i+2]`` (window frames 8-11, 40 ms
around the centre), z-scored each window, drew 10,000 windows with balanced classes and trained
LSTM(64) on the features [x, Δx, x²] → Dense(1) with binary cross-entropy, Adam, batch 32, for
5 epochs: about 0.70 (training) accuracy. It also trained an LSTM-VAE
(:mod:`neurolearn.models.vae`) on 1,000 balanced windows for 100 epochs with MSE + 1e-4 · KL.

Here: the same windows and labels, split by whole cells (``val_fraction``, ``test_fraction`` of
the cells held out: no held-out window shares a frame with a training window); class-balanced
training batches (``epoch_size`` windows per epoch, half with a spike); the features are
computed inside the forward pass from the 1-channel window (:func:`window_features`), so a
trained model predicts from raw traces. ``objective="classify"`` (an LSTM, or BiLSTM, with one
logit per window; BCE) or ``"vae"`` (``model=lstm_vae``: MSE of the reconstructed window + the
KL term weighted ``kl_weight``). Metrics on all held-out windows (not balanced): balanced
accuracy at ``threshold``, ROC AUC, PR AUC and their spread over held-out cells; for the VAE
the reconstruction error (and the KL term). Baselines on the same windows: the base rate (a
constant score) and L2 logistic regression on the same window features (:func:`fit_logistic`,
scipy L-BFGS); for the VAE the window's mean and PCA reconstructions of the same rank-k.

Two quirks of the tutorial, kept in ``seed`` and changed in ``best``: its ``DeltaFeature``
subtracts ``[0, …, 0, x₀]`` from the window, so "Δx" equals x except at the last frame
(``delta="tutorial"``; ``"diff"`` is the first difference); and its Dense(1) has no sigmoid,
so Keras clipped the raw output to [1e-7, 1 - 1e-7] before the cross-entropy — here the output
is a logit (the usual BCE), in every preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import metrics as M
from ..baselines import fit_logistic
from ..config import TrainConfig
from ..data.prepare import Examples
from ..data.readers import ArraySpec, dataset_name, is_spikefinder_path, read_dataset
from ..data.splits import split_groups
from ..data.windows import window_starts
from ..models.lstm import LSTMConfig
from .registry import Task, register

__all__ = [
    "CalciumDetectConfig",
    "CalciumDetectTask",
    "centre_labels",
    "window_features",
    "cell_normalise",
    "fit_logistic",
    "N_FEATURES",
]

OBJECTIVES = ("classify", "vae")
NORMALISE = ("window", "cell", "global")
DELTAS = ("tutorial", "diff")
#: features per frame computed from the 1-channel window: [x, Δx, x²]
N_FEATURES = 3
#: the tutorial's epsilon in its per-window z-score
WINDOW_EPS = 1e-7


@dataclass(frozen=True)
class CalciumDetectConfig(TrainConfig):
    """calcium-detect settings (defaults: the tutorial's classifier).

    Attributes:
        model: ``lstm`` / ``bilstm`` with ``readout="last"`` (classify) or ``lstm_vae`` (vae).
        objective: ``"classify"`` (BCE on the window's label) or ``"vae"`` (MSE + KL of the
            window's reconstruction); None: from the model (``lstm_vae`` → ``"vae"``).
        window: frames per window (the tutorial: 20 = 200 ms at 100 Hz).
        stride: frames between window starts (the tutorial: 10).
        label_frames: a window is positive when a spike falls in its ``label_frames`` centre
            frames, ``[window//2 - label_frames//2, … + label_frames)``; the tutorial: 4
            (frames 8, 9, 10, 11 of 0-19).
        normalise: ``"window"`` (z-score each window, in the forward pass: the tutorial),
            ``"cell"`` (each trace minus its median, over its noise sd estimated from the first
            differences: a scale-free unit, "SNR", for real and synthetic data alike; then one
            mean and sd fitted on the training frames, so that the LSTM's inputs are of order 1)
            or ``"global"`` (only the mean and sd fitted on the training frames).
        delta: ``"tutorial"`` (its DeltaFeature: x minus [0, …, 0, x₀]) or ``"diff"`` (x_t −
            x_{t−1}, 0 at the first frame).
        epoch_size: balanced training windows per epoch (the tutorial: 10,000 for the
            classifier, 1,000 for the VAE); None: as many as there are training windows.
        kl_weight: weight of the KL term of the VAE objective (the tutorial: 1e-4).
        val_fraction, test_fraction: share of the cells held out.
        threshold: P(spike) at or above which a window counts as positive (balanced accuracy).
        logreg_l2: L2 strength λ of the logistic-regression baseline (scikit-learn's C = 1/λ)
            on standardised features.
        baseline_windows: most training windows the baselines are fitted on (a random subset).
        pca_ranks: ranks of the PCA reconstructions (baselines of the VAE).
        n_examples_plot: held-out windows the report's figure picks from.
    """

    epochs: int = 5
    batch_size: int = 32
    learning_rate: float = 1e-3
    eval_batch_size: int = 1024
    model: Any = LSTMConfig(hidden=(64,), readout="last")
    objective: str | None = None
    window: int = 20
    stride: int = 10
    label_frames: int = 4
    normalise: str = "window"
    delta: str = "tutorial"
    epoch_size: int | None = 10_000
    kl_weight: float = 1e-4
    val_fraction: float = 0.2
    test_fraction: float = 0.2
    threshold: float = 0.5
    logreg_l2: float = 1.0
    baseline_windows: int = 100_000
    pca_ranks: tuple[int, ...] = (2, 5)
    n_examples_plot: int = 400

    def __post_init__(self):
        super().__post_init__()
        from ..models.registry import describe_model, name_of

        is_vae = name_of(self.model) == "lstm_vae"
        objective = self.objective
        if objective is None:
            objective = "vae" if is_vae else "classify"
            object.__setattr__(self, "objective", objective)
        if objective not in OBJECTIVES:
            raise ValueError(f"config objective must be one of {OBJECTIVES}, got {objective!r}")
        if objective == "vae" and not is_vae:
            raise ValueError(
                f"config objective 'vae' needs model=lstm_vae, got {describe_model(self.model)}"
            )
        if objective == "classify" and getattr(self.model, "readout", None) != "last":
            raise ValueError(
                "config objective 'classify' needs a model with one output per window (lstm or "
                f"bilstm with readout 'last'), got {describe_model(self.model)}"
                + ("; use objective=vae (or leave objective unset)" if is_vae else "")
            )
        if objective == "vae" and self.monitor is None:
            # the classifier's metrics do not exist for the VAE: watch its objective
            object.__setattr__(self, "monitor", "val_loss")
        if self.window < 2:
            raise ValueError(f"config window must be >= 2 frames, got {self.window}")
        if self.stride < 1:
            raise ValueError(f"config stride must be >= 1 frame, got {self.stride}")
        if not 1 <= self.label_frames <= self.window:
            raise ValueError(
                f"config label_frames must be between 1 and window ({self.window}), got "
                f"{self.label_frames}"
            )
        if self.normalise not in NORMALISE:
            raise ValueError(f"config normalise must be one of {NORMALISE}, got {self.normalise!r}")
        if self.delta not in DELTAS:
            raise ValueError(f"config delta must be one of {DELTAS}, got {self.delta!r}")
        if self.epoch_size is not None and self.epoch_size < 2:
            raise ValueError(f"config epoch_size must be >= 2 or null, got {self.epoch_size}")
        if not self.kl_weight >= 0:
            raise ValueError(f"config kl_weight must be >= 0, got {self.kl_weight}")
        if not 0 < self.val_fraction < 1 or not 0 <= self.test_fraction < 1:
            raise ValueError("config val_fraction must be in (0, 1) and test_fraction in [0, 1)")
        if not 0 < self.threshold < 1:
            raise ValueError(f"config threshold must be in (0, 1), got {self.threshold}")
        if not self.logreg_l2 > 0:
            raise ValueError(f"config logreg_l2 must be > 0, got {self.logreg_l2}")
        if self.baseline_windows < 10:
            raise ValueError(f"config baseline_windows must be >= 10, got {self.baseline_windows}")
        if any(k < 1 or k > self.window for k in self.pca_ranks):
            raise ValueError(
                f"config pca_ranks must be between 1 and window ({self.window}), got "
                f"{list(self.pca_ranks)}"
            )


# ---------------------------------------------------------------------------- pure functions


#: the arrays of a calcium HDF5 file (``neurosim generate calcium``) and of a Spikefinder-layout
#: recording, as both calcium tasks read them
CALCIUM_SCHEMA = {
    "dff": ArraySpec(2, kind="f", unit="ΔF/F"),
    "spikes": ArraySpec(2, kind="iuf", rows_as="dff", unit="spikes per frame"),
}
SPIKEFINDER_SCHEMA = {
    "calcium": ArraySpec(1, kind="f", ragged=True, unit="fluorescence"),
    "spikes": ArraySpec(1, kind="fiu", ragged=True, unit="spikes per frame"),
}


def read_calcium(path, *, allowed: tuple[str, ...], task: str):
    """A calcium recording with its ground-truth spikes: a Spikefinder-layout CSV (its spikes
    file beside it) or a calcium HDF5 file. Returns ``(ds, frame_rate)``: ``ds.arrays`` holds
    ``calcium`` and ``spikes``, one float64 / count array per cell at the file's frame rate
    (100 Hz for the Spikefinder layout).

    Raises:
        FileNotFoundError: no file, or a Spikefinder file without its spikes file.
        ValueError: another kind of dataset, or ``dff`` and ``spikes`` of different shapes.
    """
    from pathlib import Path

    from neurosim.spikefinder import spikes_path_for

    path = Path(path)
    if is_spikefinder_path(path):
        kind = dataset_name(path) if path.exists() else None
        if kind == "spikefinder" and not spikes_path_for(path).exists():
            raise FileNotFoundError(
                f"{str(path)!r} has no spikes file beside it ({spikes_path_for(path).name}); "
                f"{task} trains on and scores against the ground-truth spikes"
            )
        ds = read_dataset(path, SPIKEFINDER_SCHEMA, dataset=allowed)
        ds.arrays = {
            "calcium": [np.asarray(c, np.float64) for c in ds["calcium"]],
            "spikes": [np.asarray(s) for s in ds["spikes"]],
        }
        return ds, 100.0
    dataset_name(path)  # an unreadable file: the reader's message
    ds = read_dataset(path, CALCIUM_SCHEMA, dataset=allowed)
    if ds["dff"].shape != ds["spikes"].shape:
        raise ValueError(
            f"{ds.source!r}: dff has shape {ds['dff'].shape} but spikes has "
            f"{ds['spikes'].shape}; both must be (cells, frames)"
        )
    rate = float(ds.attrs.get("frame_rate_hz", ds.attrs.get("config.frame_rate_hz", 100.0)))
    ds.arrays = {
        "calcium": list(np.asarray(ds["dff"], np.float64)),
        "spikes": list(np.asarray(ds["spikes"])),
    }
    return ds, rate


def check_cells(ds, window: int) -> None:
    """No negative spike counts, and at least one cell as long as a window."""
    for i, s in enumerate(ds["spikes"]):
        if np.any(s < 0):
            raise ValueError(f"{ds.source!r}: cell {i} has negative spike counts")
    longest = max(len(c) for c in ds["calcium"])
    if longest < window:
        raise ValueError(
            f"{ds.source!r}: no cell has the {window} frames one window needs (the longest "
            f"has {longest}); use a longer recording or --config window=N"
        )


def centre_labels(spikes: np.ndarray, label_frames: int) -> np.ndarray:
    """For every frame t of one cell: 1.0 if a spike falls in frames
    ``[t - label_frames//2, t - label_frames//2 + label_frames)`` (clipped to the trace), else 0.
    The label of a window whose centre frame (``start + window//2``) is t."""
    s = np.asarray(spikes)
    cs = np.concatenate([[0], np.cumsum(s > 0)])
    t = np.arange(len(s))
    lo = np.clip(t - label_frames // 2, 0, len(s))
    hi = np.clip(t - label_frames // 2 + label_frames, 0, len(s))
    return (cs[hi] - cs[lo] > 0).astype(np.float32)


def window_features(x, *, normalise_window: bool, delta: str):
    """The model's input from windows of one channel: ``(B, T, 1) -> (B, T, 3)`` = [x, Δx, x²].

    Works on NumPy and JAX arrays (the forward pass and the baselines use the same function).

    Args:
        x: windows (normalised as the config says: globally, per cell, or not at all).
        normalise_window: z-score each window first (``(x - mean) / (std + 1e-7)``, the tutorial).
        delta: ``"tutorial"`` (``x - [0, …, 0, x_0]``, the tutorial's DeltaFeature) or
            ``"diff"`` (first difference, 0 at the first frame).
    """
    if isinstance(x, np.ndarray):
        xp = np
    else:
        import jax.numpy as xp
    if normalise_window:
        x = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + WINDOW_EPS)
    if delta == "tutorial":
        shifted = xp.concatenate([xp.zeros_like(x[:, 1:]), x[:, :1]], axis=1)
        d = x - shifted
    elif delta == "diff":
        d = xp.concatenate([xp.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], axis=1)
    else:
        raise ValueError(f"delta must be one of {DELTAS}, got {delta!r}")
    return xp.concatenate([x, d, x * x], axis=-1)


def cell_normalise(trace: np.ndarray) -> np.ndarray:
    """One trace in units of its noise: ``(x - median(x)) / σ``, with σ the noise sd estimated
    from the first differences, ``median|Δx| / (0.6745 √2)`` (1 when that is 0)."""
    x = np.asarray(trace, np.float64)
    sigma = np.median(np.abs(np.diff(x))) / (0.6745 * np.sqrt(2.0)) if len(x) > 1 else 0.0
    if not sigma > 0:
        sigma = 1.0
    return ((x - np.median(x)) / sigma).astype(np.float32)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def _per_cell(y, p, groups, threshold) -> dict[str, float]:
    """Balanced accuracy and ROC AUC of every held-out cell that has both classes: median, sd
    (over cells), min; and the number of such cells."""
    ba, auc = [], []
    for g in np.unique(groups):
        sel = groups == g
        yy = y[sel]
        if yy.min() == yy.max():
            continue
        ba.append(M.balanced_accuracy(yy.astype(np.int64), p[sel] >= threshold))
        auc.append(M.roc_auc(yy.astype(np.int64), p[sel]))
    if not ba:
        nan = float("nan")
        return {"balanced_accuracy_cell_median": nan, "balanced_accuracy_cell_sd": nan,
                "balanced_accuracy_cell_min": nan, "roc_auc_cell_median": nan,
                "roc_auc_cell_sd": nan, "n_cells_scored": 0.0}  # fmt: skip
    return {
        "balanced_accuracy_cell_median": float(np.median(ba)),
        "balanced_accuracy_cell_sd": float(np.std(ba)),
        "balanced_accuracy_cell_min": float(np.min(ba)),
        "roc_auc_cell_median": float(np.median(auc)),
        "roc_auc_cell_sd": float(np.std(auc)),
        "n_cells_scored": float(len(ba)),
    }


# ---------------------------------------------------------------------------- the task


class CalciumDetectTask(Task):
    name = "calcium-detect"
    description = (
        "LSTM(64) on windows of 20 frames with [x, Δx, x²]: a spike in the centre 40 ms or not "
        "(balanced classes, split by cell); model=lstm_vae: the tutorial's LSTM-VAE"
    )
    dataset = "calcium"
    other_datasets = ("spikefinder",)
    Config = CalciumDetectConfig
    kind = "binary"
    monitor = ("val_roc_auc", "max")
    units = {
        "loss": "BCE (classify) | MSE + w·KL (vae)",
        "recon_mse": "window variance units (normalised)",
    }
    frame_rate_hz = 100.0
    predict_key = "dff"
    presets = {
        # the tutorial's classifier: windows of 20 frames every 10, label = a spike in frames
        # 8-11, each window z-scored, features [x, its DeltaFeature, x²], LSTM(64) -> Dense(1),
        # BCE, Adam 1e-3, batch 32, 5 epochs of 10,000 balanced windows
        "seed": {},
        # the tutorial's LSTM-VAE: hidden 64, latent 256, MSE + 1e-4 KL, batch 32, 100 epochs of
        # 1,000 balanced windows
        "seed-vae": {"model": "lstm_vae", "epochs": 100, "epoch_size": 1000},
        # measured (docs/tasks/calcium-detect.md): each trace in units of its noise sd, then
        # standardised with training statistics; a real first difference; 40 frames of context
        # (the same label: a spike in the centre 4 frames); 20 epochs of 50,000 balanced
        # windows, batch 64, cosine schedule
        "best": {
            "normalise": "cell",
            "delta": "diff",
            "window": 40,
            "stride": 5,
            "epochs": 20,
            "epoch_size": 50_000,
            "batch_size": 64,
            "schedule": "cosine",
        },
        # the quickstart: seconds
        "small": {
            "model.hidden": [16],
            "normalise": "cell",
            "delta": "diff",
            "epochs": 5,
            "epoch_size": 8000,
            "batch_size": 64,
            "learning_rate": 3e-3,
            "baseline_windows": 20_000,
        },
    }

    # ------------------------------------------------------------------ data
    def schema(self, cfg):
        return dict(CALCIUM_SCHEMA)

    def load(self, path, cfg):
        ds, rate = read_calcium(path, allowed=(self.dataset, *self.other_datasets), task=self.name)
        if not np.isclose(rate, self.frame_rate_hz):
            raise ValueError(
                f"{ds.source!r} is recorded at {rate:g} Hz; calcium-detect works at "
                f"{self.frame_rate_hz:g} Hz (generate with --frame-rate 100)"
            )
        ds.arrays["calcium"] = [np.asarray(c, np.float32) for c in ds["calcium"]]
        check_cells(ds, cfg.window)
        return ds

    def examples(self, data, cfg):
        from ..data.windows import concatenate_series

        cells = data["calcium"]
        if cfg.normalise == "cell":
            cells = [cell_normalise(c) for c in cells]
        labels = [centre_labels(s, cfg.label_frames) for s in data["spikes"]]
        lengths = [len(c) for c in cells]
        x, offsets = concatenate_series([np.asarray(c, np.float32)[:, None] for c in cells])
        y, _ = concatenate_series(labels)
        series, start = window_starts(lengths, cfg.window, stride=cfg.stride, target="centre")
        unit = "ΔF/F" if data.name == "calcium" else "fluorescence (normalised)"
        ex = Examples(
            {"x": x, "y": y},
            window=cfg.window,
            starts=offsets[series] + start,
            target="centre",
            groups=series,
            x_unit="noise sd" if cfg.normalise == "cell" else unit,
            y_unit="",
            normalise_x=cfg.normalise in ("global", "cell"),
            normalise_y=False,
        )
        return ex, None

    def window_labels(self, ex, cfg) -> np.ndarray:
        return np.asarray(ex.arrays["y"])[ex.starts + cfg.window // 2]

    def balance_labels(self, ex, cfg):
        return self.window_labels(ex, cfg)

    def epoch_size(self, cfg):
        return cfg.epoch_size

    def split(self, ex, cfg, *, key):
        return split_groups(
            ex.groups, key=key, val_fraction=cfg.val_fraction, test_fraction=cfg.test_fraction
        )

    def describe(self, data, ex, test, cfg):
        lengths = np.array([len(c) for c in data["calcium"]])
        lab = self.window_labels(ex, cfg)
        c0 = cfg.window // 2 - cfg.label_frames // 2
        info = {
            "source": data.name,
            "n_cells": int(len(lengths)),
            "frames_per_cell": [int(lengths.min()), int(np.median(lengths)), int(lengths.max())],
            "n_windows": int(len(ex)),
            "positive_fraction": float(lab.mean()),
            "label": f"a spike in window frames {c0}-{c0 + cfg.label_frames - 1} of "
            f"0-{cfg.window - 1}",
            "frame_rate_hz": self.frame_rate_hz,
            "objective": cfg.objective,
        }
        for k in ("config.noise_level", "config.indicator", "config.source", "noise_level_median"):
            if k in data.attrs:
                v = data.attrs[k]
                info[k.removeprefix("config.")] = v.item() if hasattr(v, "item") else v
        return info

    def prediction_input(self, path, *, key, cfg):
        """The traces of a calcium HDF5 file (``dff`` rows) or a Spikefinder-layout CSV."""
        if is_spikefinder_path(path):
            return super().prediction_input(path, key=key, cfg=cfg)
        ds = read_dataset(path, {key: ArraySpec(2, kind="f")}, purpose="prediction")
        rate = ds.attrs.get("frame_rate_hz", ds.attrs.get("config.frame_rate_hz"))
        return [np.asarray(r)[:, None] for r in ds[key]], None if rate is None else float(rate)

    def prediction_windows(self, cfg):
        return cfg.window, "centre"

    def predict_traces(self, run, traces, *, frame_rate=None):
        """P(a spike in the label frames around t) for every frame t of each trace: the window
        centred on t, the trace extended by its first and last values where the window would
        cross an end (so every frame gets a value, as the Spikefinder layout needs)."""
        cfg = run.config
        if cfg.objective == "vae":
            raise ValueError(
                "a calcium-detect VAE run (objective 'vae') predicts no per-frame value; "
                "predict with a classifier run"
            )
        w = cfg.window
        before, after = w // 2, w - w // 2 - 1
        padded = []
        for t in traces:
            t = np.asarray(t, np.float64)
            if cfg.normalise == "cell":
                t = cell_normalise(t[:, 0])[:, None]
            padded.append(np.pad(t, ((before, after), (0, 0)), mode="edge"))
        out = super().predict_traces(run, padded, frame_rate=frame_rate)
        return [p[before : before + len(t)] for p, t in zip(out, traces, strict=True)]

    # ------------------------------------------------------------------ model and loss
    def out_features(self, ex, cfg):
        return 1

    def build_model(self, cfg, *, in_features, out_features, rngs):
        """The model reads the N_FEATURES features of each input channel."""
        return super().build_model(
            cfg, in_features=N_FEATURES * in_features, out_features=out_features, rngs=rngs
        )

    def _features(self, x, cfg):
        return window_features(x, normalise_window=cfg.normalise == "window", delta=cfg.delta)

    def forward(self, model, x, cfg, *, train, rngs=None):
        f = self._features(x, cfg)
        out = model(f, train=train, rngs=rngs)
        if cfg.objective == "vae":
            return {**out, "target": f[..., :1]}
        return out[:, 0]  # the logit of each window

    def example_loss(self, outputs, batch, cfg):
        import jax.numpy as jnp
        import optax

        if cfg.objective == "vae":
            from ..models.vae import kl_divergence

            mse = jnp.mean((outputs["recon"] - outputs["target"]) ** 2, axis=(1, 2))
            return mse + cfg.kl_weight * kl_divergence(outputs["mean"], outputs["logvar"])
        return optax.sigmoid_binary_cross_entropy(outputs, batch["y"])

    def predictions(self, outputs, cfg):
        """P(spike) per window (classify); for the VAE, the reconstructed window and its KL
        term side by side, (B, window + 1)."""
        import jax
        import jax.numpy as jnp

        if cfg.objective == "vae":
            from ..models.vae import kl_divergence

            kl = kl_divergence(outputs["mean"], outputs["logvar"])
            return jnp.concatenate([outputs["recon"][..., 0], kl[:, None]], axis=1)
        return jax.nn.sigmoid(outputs)

    # ------------------------------------------------------------------ evaluation
    def metrics(self, y_true, y_pred, cfg):
        return M.binary_scores(y_true, y_pred, threshold=cfg.threshold)

    def _scores(self, y, p, groups, cfg) -> dict[str, float]:
        return {**self.metrics(y, p, cfg), **_per_cell(y, p, groups, cfg.threshold)}

    def _targets(self, x, cfg) -> np.ndarray:
        """What the VAE reconstructs: the first feature (the window as the model sees it)."""
        return window_features(
            np.asarray(x, np.float64), normalise_window=cfg.normalise == "window", delta=cfg.delta
        )[..., 0]

    def _recon_scores(self, target, recon, y, groups) -> dict[str, float]:
        err = np.mean((recon - target) ** 2, axis=1)
        per_cell = [err[groups == g].mean() for g in np.unique(groups)]
        out = {"recon_mse": float(err.mean()), "recon_mse_cell_sd": float(np.std(per_cell))}
        for name, sel in (("spike", y == 1), ("no_spike", y == 0)):
            out[f"recon_mse_{name}"] = float(err[sel].mean()) if sel.any() else float("nan")
        return out

    def evaluate(self, ev, split, cfg):
        pred, losses = ev.predict(split)
        y = np.asarray(ev.targets(split))
        groups = ev.groups(split)
        out = {"loss": float(losses.mean())}
        if cfg.objective == "vae":
            x = ev.inputs(split, np.arange(len(y)))
            recon, kl = pred[:, :-1], pred[:, -1]
            out.update(self._recon_scores(self._targets(x, cfg), recon, y, groups))
            out["kl"] = float(np.mean(kl))
            out["base_rate"] = float(y.mean())
            return out
        out.update(self._scores(y, pred, groups, cfg))
        return out

    def baselines(self, prepared, cfg):
        """The base rate and logistic regression on the window features (classify); the
        window's mean and PCA reconstructions (vae); fitted on training windows, scored on the
        same held-out windows as the model."""
        src = prepared.sources
        if "train" not in src:
            return {}
        train = src["train"]
        rng = np.random.default_rng(cfg.seed)
        idx = np.arange(len(train))
        if len(idx) > cfg.baseline_windows:
            idx = np.sort(rng.choice(idx, cfg.baseline_windows, replace=False))
        bt = train.fetch(train.arrays, idx)
        held = {}
        for name in ("val", "test"):
            if name in src:
                s = src[name]
                held[name] = (s.fetch(s.arrays, np.arange(len(s))), prepared.groups[name])
        out: dict[str, dict[str, float]] = {}
        if cfg.objective == "vae":
            tt = self._targets(bt["x"], cfg)
            mu = tt.mean(axis=0)
            _, _, vt = np.linalg.svd(tt - mu, full_matrices=False)
            for name, (b, g) in held.items():
                target, y = self._targets(b["x"], cfg), np.asarray(b["y"])
                mean = np.broadcast_to(target.mean(axis=1, keepdims=True), target.shape)
                out[f"{name}_window_mean"] = self._recon_scores(target, mean, y, g)
                for k in cfg.pca_ranks:
                    v = vt[:k]
                    recon = (target - mu) @ v.T @ v + mu
                    out[f"{name}_pca_{k}"] = self._recon_scores(target, recon, y, g)
            return out
        yt = np.asarray(bt["y"])
        ft = self._features(np.asarray(bt["x"], np.float64), cfg).reshape(len(yt), -1)
        fmu, fsd = ft.mean(axis=0), ft.std(axis=0)
        fsd = np.where(fsd > 0, fsd, 1.0)
        # class-balanced weights (as the model's balanced batches): n / (2 n_class)
        n1 = max(int(yt.sum()), 1)
        n0 = max(len(yt) - n1, 1)
        sw = np.where(yt == 1, len(yt) / (2 * n1), len(yt) / (2 * n0))
        w, b0 = fit_logistic((ft - fmu) / fsd, yt, l2=cfg.logreg_l2, sample_weight=sw)
        prior = float(yt.mean())
        for name, (b, g) in held.items():
            y = np.asarray(b["y"])
            f = self._features(np.asarray(b["x"], np.float64), cfg).reshape(len(y), -1) - fmu
            p = _sigmoid((f / fsd) @ w + b0)
            out[f"{name}_base_rate"] = self.metrics(y, np.full(len(y), prior), cfg)
            out[f"{name}_logistic"] = self._scores(y, p, g, cfg)
        return out

    def plot_examples(self, path, examples, cfg):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ex = examples.get("test") or examples["val"]
        x, y, p = ex["x"][..., 0], np.asarray(ex["y"]), np.asarray(ex["pred"])
        pos, neg = np.flatnonzero(y == 1)[:4], np.flatnonzero(y == 0)[:4]
        pick = np.concatenate([pos, neg])
        if pick.size == 0:
            return
        t = np.arange(cfg.window) - cfg.window // 2
        c0 = -(cfg.label_frames // 2)
        fig, axes = plt.subplots(2, 4, figsize=(12, 5), sharex=True, squeeze=False)
        for a in axes.ravel()[len(pick) :]:
            a.axis("off")
        for a, i in zip(axes.ravel(), pick, strict=False):
            a.axvspan(c0 - 0.5, c0 + cfg.label_frames - 0.5, color="0.9")
            if cfg.objective == "vae":
                target = self._targets(x[i : i + 1, :, None], cfg)[0]
                a.plot(t, target, color="k", lw=1.0, label="window (as the model sees it)")
                a.plot(t, p[i, :-1], color="tab:orange", lw=1.0, label="reconstruction")
                a.set_title(f"{'spike' if y[i] else 'no spike'}", fontsize=9)
            else:
                a.plot(t, x[i], color="k", lw=1.0)
                a.set_title(f"{'spike' if y[i] else 'no spike'}: P = {p[i]:.2f}", fontsize=9)
        axes[0, 0].legend(fontsize=7) if cfg.objective == "vae" else None
        for a in axes[-1]:
            a.set_xlabel("frame from the centre (10 ms)")
        unit = "noise sd" if cfg.normalise == "cell" else "the file's unit"
        for a in axes[:, 0]:
            a.set_ylabel("z-scored window" if cfg.objective == "vae" else f"trace ({unit})")
        fig.suptitle(
            f"calcium-detect ({cfg.objective}): held-out windows, label frames shaded",
            fontsize=11,
            x=0.02,
            ha="left",
        )
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)


register(CalciumDetectTask())
