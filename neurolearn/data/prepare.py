"""From a task's examples to what the engine trains on: split → fit the normalisation on the
training examples only → per-split sources. Written once for every task.

A task describes its data as :class:`Examples`: either *rows* (``x`` of shape (N, T, C), one
example per row, e.g. whole traces) or *windows* over frames laid end to end (``x`` of shape
(F, C), ``starts`` the first frame of each window; see :mod:`neurolearn.data.windows`), plus
the group of each example (trace, trial, cell, time block) for the split and for grouped
metrics. :func:`prepare` turns examples and a :class:`~neurolearn.data.splits.Split` into a
:class:`Prepared`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .normalise import Normalisation, Standardizer
from .splits import Split
from .windows import ArraySource, WindowSource

__all__ = ["Examples", "Prepared", "prepare", "whole_file_split", "training_frames"]


@dataclass
class Examples:
    """A task's examples before the split.

    Attributes:
        arrays: ``{"x": ..., "y": ..., [more]}``: rows (every array has N rows) or, with
            ``window`` set, frames (every array has F frames).
        window: frames per window (None: the examples are rows).
        starts: first frame of each window, (N,) (windows only).
        target: what ``y`` of a window is (``"next" | "centre" | "last" | "sequence"``).
        groups: group id of each example, (N,) (None: every example is its own group).
        x_unit, y_unit: physical units (for the normalisation record).
        normalise_y: standardise ``y`` too (regression on a continuous target); False for
            labels and counts.
        normalise_x: standardise ``x`` (per channel).
    """

    arrays: dict[str, np.ndarray]
    window: int | None = None
    starts: np.ndarray | None = None
    target: str = "sequence"
    groups: np.ndarray | None = None
    x_unit: str = ""
    y_unit: str = ""
    normalise_x: bool = True
    normalise_y: bool = False

    def __len__(self) -> int:
        if self.window is not None:
            return len(self.starts)
        return len(self.arrays["x"])

    @property
    def n_features(self) -> int:
        return int(self.arrays["x"].shape[-1])


@dataclass
class Prepared:
    """A dataset made ready for training: sources per split, normalisation, and the record.

    Attributes:
        sources: ``{"train": ..., "val": ..., ["test": ...]}``, each an
            :class:`~neurolearn.data.ArraySource` or :class:`~neurolearn.data.WindowSource`
            holding *normalised* float32 inputs (and targets for regression), host arrays.
        normalisation: fitted on the training split only (or given, when evaluating).
        split: description of the split (method, sizes, held-out groups/blocks).
        balance: class label of each training example, for class-balanced sampling (None: off).
        info: anything else worth recording (shapes, units, frame rate).
        groups: group id of every example of each split (``{split: (n,)}``), for grouped
            metrics (per trial, cell, block).
        in_features, out_features: the model's input and output sizes.
    """

    sources: dict[str, Any]
    normalisation: Normalisation
    split: dict[str, Any]
    balance: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, np.ndarray] = field(default_factory=dict)
    in_features: int | None = None
    out_features: int | None = None


def training_frames(n_frames: int, starts: np.ndarray, window: int) -> np.ndarray:
    """Boolean mask of the frames covered by windows starting at ``starts`` (for fitting a
    normalisation on the frames the training windows see, and nothing else)."""
    diff = np.zeros(n_frames + 1, np.int64)
    np.add.at(diff, np.asarray(starts, np.int64), 1)
    np.add.at(diff, np.minimum(np.asarray(starts, np.int64) + window, n_frames), -1)
    return np.cumsum(diff[:-1]) > 0


def whole_file_split(n: int, *, reason: str) -> Split:
    """Every example held out (evaluating a trained model on an independent file)."""
    return Split(np.zeros(0, np.int64), np.arange(n), method="all rows", details={"note": reason})


def _source(ex: Examples, arrays: dict[str, np.ndarray], idx: np.ndarray):
    if ex.window is None:
        return ArraySource({k: v[idx] for k, v in arrays.items()})
    return WindowSource({**arrays, "starts": ex.starts[idx].astype(np.int32)}, ex.window, ex.target)


def prepare(
    ex: Examples,
    split: Split,
    *,
    normalisation: Normalisation | None = None,
    test: Examples | None = None,
    balance: np.ndarray | None = None,
    out_features: int | None = None,
    info: dict[str, Any] | None = None,
) -> Prepared:
    """Fit the normalisation on ``split.train`` (unless given), normalise, make the sources.

    Args:
        ex: the examples.
        split: indices into ``ex`` of each part (an empty ``test`` part is left out).
        normalisation: apply this one instead of fitting (evaluation of a trained model).
        test: separate test examples (e.g. the hh-voltage file's longer ``X_test`` traces),
            normalised with the same statistics; takes the place of ``split.test``.
        balance: class label of every example of ``ex`` (class-balanced training batches).
        out_features: the model's outputs per step (default: ``y``'s last size, 1 for a
            vector ``y``).
        info: recorded in the run folder.

    Raises:
        ValueError: nothing to train on, or NaN/infinity in the training data.
    """
    x, y = ex.arrays["x"], ex.arrays["y"]
    if normalisation is None:
        if len(split.train) == 0:
            raise ValueError("the split leaves no training examples")
        if ex.window is None:
            xt, yt = x[split.train], y[split.train]
            what = f"{len(split.train)} training rows"
        else:
            mask = training_frames(len(x), ex.starts[split.train], ex.window)
            xt, yt = x[mask], y[mask]
            what = f"{int(mask.sum())} frames under the {len(split.train)} training windows"
        normalisation = Normalisation(
            Standardizer.fit(xt, unit=ex.x_unit) if ex.normalise_x else None,
            Standardizer.fit(yt, unit=ex.y_unit) if ex.normalise_y else None,
            fitted_on=f"training split only: {what}",
        )
    arrays = dict(ex.arrays)
    arrays["x"] = normalisation.apply_x(x)
    arrays["y"] = (
        normalisation.apply_y(y) if normalisation.y is not None else np.asarray(y, np.float32)
    )
    parts = {"train": split.train, "val": split.val}
    if test is None and len(split.test):
        parts["test"] = split.test
    sources, groups = {}, {}
    for name, idx in parts.items():
        if name == "train" and len(idx) == 0:
            continue
        sources[name] = _source(ex, arrays, np.asarray(idx))
        groups[name] = (
            np.asarray(idx) if ex.groups is None else np.asarray(ex.groups)[np.asarray(idx)]
        )
    if test is not None:
        t_arrays = dict(test.arrays)
        t_arrays["x"] = normalisation.apply_x(test.arrays["x"])
        t_arrays["y"] = (
            normalisation.apply_y(test.arrays["y"])
            if normalisation.y is not None
            else np.asarray(test.arrays["y"], np.float32)
        )
        idx = np.arange(len(test))
        sources["test"] = _source(test, t_arrays, idx)
        groups["test"] = idx if test.groups is None else np.asarray(test.groups)
    if out_features is None:
        out_features = (
            int(y.shape[-1])
            if (ex.window is None and y.ndim >= 3) or (ex.window is not None and y.ndim >= 2)
            else 1
        )
    return Prepared(
        sources,
        normalisation,
        split.summary(),
        balance=None if balance is None else np.asarray(balance)[split.train],
        info=dict(info or {}),
        groups=groups,
        in_features=ex.n_features,
        out_features=out_features,
    )
