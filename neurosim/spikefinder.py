"""The Spikefinder layout: one reader and one writer for real and synthetic calcium recordings.

Layout (Berens et al. 2018): ``N.train.calcium.csv`` and ``N.train.spikes.csv`` (or ``.test.``),
a header row ``0,1,2,…``, one column per cell, one row per frame (100 Hz in the challenge),
columns of unequal length padded with empty cells. Spikes are counts per frame. Files may be
gzip-compressed (``.csv.gz``).

Handling, documented and enforced (never silent misalignment):
- the header must be ``0,1,…,n-1`` in that order;
- trailing empty cells (NaN) end a column; a NaN *before* a column's last value is an error
  naming the cell and the frame (``read_table(..., interior_nan=True)`` keeps it as NaN instead:
  scoring drops such frames);
- calcium and spikes must have the same number of columns and each cell the same length.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .io import atomic_path


@dataclass
class Recording:
    """Calcium traces of several cells, with spike counts per frame when known.

    Attributes:
        calcium: one 1-D float array per cell (fluorescence, frames).
        spikes: one 1-D array per cell, the same lengths as ``calcium``; None if unknown.
        frame_rate: frames per second (Hz).
        source: where it came from (a path or a generator name).
    """

    calcium: list[np.ndarray]
    spikes: list[np.ndarray] | None
    frame_rate: float = 100.0
    source: str = ""

    def __post_init__(self):
        if self.spikes is not None:
            if len(self.spikes) != len(self.calcium):
                raise ValueError(
                    f"{len(self.calcium)} calcium traces but {len(self.spikes)} spike trains"
                )
            for i, (c, s) in enumerate(zip(self.calcium, self.spikes, strict=True)):
                if len(c) != len(s):
                    raise ValueError(
                        f"cell {i}: calcium has {len(c)} frames but spikes has {len(s)}"
                    )
        if not self.frame_rate > 0:
            raise ValueError(f"frame_rate must be positive, got {self.frame_rate}")

    @property
    def n_cells(self) -> int:
        return len(self.calcium)


def read_table(path: str | os.PathLike, *, interior_nan: bool = False) -> list[np.ndarray]:
    """Read one Spikefinder-layout CSV into one float array per column (NaN tails removed).

    Args:
        path: the CSV (``.csv`` or ``.csv.gz``).
        interior_nan: keep empty cells before a column's last value as NaN instead of raising
            (for scoring, which drops frames where either trace is NaN).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the header is not ``0,1,…``; a cell has a NaN before its last value; a cell
            is empty; a value is not a number.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"Spikefinder file {str(path)!r} does not exist")
    try:
        df = pd.read_csv(path, dtype=np.float64)
    except ValueError as e:
        raise ValueError(f"{str(path)!r}: not a table of numbers ({e})") from None
    header = [str(c).strip() for c in df.columns]
    expected = [str(i) for i in range(len(header))]
    if header != expected:
        shown = ",".join(header[:8]) + (",…" if len(header) > 8 else "")
        raise ValueError(
            f"{str(path)!r}: header is {shown!r}, expected '0,1,…,{len(header) - 1}' "
            "(Spikefinder layout: one column per cell, named by its index)"
        )
    columns = []
    values = df.to_numpy()
    for j in range(values.shape[1]):
        col = values[:, j]
        ok = np.flatnonzero(~np.isnan(col))
        if ok.size == 0:
            raise ValueError(f"{str(path)!r}: cell {j} has no values")
        n = int(ok[-1]) + 1
        col = col[:n]
        bad = np.flatnonzero(np.isnan(col))
        if bad.size and not interior_nan:
            raise ValueError(
                f"{str(path)!r}: cell {j} has an empty/NaN value at frame {int(bad[0])}, before its "
                f"last value at frame {n - 1}; only trailing empty cells are allowed"
            )
        columns.append(np.ascontiguousarray(col))
    return columns


