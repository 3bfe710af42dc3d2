"""Normalisation fitted on the training split only, saved with the model.

A :class:`Standardizer` holds a mean and a standard deviation per channel (the last axis).
It is fitted on training examples only (never on validation or test data: that would leak
their statistics into the model) and written to the run folder as ``normalisation.json``, so
that evaluation and prediction apply exactly the transformation the model was trained with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Standardizer", "Normalisation"]


@dataclass(frozen=True)
class Standardizer:
    """``(x - mean) / std`` per channel (last axis).

    Attributes:
        mean: per-channel mean, shape (C,), in the data's unit.
        std: per-channel standard deviation, shape (C,); a constant channel gets std 1 (it is
            only centred).
        unit: the data's unit, for the record.
    """

    mean: np.ndarray
    std: np.ndarray
    unit: str = ""

    @classmethod
    def fit(cls, x, *, unit: str = "", chunk: int = 1 << 22) -> Standardizer:
        """Fit on ``x`` of shape (..., C) (float64 accumulation; NaN is an error).

        Args:
            x: training data only (the caller selects the training rows).
            unit: the data's unit.
            chunk: rows per pass when ``x`` is large (bounded memory).
        """
        x = np.asarray(x)
        if x.size == 0:
            raise ValueError("cannot fit a normalisation on no data")
        flat = x.reshape(-1, x.shape[-1])
        n = flat.shape[0]
        s1 = np.zeros(flat.shape[1])
        for i in range(0, n, chunk):
            s1 += flat[i : i + chunk].sum(axis=0, dtype=np.float64)
        mean = s1 / n
        s2 = np.zeros(flat.shape[1])
        for i in range(0, n, chunk):
            s2 += ((flat[i : i + chunk] - mean) ** 2).sum(axis=0, dtype=np.float64)
        std = np.sqrt(s2 / n)
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(std))):
            raise ValueError("cannot fit a normalisation: the training data has NaN or infinity")
        std = np.where(std > 0, std, 1.0)
        return cls(mean, std, unit)

    def apply(self, x, dtype=np.float32) -> np.ndarray:
        """Normalise (returns a new array of ``dtype``)."""
        return ((np.asarray(x, dtype=np.float64) - self.mean) / self.std).astype(dtype)

    def invert(self, z, dtype=np.float64) -> np.ndarray:
        """Back to the data's unit."""
        return (np.asarray(z, dtype=np.float64) * self.std + self.mean).astype(dtype)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": np.asarray(self.mean).tolist(),
            "std": np.asarray(self.std).tolist(),
            "unit": self.unit,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Standardizer:
        return cls(
            np.asarray(d["mean"], dtype=np.float64),
            np.asarray(d["std"], dtype=np.float64),
            d.get("unit", ""),
        )


@dataclass(frozen=True)
class Normalisation:
    """The input and target normalisations of a model (either may be None: not normalised).

    Attributes:
        x: for the model's input.
        y: for regression targets (None for classification labels).
        fitted_on: what it was fitted on (e.g. ``"train split: 9500 traces"``).
    """

    x: Standardizer | None = None
    y: Standardizer | None = None
    fitted_on: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "x": self.x.to_dict() if self.x else None,
            "y": self.y.to_dict() if self.y else None,
            "fitted_on": self.fitted_on,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalisation:
        return cls(
            Standardizer.from_dict(d["x"]) if d.get("x") else None,
            Standardizer.from_dict(d["y"]) if d.get("y") else None,
            d.get("fitted_on", ""),
        )

    def save(self, path: str | os.PathLike) -> None:
        from ..checkpoints import write_json_atomic

        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> Normalisation:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"normalisation file {str(path)!r} does not exist")
        from ..checkpoints import read_json

        return cls.from_dict(read_json(path))

    def apply_x(self, x, dtype=np.float32):
        return self.x.apply(x, dtype) if self.x else np.asarray(x, dtype=dtype)

    def apply_y(self, y, dtype=np.float32):
        return self.y.apply(y, dtype) if self.y else np.asarray(y, dtype=dtype)

    def invert_y(self, z, dtype=np.float64):
        return self.y.invert(z, dtype) if self.y else np.asarray(z, dtype=dtype)
