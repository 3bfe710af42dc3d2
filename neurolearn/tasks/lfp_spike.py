"""lfp-spike: multi-unit spikes from windows of a local field potential (LFP).

Data (``neurosim generate lfp``, docs/lfp.md): the LFP of the 600-cell E/I ring at 1 kHz and a
0/1 label per sample, 1 when one of the six cells nearest the electrode fired in that sample
(about 7 % of samples). An HDF5 file also has ``segment`` (independent ring trials: no window
straddles a boundary) and ``mua_current`` (the labelled cells' own summed synaptic input, for
the ceiling); a CSV (``time,lfp,spike``, the notebook's layout) does not say where its segments
are and is treated as one series (with the default ``--segment-s 30`` a window may then span
the join of two trials every 30 s; use the HDF5 file to avoid it).

The seed (a Keras notebook) cut windows of 100 samples, labelled each with the spike at the
sample *after* the window (forecasting), split the overlapping windows at random 70/30 and
trained a BiLSTM (64 → 32, dropout 0.2, 75,073 parameters) with Adam 1e-3, BCE, batch 64 for
50 epochs. It reported a validation accuracy of 0.925, about the share of 0 labels: accuracy
cannot tell that model from one that always says "no spike".

Here: the label is a config choice, ``label_position=None`` the seed's (spike at window start +
window) or an int k (detection: the spike at window start + k; the LFP after a spike carries the
synaptic currents it caused), the input is ``lfp``, ``proxy`` (the LFP before its noise) or
``mua_current`` (the ceiling), the split is by contiguous time blocks within each segment with a
gap of at least one window between any training and any held-out window (``split="random"`` is the seed's leaky split, with a
:class:`~neurolearn.data.splits.LeakageWarning`), and the metrics are those of a rare-event
detector (base rate, balanced accuracy, ROC AUC, PR AUC, best F1) beside two baselines: the base
rate and an L2-regularised logistic regression on the same normalised window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import metrics as M
from ..baselines import balanced_weights
from ..baselines import fit_logistic as _fit_logistic
from ..config import TrainConfig
from ..data.prepare import Examples
from ..data.readers import ArraySpec, dataset_name, read_dataset
from ..data.splits import Split, split_blocks, split_random
from ..data.windows import window_starts
from ..models import describe_model
from ..models.bilstm import BiLSTMConfig
from .registry import Task, register

__all__ = [
    "LFPSpikeConfig",
    "LFPSpikeTask",
    "LFPExamples",
    "fit_logistic",
    "logistic_predict",
    "window_features",
]

INPUTS = ("lfp", "proxy", "mua_current")
SPLITS = ("blocks", "random")


@dataclass(frozen=True)
class LFPSpikeConfig(TrainConfig):
    """lfp-spike settings (defaults: the seed's experiment, on a block split).

    Attributes:
        model: the model (default: the seed's BiLSTM 64 → 32, dropout 0.2, one logit per
            window). A model with an output per step (a CNN, a BiLSTM with
            ``readout="sequence"``) is read at the label's step in detection (at the last step
            in forecasting, and for a causal CNN).
        window: samples per input window (the seed: 100, i.e. 100 ms at 1 kHz).
        label_position: None: the label is the spike at the sample right after the window
            (forecasting, the seed); an int k in [0, window): the spike at window start + k
            (detection).
        input: ``"lfp"`` (the recording), ``"proxy"`` (the same LFP before its 1/f and line
            noise: what the noise costs; HDF5 files only) or ``"mua_current"`` (I_E and I_I of
            the labelled cells, the ceiling: HDF5 files only).
        split: ``"blocks"`` (contiguous time blocks per segment, ``gap`` between parts) or
            ``"random"`` (the seed's random split of overlapping windows: leaks, warns).
        n_blocks: time blocks per segment (``split="blocks"``).
        val_fraction, test_fraction: share of the blocks (or, for ``"random"``, of the windows)
            that validate and test.
        gap: samples between any training and any held-out window (None: one window, the
            minimum; the label sample after a forecasting window counts as part of it).
        stride: samples between window starts (every split).
        balance: class-balanced training batches (as many spike as no-spike windows per
            epoch); the seed did not balance.
        logistic_l2: λ of the logistic-regression baseline (mean log-loss + λ‖w‖²).
        logistic_max_windows: training windows the baseline is fitted on (a fixed random
            subset when there are more).
        n_examples_plot: consecutive held-out windows in the report's figure.
    """

    epochs: int = 50
    batch_size: int = 64
    learning_rate: float = 1e-3
    eval_batch_size: int = 1024
    model: Any = BiLSTMConfig()
    window: int = 100
    label_position: int | None = None
    input: str = "lfp"
    split: str = "blocks"
    n_blocks: int = 10
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    gap: int | None = None
    stride: int = 1
    balance: bool = False
    logistic_l2: float = 1e-3
    logistic_max_windows: int = 50_000
    n_examples_plot: int = 500

    def __post_init__(self):
        super().__post_init__()
        if self.window < 1:
            raise ValueError(f"config window must be >= 1, got {self.window}")
        if self.label_position is not None and not 0 <= self.label_position < self.window:
            raise ValueError(
                f"config label_position must be null (forecasting: the sample after the window) "
                f"or in [0, window) = [0, {self.window}) (detection), got {self.label_position}"
            )
        if self.input not in INPUTS:
            raise ValueError(f"config input must be one of {INPUTS}, got {self.input!r}")
        if self.split not in SPLITS:
            raise ValueError(f"config split must be one of {SPLITS}, got {self.split!r}")
        if self.n_blocks < 2:
            raise ValueError(f"config n_blocks must be >= 2, got {self.n_blocks}")
        if not 0 < self.val_fraction < 1 or not 0 <= self.test_fraction < 1:
            raise ValueError(
                "config val_fraction must be in (0, 1) and test_fraction in [0, 1), got "
                f"{self.val_fraction} and {self.test_fraction}"
            )
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError("config val_fraction + test_fraction must be < 1")
        if self.gap is not None and self.gap < 0:
            raise ValueError(f"config gap must be >= 0 or null, got {self.gap}")
        if self.stride < 1:
            raise ValueError(f"config stride must be >= 1, got {self.stride}")
        if not self.logistic_l2 >= 0:
            raise ValueError(f"config logistic_l2 must be >= 0, got {self.logistic_l2}")
        if self.logistic_max_windows < 10 or self.n_examples_plot < 1:
            raise ValueError("config logistic_max_windows must be >= 10, n_examples_plot >= 1")

    @property
    def forecasting(self) -> bool:
        return self.label_position is None

    @property
    def label_offset(self) -> int:
        """Sample of the label relative to the window start."""
        return self.window if self.label_position is None else int(self.label_position)

    @property
    def span(self) -> int:
        """Samples a window covers including its label (window + 1 when forecasting)."""
        return self.window + (1 if self.forecasting else 0)


@dataclass
class LFPExamples(Examples):
    """Windows of one LFP file, with where they lie.

    Attributes (besides :class:`~neurolearn.data.prepare.Examples`'):
        series, start_in_series: segment index (0, 1, … in file order) and start sample within
            it of every window, (N,).
        lengths: samples of each segment, (S,).
        labels: the label of every window, (N,) uint8.
        source: the file (for messages).
        n_samples: samples in the file.
    """

    series: np.ndarray | None = None
    start_in_series: np.ndarray | None = None
    lengths: np.ndarray | None = None
    labels: np.ndarray | None = None
    source: str = ""
    n_samples: int = 0


def window_features(x: np.ndarray, starts: np.ndarray, window: int) -> np.ndarray:
    """``(N, window · C)`` float64: the samples of every window (every channel), flattened."""
    idx = np.asarray(starts, np.int64)[:, None] + np.arange(window)[None, :]
    return np.asarray(x, np.float64)[idx].reshape(len(idx), -1)


def fit_logistic(
    X: np.ndarray, y: np.ndarray, l2: float, *, balance: bool = False
) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (:func:`neurolearn.baselines.fit_logistic`) with
    the penalty per example: minimises the (class-balanced, with ``balance``) mean log-loss
    ``+ l2 · ‖w‖²``, i.e. scikit-learn's ``LogisticRegression(C=1 / (2 · n · l2))``
    (``class_weight="balanced"`` with ``balance``).

    Returns:
        ``(w, b)``.
    """
    n = len(y)
    weights = balanced_weights(y) if balance else None
    return _fit_logistic(X, y, l2=2.0 * n * l2, sample_weight=weights)


def logistic_predict(x: np.ndarray, starts: np.ndarray, window: int, w: np.ndarray, b: float):
    """P(y=1) of the windows at ``starts`` of frames ``x`` (in chunks: little memory)."""
    from scipy.special import expit

    out = np.empty(len(starts))
    for lo in range(0, len(starts), 20_000):
        out[lo : lo + 20_000] = window_features(x, starts[lo : lo + 20_000], window) @ w + b
    return expit(out)


class LFPSpikeTask(Task):
    name = "lfp-spike"
    description = (
        "windows of 100 LFP samples (1 kHz) -> multi-unit spike: forecasting (the seed's label, "
        "the sample after the window) or detection (a sample inside it); BiLSTM (75,073 params) "
        "or CNN; block split; ceiling from the labelled cells' synaptic input"
    )
    dataset = "lfp"
    Config = LFPSpikeConfig
    kind = "binary"
    monitor = ("val_roc_auc", "max")
    units = {
        "loss": "BCE (nats)",
        "base_rate": "",
        "accuracy": "",
        "balanced_accuracy": "",
        "roc_auc": "",
        "pr_auc": "",
        "f1_best": "",
        "f1_threshold": "P(spike)",
    }
    frame_rate_hz = 1000.0
    predict_key = "lfp"
    presets = {
        # the notebook's model and training (forecasting: the spike at the sample after the
        # window; BiLSTM 64 -> 32, dropout 0.2; Adam 1e-3, BCE, batch 64, 50 epochs, no class
        # balancing), but on the block split: the notebook's random split of overlapping
        # windows leaks (preset `leaky`)
        "seed": {},
        # the seed exactly as the notebook split it: 70/30 at random over overlapping windows
        # (warns; for the docs' comparison of the two splits)
        "leaky": {"split": "random", "val_fraction": 0.3, "test_fraction": 0.0},
        # detection (the spike at the window's centre) with a small non-causal CNN read at the
        # label's sample (it sees 13 samples either side), class-balanced batches, a window
        # every 2 samples, early stopping on the validation ROC AUC; on the 300 s file it
        # stops after 4-6 epochs of ~25-40 s on 2 CPU cores
        "best": {
            "label_position": 50,
            "model": {"name": "cnn", "channels": [16, 16, 16], "kernels": [15, 9, 5]},
            "balance": True,
            "stride": 2,
            "batch_size": 256,
            "learning_rate": 1e-3,
            "epochs": 10,
            "patience": 3,
        },
        # forecasting (the seed's label) with a causal CNN read at the window's last sample
        # (it sees the last 27 samples), class-balanced, chosen on validation among three
        # causal CNNs: on the 300 s file it beats the logistic baseline on every seed's test
        # split, by a small margin (docs/tasks/lfp-spike.md)
        "forecast": {
            "label_position": None,
            "model": {
                "name": "cnn",
                "channels": [32, 32, 32],
                "kernels": [15, 9, 5],
                "causal": True,
                "dense": 32,
            },
            "balance": True,
            "stride": 2,
            "batch_size": 256,
            "learning_rate": 3e-4,
            "epochs": 10,
            "patience": 3,
        },
        # the quickstart (seconds on a 60 s file): detection, a tiny CNN, 3 epochs
        "small": {
            "label_position": 50,
            "model": {"name": "cnn", "channels": [8, 8], "kernels": [15, 5]},
            "balance": True,
            "batch_size": 256,
            "learning_rate": 3e-3,
            "epochs": 3,
        },
    }

    # ------------------------------------------------------------------ data
    def schema(self, cfg):
        out = {
            "lfp": ArraySpec(1, kind="f", unit="z-scored"),
            "spike": ArraySpec(1, kind="iuf", binary=True, rows_as="lfp"),
            "segment": ArraySpec(1, kind="iu", rows_as="lfp", optional=True),
        }
        if cfg.input == "mua_current":
            out["mua_current"] = ArraySpec(2, (2,), kind="f", rows_as="lfp", unit="V_T/ms")
        elif cfg.input == "proxy":
            out["proxy"] = ArraySpec(1, kind="f", rows_as="lfp", unit="z-scored")
        return out

    def load(self, path, cfg):
        """Read an LFP HDF5 file or CSV; refuse another dataset kind, NaN, labels other than
        0/1, and ``input=mua_current`` or ``input=proxy`` on a file without it."""
        from pathlib import Path

        path = Path(path)
        name = dataset_name(path) if path.exists() else None
        if cfg.input != "lfp" and name == "lfp":
            what = {
                "mua_current": "the labelled cells' synaptic input",
                "proxy": "the noise-free LFP proxy",
            }[cfg.input]
            if path.suffix.lower() not in (".h5", ".hdf5"):
                raise ValueError(
                    f"config input={cfg.input} needs {what}, which "
                    f"only the HDF5 file has; {str(path)!r} is an LFP CSV (time, lfp, spike). "
                    "Make the HDF5 file with the same parameters: `neurosim generate lfp "
                    "--duration-s S --seed N --out FILE.h5`"
                )
            import h5py

            with h5py.File(path, "r") as f:
                has = cfg.input in f
            if not has:
                raise KeyError(
                    f"config input={cfg.input}: {str(path)!r} has no {cfg.input!r} ({what}): "
                    "it was made by an older neurosim; run `neurosim generate lfp` again with "
                    "the same parameters to get it"
                )
        return read_dataset(path, self.schema(cfg), dataset=self.dataset)

    def examples(self, data, cfg):
        lfp = np.asarray(data["lfp"])
        spike = np.asarray(data["spike"]).astype(np.uint8)
        n = len(lfp)
        if "segment" in data.arrays:
            seg = np.asarray(data["segment"])
            cut = np.flatnonzero(np.diff(seg) != 0) + 1
        else:  # a CSV: one series (its segment boundaries are not in the file)
            cut = np.zeros(0, np.int64)
        offsets = np.concatenate([[0], cut]).astype(np.int64)
        lengths = np.diff(np.concatenate([offsets, [n]])).astype(np.int64)
        span = cfg.span
        if lengths.max(initial=0) < span:
            raise ValueError(
                f"{data.source!r} has {n} samples (longest segment {int(lengths.max(initial=0))})"
                f": too few for one window of {cfg.window} samples"
                f"{' and the label after it' if cfg.forecasting else ''}; use a longer recording "
                "(`neurosim generate lfp --duration-s S`) or a shorter window"
            )
        series, start = window_starts(lengths, cfg.window, stride=cfg.stride, target="sequence")
        fits = start + span <= lengths[series]
        series, start = series[fits], start[fits]
        starts = offsets[series] + start
        labels = spike[starts + cfg.label_offset]
        if cfg.input == "lfp":
            x = lfp.astype(np.float32)[:, None]
            x_unit = "LFP (z-scored proxy + noise)"
        elif cfg.input == "proxy":
            x = np.asarray(data["proxy"], np.float32)[:, None]
            x_unit = "LFP proxy (z-scored, no noise)"
        else:
            x = np.asarray(data["mua_current"], np.float32)
            x_unit = "V_T/ms (I_E, I_I of the labelled cells)"
        if cfg.forecasting:
            y, target = spike.astype(np.float32), "next"
        else:
            # the WindowSource reads y at the window's last sample: shift the labels so that
            # y[start + window - 1] = spike[start + k] (never across a segment: k >= 0)
            d = cfg.window - 1 - cfg.label_offset
            y = np.zeros(n, np.float32)
            y[d:] = spike[: n - d]
            target = "last"
        block_len = np.maximum(lengths // cfg.n_blocks, 1)
        block = np.minimum(start // block_len[series], cfg.n_blocks - 1)
        ex = LFPExamples(
            {"x": x, "y": y},
            window=cfg.window,
            starts=starts.astype(np.int64),
            target=target,
            groups=(series * cfg.n_blocks + block).astype(np.int64),
            x_unit=x_unit,
            y_unit="",
            normalise_x=True,
            normalise_y=False,
            series=series,
            start_in_series=start,
            lengths=lengths,
            labels=labels,
            source=data.source,
            n_samples=n,
        )
        return ex, None

    # ------------------------------------------------------------------ prediction on new data
    predict_key = "lfp"

    def prediction_windows(self, cfg):
        return cfg.window, ("next" if cfg.forecasting else cfg.label_offset)

    def prediction_input(self, path, *, key, cfg):
        """The whole recording as one trace (T, C) of the run's input (``lfp``, ``proxy`` or
        ``mua_current``), from an LFP CSV or HDF5 file, and its sample rate (HDF5: its
        attributes; CSV: its ``time`` column). Windows that straddle a segment boundary of
        the file are predicted like any other."""
        from ..data.readers import frame_rate_of

        ds = self.load(path, cfg)
        x = np.asarray(ds[cfg.input], np.float32)
        if x.ndim == 1:
            x = x[:, None]
        return [x], frame_rate_of(ds.attrs)

    def split(self, ex, cfg, *, key):
        span = cfg.span
        gap = span if cfg.gap is None else int(cfg.gap)
        if cfg.split == "random":
            sp = split_random(
                len(ex),
                key=key,
                val_fraction=cfg.val_fraction,
                test_fraction=cfg.test_fraction,
                overlapping=cfg.stride < span,
            )
            sp = Split(
                sp.train,
                sp.val,
                sp.test,
                "random windows (leaks: overlapping windows in training and validation)",
                {
                    **sp.details,
                    "leaky": cfg.stride < span,
                    "note": "the seed's split; held-out windows share samples with training "
                    "windows, so held-out scores are not independent of training (on this "
                    "task's labels they were not inflated either: docs/tasks/lfp-spike.md; "
                    "use split=blocks)",
                },
            )
        else:
            need = cfg.n_blocks * (span + gap)
            ok = ex.lengths >= need
            if not ok.any():
                raise ValueError(
                    f"{ex.source!r} has {ex.n_samples} samples ({len(ex.lengths)} segment(s), "
                    f"the longest {int(ex.lengths.max())}): too few for split=blocks with "
                    f"n_blocks={cfg.n_blocks}, windows of {cfg.window} samples"
                    f"{' + the label after them' if cfg.forecasting else ''} and a gap of {gap}: "
                    f"a segment needs at least n_blocks × (window span + gap) = {need} samples. "
                    "Use a longer recording (`neurosim generate lfp --duration-s S`), fewer "
                    "blocks (--config n_blocks=N) or a shorter window"
                )
            kept = np.flatnonzero(ok)
            new_id = np.full(len(ex.lengths), -1)
            new_id[kept] = np.arange(len(kept))
            sel = np.flatnonzero(ok[ex.series])
            sp = split_blocks(
                new_id[ex.series[sel]],
                ex.start_in_series[sel],
                span,
                ex.lengths[kept],
                key=key,
                n_blocks=cfg.n_blocks,
                val_fraction=cfg.val_fraction,
                test_fraction=cfg.test_fraction,
                gap=gap,
            )
            details = dict(sp.details)
            for part in ("val_blocks", "test_blocks"):  # as [segment, block] of the file
                details[part] = [
                    [int(kept[b // cfg.n_blocks]), int(b % cfg.n_blocks)] for b in details[part]
                ]
            details["dropped_segments"] = np.flatnonzero(~ok).tolist()
            details["segments"] = int(len(ex.lengths))
            sp = Split(sel[sp.train], sel[sp.val], sel[sp.test], sp.method, details)
        for name, idx in (("validation", sp.val), ("test", sp.test)):
            if name == "test" and cfg.test_fraction == 0:
                continue
            pos = int(ex.labels[idx].sum()) if len(idx) else 0
            if pos == 0 or pos == len(idx):
                raise ValueError(
                    f"{ex.source!r}: the {name} part has {len(idx)} windows, {pos} of them "
                    "labelled 1: both labels are needed to score it. Use a longer recording "
                    "(`neurosim generate lfp --duration-s S`) or a larger "
                    f"{'val' if name == 'validation' else 'test'}_fraction"
                )
        if len(sp.train) == 0 or ex.labels[sp.train].min() == ex.labels[sp.train].max():
            raise ValueError(f"{ex.source!r}: the training part needs windows of both labels")
        return sp

    def balance_labels(self, ex, cfg):
        return ex.labels if cfg.balance else None

    def out_features(self, ex, cfg):
        return 1

    def describe(self, data, ex, test, cfg):
        rate = data.attrs.get("config.sample_rate_hz")
        return {
            "n_samples": int(ex.n_samples),
            "n_segments": int(len(ex.lengths)),
            "segments_from": "the file's segment array"
            if "segment" in data.arrays
            else "none in the file (a CSV): one series",
            "sample_rate_hz": None if rate is None else float(rate),
            "label_rate": float(np.mean(data["spike"])),
            "window": cfg.window,
            "label": (
                f"forecasting: spike at window start + {cfg.window} (the sample after the window)"
                if cfg.forecasting
                else f"detection: spike at window start + {cfg.label_position}"
            ),
            "input": cfg.input,
            "n_windows": int(len(ex)),
            "window_label_rate": float(ex.labels.mean()),
        }

    # ------------------------------------------------------------------ model
    def _readout_step(self, cfg) -> int:
        """The step of a per-step output that scores the window: the label's in detection, the
        last in forecasting and for a causal CNN (whose output at a step sees only the past)."""
        if cfg.forecasting or getattr(cfg.model, "causal", False):
            return cfg.window - 1
        return int(cfg.label_position)

    def _crop(self, cfg) -> tuple[int, int, int]:
        """``(lo, hi, step)``: a CNN's output at the readout step depends on the window's samples
        ``lo:hi`` only; run it on those (the same output, ``window / (hi − lo)`` times less
        work) and read step ``step`` of the crop. 'same' padding pads at most ``k // 2`` on a
        side per layer, causal padding ``k − 1`` on the left, so beyond the window both see the
        same zeros."""
        from ..models.cnn import CNNConfig

        r = self._readout_step(cfg)
        m = cfg.model
        if not isinstance(m, CNNConfig):
            return 0, cfg.window, r
        if m.causal:
            left, right = sum(k - 1 for k in m.kernels), 0
        else:
            left = right = sum(k // 2 for k in m.kernels)
        lo, hi = max(0, r - left), min(cfg.window, r + right + 1)
        return lo, hi, r - lo

    def forward(self, model, x, cfg, *, train, rngs=None):
        lo, hi, step = self._crop(cfg)
        out = model(x[:, lo:hi], train=train, rngs=rngs)
        if out.ndim == 3:  # an output per step: read at the label's step (or the last)
            out = out[:, step]
        return out[..., 0]  # one logit per window

    def example_loss(self, outputs, batch, cfg):
        import optax

        return optax.sigmoid_binary_cross_entropy(outputs, batch["y"])

    def predictions(self, outputs, cfg):
        import jax

        return jax.nn.sigmoid(outputs)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, ev, split, cfg):
        """Pooled metrics of the split, and the spread of the ROC AUC over its time blocks."""
        pred, losses = ev.predict(split)
        y = np.asarray(ev.targets(split)).astype(np.int64)
        out = {"loss": float(losses.mean()), **self.metrics(y, pred, cfg)}
        groups = ev.groups(split)
        aucs = []
        for g in np.unique(groups):
            sel = groups == g
            if 0 < y[sel].sum() < sel.sum():
                aucs.append(M.roc_auc(y[sel], pred[sel]))
        out["n_blocks"] = float(len(aucs))
        out["roc_auc_block_sd"] = float(np.std(aucs, ddof=1)) if len(aucs) > 1 else 0.0
        out["roc_auc_block_min"] = float(np.min(aucs)) if aucs else out["roc_auc"]
        return out

    def metrics(self, y_true, y_pred, cfg):
        f1, thr = M.best_f1(np.asarray(y_true).astype(np.int64), y_pred)
        return {**M.binary_scores(y_true, y_pred), "f1_best": f1, "f1_threshold": thr}

    def baselines(self, prepared, cfg):
        """The base rate (the training share of 1s, for every window) and an L2 logistic
        regression on the same normalised window (every sample of every input channel),
        fitted on ≤ ``logistic_max_windows`` training windows (class-weighted when the model's
        batches are class-balanced, so that its 0.5 threshold means the same), scored on val
        and test."""
        src = prepared.sources
        if "train" not in src:
            return {}
        tr = src["train"]
        x = np.asarray(tr.arrays["x"])
        off = cfg.window if cfg.forecasting else cfg.window - 1
        y_all = np.asarray(tr.arrays["y"])
        starts = np.asarray(tr.arrays["starts"], np.int64)
        rate = float(y_all[starts + off].mean())
        if len(starts) > cfg.logistic_max_windows:
            rng = np.random.default_rng(cfg.seed)
            starts = np.sort(rng.choice(starts, cfg.logistic_max_windows, replace=False))
        w, b = fit_logistic(
            window_features(x, starts, cfg.window),
            y_all[starts + off],
            cfg.logistic_l2,
            balance=cfg.balance,
        )
        out: dict[str, dict[str, float]] = {}
        for name in ("val", "test"):
            if name not in src:
                continue
            s = np.asarray(src[name].arrays["starts"], np.int64)
            y = np.asarray(src[name].arrays["y"])[s + off].astype(np.int64)
            out[f"{name}_base_rate"] = self.metrics(y, np.full(len(y), rate), cfg)
            out[f"{name}_logistic"] = self.metrics(
                y, logistic_predict(np.asarray(src[name].arrays["x"]), s, cfg.window, w, b), cfg
            )
        return out

    # ------------------------------------------------------------------ figure
    def plot_examples(self, path, examples, cfg):
        """A stretch of consecutive held-out windows per split: the input with the true spikes
        above, P(spike) with the best-F1 threshold of the validation stretch below."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        splits = [s for s in ("val", "test") if s in examples]
        stretches = {}
        for s in splits:
            x, y, p = (np.asarray(examples[s][k]) for k in ("x", "y", "pred"))
            n, st = len(x), cfg.stride
            if st < cfg.window:  # keep consecutive windows only (up to a block's end)
                for i in range(1, n):
                    if not np.allclose(x[i, :-st], x[i - 1, st:]):
                        n = i
                        break
            trace = (
                np.concatenate([x[0], x[1:n, -st:].reshape(-1, x.shape[-1])])
                if st < cfg.window
                else x[:n].reshape(-1, x.shape[-1])
            )
            stretches[s] = (trace, y[:n], p[:n])
        thr = None
        if "val" in stretches and stretches["val"][1].any():
            _, thr = M.best_f1(stretches["val"][1].astype(np.int64), stretches["val"][2])
        fig, axes = plt.subplots(
            2 * len(splits),
            1,
            figsize=(12, 2.6 * len(splits) * 2),
            squeeze=False,
            gridspec_kw={"height_ratios": [1.4, 1] * len(splits)},
        )
        names = {
            "lfp": ["LFP"],
            "proxy": ["LFP proxy (no noise)"],
            "mua_current": ["I_E (labelled cells)", "I_I (labelled cells)"],
        }[cfg.input]
        for j, s in enumerate(splits):
            trace, y, p = stretches[s]
            a, b = axes[2 * j, 0], axes[2 * j + 1, 0]
            t = np.arange(len(trace))
            for c in range(trace.shape[1]):
                a.plot(t, trace[:, c], lw=0.7, color=("0.25", "tab:purple")[c % 2], label=names[c])
            pos = np.arange(len(y)) * cfg.stride + cfg.label_offset
            hit = pos[y > 0.5]
            top = float(trace.max()) + 0.15 * float(np.ptp(trace) or 1.0)
            a.plot(hit, np.full(hit.size, top), "|", color="tab:red", ms=9, label="true spike")
            a.set_ylabel("V_T/ms" if cfg.input == "mua_current" else "LFP (z-scored)")
            a.set_xlim(0, len(trace))
            title = f"{'validation' if s == 'val' else 'test'}: {len(y)} consecutive windows"
            if 0 < y.sum() < len(y):
                title += f"; ROC AUC of this stretch {M.roc_auc(y.astype(np.int64), p):.3f}"
            a.set_title(title, fontsize=9, loc="left")
            a.legend(loc="lower right", fontsize=8, ncol=3, frameon=False)
            b.plot(pos, p, color="tab:blue", lw=0.8, label="P(spike), model")
            b.plot(hit, np.full(hit.size, 1.02), "|", color="tab:red", ms=7)
            if thr is not None and np.isfinite(thr):
                b.axhline(thr, color="tab:orange", ls="--", lw=0.9)
                b.text(
                    0.995,
                    thr,
                    f"threshold {thr:.2f} (best F1 on the validation stretch) ",
                    fontsize=7,
                    ha="right",
                    va="bottom",
                    transform=b.get_yaxis_transform(),
                    color="tab:orange",
                )
            b.set_ylim(-0.02, 1.08)
            b.set_xlim(0, len(trace))
            b.set_ylabel("P(spike)")
        axes[-1, 0].set_xlabel("samples from the stretch's start (ms at 1 kHz)")
        label = (
            f"forecasting (spike at the sample after a {cfg.window}-sample window)"
            if cfg.forecasting
            else f"detection (spike at sample {cfg.label_position} of a {cfg.window}-sample window)"
        )
        fig.suptitle(
            f"lfp-spike, {label}, input {cfg.input}: {describe_model(cfg.model)}",
            fontsize=10,
            x=0.01,
            ha="left",
        )
        fig.tight_layout(rect=(0, 0, 1, 0.97))
        fig.savefig(path, dpi=100)
        plt.close(fig)


register(LFPSpikeTask())