def write_table(
    path: str | os.PathLike,
    columns: list[np.ndarray],
    *,
    float_format: str = "%.9g",
    allow_nan: bool = False,
) -> Path:
    """Write columns in the Spikefinder layout (header ``0,1,…``, empty cells pad), atomically.

    ``allow_nan``: write NaN as an empty cell (a frame without a value, e.g. one no prediction
    window covers; ``read_table(..., interior_nan=True)`` reads it back as NaN, and trailing
    ones end the column); otherwise NaN is an error. Infinity is always an error."""
    path = Path(path)
    if not columns:
        raise ValueError("no columns to write")
    n = max(len(c) for c in columns)
    data = {}
    for j, c in enumerate(columns):
        c = np.asarray(c, dtype=np.float64)
        if c.ndim != 1:
            raise ValueError(f"column {j} should be 1-D, got shape {c.shape}")
        bad = np.isinf(c) if allow_nan else ~np.isfinite(c)
        if bad.any():
            raise ValueError(f"column {j} has non-finite values")
        pad = np.full(n, np.nan)
        pad[: len(c)] = c
        data[str(j)] = pad
    df = pd.DataFrame(data)
    integral = all(np.all(np.asarray(c) == np.round(c)) for c in columns)
    fmt = "%d" if integral else float_format
    with atomic_path(path) as tmp:
        if integral:
            df = df.astype("Int64")
            df.to_csv(tmp, index=False, compression="gzip" if path.suffix == ".gz" else None)
        else:
            df.to_csv(
                tmp,
                index=False,
                float_format=fmt,
                compression="gzip" if path.suffix == ".gz" else None,
            )
    return path


_CALCIUM_RE = re.compile(r"^(?P<stem>.*)\.calcium\.csv(?P<gz>\.gz)?$")


def spikes_path_for(calcium_path: str | os.PathLike) -> Path:
    """``N.train.calcium.csv`` → ``N.train.spikes.csv`` (same folder, same compression)."""
    p = Path(calcium_path)
    m = _CALCIUM_RE.match(p.name)
    if not m:
        raise ValueError(
            f"{str(p)!r} is not named like a Spikefinder calcium file ('N.train.calcium.csv')"
        )
    return p.with_name(f"{m['stem']}.spikes.csv{m['gz'] or ''}")


def read_recording(
    calcium_path: str | os.PathLike,
    spikes_path: str | os.PathLike | None = None,
    *,
    frame_rate: float = 100.0,
    require_spikes: bool = True,
) -> Recording:
    """Read a calcium file and its spikes file (found beside it when not given).

    Args:
        calcium_path: ``N.train.calcium.csv`` (or ``.csv.gz``).
        spikes_path: the spikes file; default: the same name with ``spikes`` for ``calcium``.
        frame_rate: frames per second of the files (Spikefinder: 100 Hz).
        require_spikes: if False, a missing spikes file gives ``spikes=None`` instead of an error.

    Raises:
        FileNotFoundError: a file is missing (the message names it).
        ValueError: layout errors (see the module docstring), mismatched cells or lengths.
    """
    calcium_path = Path(calcium_path)
    calcium = read_table(calcium_path)
    sp = Path(spikes_path) if spikes_path is not None else spikes_path_for(calcium_path)
    if not sp.exists():
        if require_spikes:
            raise FileNotFoundError(
                f"spikes file {str(sp)!r} for {calcium_path.name!r} does not exist "
                "(pass require_spikes=False to read calcium alone)"
            )
        return Recording(calcium, None, frame_rate, str(calcium_path))
    spikes = read_table(sp)
    if len(spikes) != len(calcium):
        raise ValueError(
            f"{calcium_path.name!r} has {len(calcium)} cells but {sp.name!r} has {len(spikes)}"
        )
    for i, (c, s) in enumerate(zip(calcium, spikes, strict=True)):
        if len(c) != len(s):
            raise ValueError(
                f"cell {i}: {calcium_path.name!r} has {len(c)} frames but {sp.name!r} has {len(s)}"
            )
    return Recording(calcium, spikes, frame_rate, str(calcium_path))


