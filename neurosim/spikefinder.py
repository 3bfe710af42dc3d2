"""The Spikefinder layout: one reader and one writer for real and synthetic calcium recordings.

Layout (Berens et al. 2018): ``N.train.calcium.csv`` and ``N.train.spikes.csv`` (or ``.test.``),
a header row ``0,1,2,…``, one column per cell, one row per frame (100 Hz in the challenge),
columns of unequal length padded with empty cells. Spikes are counts per frame. Files may be
gzip-compressed (``.csv.gz``).

Handling, documented and enforced (never silent misalignment):
- the header must be ``0,1,…,n-1`` in that order;
- trailing empty cells (NaN) end a column; a NaN *before* a column's last value is an error
  naming the cell and the frame;
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


def read_table(path: str | os.PathLike) -> list[np.ndarray]:
    """Read one Spikefinder-layout CSV into one float array per column (NaN tails removed).

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
        if bad.size:
            raise ValueError(
                f"{str(path)!r}: cell {j} has an empty/NaN value at frame {int(bad[0])}, before its "
                f"last value at frame {n - 1}; only trailing empty cells are allowed"
            )
        columns.append(np.ascontiguousarray(col))
    return columns


def write_table(
    path: str | os.PathLike, columns: list[np.ndarray], *, float_format: str = "%.9g"
) -> Path:
    """Write columns in the Spikefinder layout (header ``0,1,…``, empty cells pad), atomically."""
    path = Path(path)
    if not columns:
        raise ValueError("no columns to write")
    n = max(len(c) for c in columns)
    data = {}
    for j, c in enumerate(columns):
        c = np.asarray(c, dtype=np.float64)
        if c.ndim != 1:
            raise ValueError(f"column {j} should be 1-D, got shape {c.shape}")
        if not np.all(np.isfinite(c)):
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