def write_recording(
    folder: str | os.PathLike, rec: Recording, *, index: int = 1, split: str = "train"
) -> tuple[Path, Path | None]:
    """Write ``{index}.{split}.calcium.csv`` (and ``.spikes.csv`` if known) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cal = write_table(folder / f"{index}.{split}.calcium.csv", rec.calcium)
    spk = None
    if rec.spikes is not None:
        spk = write_table(folder / f"{index}.{split}.spikes.csv", rec.spikes)
    return cal, spk


# --------------------------------------------------------------------------------------------
# Resampling and normalisation
# --------------------------------------------------------------------------------------------

RESAMPLE_METHODS = ("auto", "mean", "linear", "fourier")
NORMALIZATIONS = ("none", "percentile", "dff", "zscore", "robust")


def rebin_spikes(
    spikes: np.ndarray, frame_rate: float, new_rate: float, n_new: int | None = None
) -> np.ndarray:
    """Spike counts per frame at another frame rate, conserving spikes.

    Each spike is taken at the centre of its old frame, ``(i + 0.5) / frame_rate``, and counted
    in the new frame that contains that time. Spikes whose centre falls after the last whole new
    frame (at most the last partial frame) are dropped.

    Args:
        spikes: ``(n_frames,)`` counts at ``frame_rate``.
        frame_rate: old frames per second.
        new_rate: new frames per second.
        n_new: number of new frames (default ``floor(n_frames · new_rate / frame_rate)``).

    Returns:
        ``(n_new,)`` float64 counts.
    """
    s = np.asarray(spikes, dtype=np.float64)
    if n_new is None:
        n_new = int(np.floor(len(s) * new_rate / frame_rate + 1e-9))
    centre = (np.arange(len(s)) + 0.5) * (new_rate / frame_rate)
    j = np.floor(centre).astype(np.int64)
    keep = (j < n_new) & (s != 0)
    return np.bincount(j[keep], weights=s[keep], minlength=n_new)[:n_new]


def resample_trace(
    x: np.ndarray,
    frame_rate: float,
    new_rate: float,
    *,
    method: str = "auto",
    n_new: int | None = None,
) -> np.ndarray:
    """A fluorescence trace at another frame rate.

    Methods:
        ``"mean"``: each new frame is the time-weighted mean of the old frames it overlaps (what a
        slower scan would integrate; anti-aliased). For downsampling.
        ``"linear"``: linear interpolation between frame centres. For upsampling.
        ``"fourier"``: ``scipy.signal.resample`` (band-limited; what c2s/Spikefinder used).
        ``"auto"``: ``"mean"`` to a lower rate, ``"linear"`` to a higher one.

    Args:
        x: ``(n_frames,)`` trace at ``frame_rate``.
        frame_rate, new_rate: old and new frames per second.
        method: one of ``RESAMPLE_METHODS``.
        n_new: number of new frames (default ``floor(n_frames · new_rate / frame_rate)``).
    """
    if method not in RESAMPLE_METHODS:
        raise ValueError(
            f"resampling method {method!r} is not one of {', '.join(RESAMPLE_METHODS)}"
        )
    x = np.asarray(x, dtype=np.float64)
    n_old = len(x)
    if n_new is None:
        n_new = int(np.floor(n_old * new_rate / frame_rate + 1e-9))
    if n_new < 1:
        raise ValueError(
            f"a trace of {n_old} frames at {frame_rate} Hz has no whole frame at {new_rate} Hz"
        )
    if method == "auto":
        method = "mean" if new_rate < frame_rate else "linear"
    if method == "fourier":
        from scipy.signal import resample

        n_full = int(round(n_old * new_rate / frame_rate))
        return resample(x, max(n_full, n_new))[:n_new]
    if method == "linear":
        t_old = (np.arange(n_old) + 0.5) / frame_rate
        t_new = (np.arange(n_new) + 0.5) / new_rate
        return np.interp(t_new, t_old, x)
    # "mean": exact overlap integral of the piecewise-constant old trace over each new frame
    edges_old = np.arange(n_old + 1) / frame_rate
    cum = np.concatenate([[0.0], np.cumsum(x / frame_rate)])
    edges_new = np.minimum(np.arange(n_new + 1) / new_rate, edges_old[-1])
    integral = np.interp(edges_new, edges_old, cum)
    width = np.diff(edges_new)
    return np.diff(integral) / np.where(width > 0, width, 1.0)


def resample_recording(rec: Recording, new_rate: float, *, method: str = "auto") -> Recording:
    """A recording at another frame rate: calcium resampled (:func:`resample_trace`), spikes
    re-binned (:func:`rebin_spikes`, spikes conserved except in a trailing partial frame).

    Raises:
        ValueError: non-positive rate, unknown method, a cell shorter than one new frame.
    """
    if not (new_rate > 0 and np.isfinite(new_rate)):
        raise ValueError(f"new frame rate must be positive, got {new_rate}")
    calcium, spikes = [], [] if rec.spikes is not None else None
    for i, c in enumerate(rec.calcium):
        n_new = int(np.floor(len(c) * new_rate / rec.frame_rate + 1e-9))
        if n_new < 1:
            raise ValueError(
                f"cell {i}: {len(c)} frames at {rec.frame_rate} Hz is less than one frame at "
                f"{new_rate} Hz"
            )
        calcium.append(resample_trace(c, rec.frame_rate, new_rate, method=method, n_new=n_new))
        if spikes is not None:
            spikes.append(rebin_spikes(rec.spikes[i], rec.frame_rate, new_rate, n_new))
    return Recording(calcium, spikes, float(new_rate), rec.source)


def normalize_trace(
    x: np.ndarray,
    method: str = "percentile",
    *,
    frame_rate: float = 100.0,
    low: float = 5.0,
    high: float = 80.0,
    f0_percentile: float = 8.0,
    window_s: float | None = None,
) -> np.ndarray:
    """Normalise one fluorescence trace.

    Methods:
        ``"none"``: unchanged.
        ``"percentile"``: ``(x − P_low) / (P_high − P_low)``, default 5th and 80th percentiles:
        the normalisation of c2s (Theis et al. 2016) that the Spikefinder files carry (their 5th
        percentile is 0 and their 80th is 1). Scale-free; fine for any trace.
        ``"dff"``: ``(F − F0) / F0`` with F0 the ``f0_percentile``-th percentile of the trace, or a
        running percentile over ``window_s`` seconds. Only for raw fluorescence (every value and
        F0 must be > 0; the Spikefinder files are already normalised and give an error).
        ``"zscore"``: ``(x − mean) / sd``.
        ``"robust"``: ``(x − median) / (1.4826 · MAD)``.

    Raises:
        ValueError: unknown method; a constant trace; F0 <= 0 for ``"dff"``.
    """
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalisation {method!r} is not one of {', '.join(NORMALIZATIONS)}")
    x = np.asarray(x, dtype=np.float64)
    if method == "none":
        return x.copy()
    if method == "percentile":
        lo, hi = np.percentile(x, [low, high])
        if not hi > lo:
            raise ValueError(
                f"trace has P{high:g} <= P{low:g}: it is (nearly) constant; cannot normalise"
            )
        return (x - lo) / (hi - lo)
    if method == "zscore":
        sd = x.std()
        if not sd > 0:
            raise ValueError("trace is constant; cannot z-score")
        return (x - x.mean()) / sd
    if method == "robust":
        med = np.median(x)
        mad = 1.4826 * np.median(np.abs(x - med))
        if not mad > 0:
            raise ValueError("trace has zero MAD; cannot normalise robustly")
        return (x - med) / mad
    # dff
    if np.any(x <= 0):
        raise ValueError(
            "ΔF/F needs raw fluorescence (all values > 0); this trace has values <= 0 (min "
            f"{float(x.min()):.3g}), so it is already baseline-subtracted or normalised (as the "
            "Spikefinder files are): use 'percentile', 'zscore' or 'robust'"
        )
    if window_s is None:
        f0 = np.full_like(x, np.percentile(x, f0_percentile))
    else:
        from scipy.ndimage import percentile_filter

        size = max(1, int(round(window_s * frame_rate)))
        f0 = percentile_filter(x, f0_percentile, size=size, mode="nearest")
    if np.any(f0 <= 0):
        raise ValueError(
            f"ΔF/F needs a positive baseline F0 (raw fluorescence); the {f0_percentile:g}th "
            f"percentile is {float(f0.min()):.3g} here. Spikefinder files are already normalised: "
            "use 'percentile', 'zscore' or 'robust'"
        )
    return (x - f0) / f0


def normalize_recording(rec: Recording, method: str = "percentile", **options) -> Recording:
    """Every cell of a recording normalised by :func:`normalize_trace` (spikes unchanged)."""
    calcium = [
        normalize_trace(c, method, frame_rate=rec.frame_rate, **options) for c in rec.calcium
    ]
    return Recording(calcium, rec.spikes, rec.frame_rate, rec.source)
