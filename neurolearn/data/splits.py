"""Train/validation/test splits that do not leak.

Overlapping windows share frames: if window k trains and window k+1 validates, the model has
seen almost all of the validation input (the Spikefinder competitors learned this the hard
way). So splits here are by whole units:

- :func:`split_last`: the last rows (e.g. the HH seed's last 500 independent traces);
- :func:`split_groups`: by cell or trial, no group in two parts;
- :func:`split_blocks`: by contiguous time blocks within each series, with a gap of at least one
  window between any training and any held-out window;
- :func:`split_random`: random rows; for overlapping windows it warns (:class:`LeakageWarning`).

Every function returns a :class:`Split` of example indices and takes randomness only from an
explicit ``key`` (a JAX PRNG key or an int seed).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "LeakageWarning",
    "Split",
    "numpy_rng",
    "split_last",
    "split_groups",
    "split_blocks",
    "split_random",
    "check_no_overlap",
]


class LeakageWarning(UserWarning):
    """A split that lets held-out examples share data with training examples."""


@dataclass(frozen=True)
class Split:
    """Indices of the examples in each part.

    Attributes:
        train, val, test: int64 index arrays (``test`` may be empty).
        method: how the split was made (recorded in the run folder).
        details: parameters of the split (groups or blocks per part, gap, dropped examples).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    method: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "n_train": int(len(self.train)),
            "n_val": int(len(self.val)),
            "n_test": int(len(self.test)),
            **self.details,
        }


def numpy_rng(key) -> np.random.Generator:
    """A NumPy generator seeded from a JAX PRNG key or an int (no global state)."""
    if isinstance(key, (int, np.integer)):
        return np.random.default_rng(int(key))
    import jax

    data = np.asarray(jax.random.key_data(key)).ravel().astype(np.uint64)
    return np.random.default_rng(data.tolist())


def _n_held(n: int, fraction: float, name: str) -> int:
    if not 0 <= fraction < 1:
        raise ValueError(f"{name} must be in [0, 1), got {fraction}")
    return int(round(n * fraction))


def split_last(n: int, n_val: int, *, n_test: int = 0) -> Split:
    """The last ``n_val`` rows validate, the ``n_test`` before them test, the rest train.

    For independent rows (whole trials), this is a split by trial.
    """
    if n_val < 1 or n_test < 0 or n_val + n_test >= n:
        raise ValueError(
            f"cannot hold out {n_val} validation and {n_test} test rows of {n}: at least one "
            "row must remain for training"
        )
    idx = np.arange(n)
    n_train = n - n_val - n_test
    return Split(
        idx[:n_train],
        idx[n - n_val :],
        idx[n_train : n - n_val],
        "last rows",
        {"n_val_rows": n_val, "n_test_rows": n_test},
    )


def split_groups(
    groups,
    *,
    key,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    val_groups=None,
    test_groups=None,
) -> Split:
    """Split examples by group (cell, trial): every group is in exactly one part.

    Args:
        groups: group id of each example, shape (N,).
        key: randomness for choosing groups (JAX key or int).
        val_fraction, test_fraction: fraction of *groups* held out (at least one group each when
            the fraction is > 0).
        val_groups, test_groups: explicit group ids instead (then the fractions are ignored).

    Raises:
        ValueError: fewer groups than parts, or an explicit group id that does not exist.
    """
    groups = np.asarray(groups)
    ids = np.unique(groups)
    if val_groups is None:
        rng = numpy_rng(key)
        order = rng.permutation(ids)
        n_val = max(1, _n_held(len(ids), val_fraction, "val_fraction"))
        n_test = _n_held(len(ids), test_fraction, "test_fraction")
        if test_fraction > 0:
            n_test = max(1, n_test)
        if n_val + n_test >= len(ids):
            raise ValueError(
                f"{len(ids)} group(s) cannot be split into train, {n_val} validation and "
                f"{n_test} test group(s); a split by group needs more groups (cells/trials)"
            )
        val_ids, test_ids = order[:n_val], order[n_val : n_val + n_test]
    else:
        val_ids = np.atleast_1d(np.asarray(val_groups))
        test_ids = np.atleast_1d(np.asarray(test_groups if test_groups is not None else []))
        unknown = np.setdiff1d(np.concatenate([val_ids, test_ids]), ids)
        if unknown.size:
            raise ValueError(f"group id(s) {unknown.tolist()} do not exist; ids are {ids.tolist()}")
        if np.intersect1d(val_ids, test_ids).size:
            raise ValueError("a group cannot be both validation and test")
    in_val = np.isin(groups, val_ids)
    in_test = np.isin(groups, test_ids)
    train = np.flatnonzero(~in_val & ~in_test)
    if train.size == 0:
        raise ValueError("no training examples left after holding out groups")
    details = {"val_groups": np.sort(val_ids).tolist(), "test_groups": np.sort(test_ids).tolist()}
    return Split(train, np.flatnonzero(in_val), np.flatnonzero(in_test), "by group", details)


def split_blocks(
    series,
    starts,
    span: int,
    lengths,
    *,
    key,
    n_blocks: int = 10,
    val_fraction: float = 0.2,
    test_fraction: float = 0.0,
    gap: int | None = None,
) -> Split:
    """Split windows by contiguous time blocks, leaving a gap between the parts.

    Each series is cut into ``n_blocks`` equal blocks of time; blocks (over all series) are
    drawn at random for validation and test. A window is kept only if it lies ``ceil(gap/2)``
    frames or more from any boundary with a block of another part, so that any training window
    and any held-out window are at least ``gap`` frames apart.

    Args:
        series, starts: series index and start frame (within the series) of each window (N,).
        span: frames a window covers including its target (window, or window + 1 for "next").
        lengths: frames of each series (S,).
        key: randomness for choosing blocks.
        n_blocks: blocks per series.
        val_fraction, test_fraction: fraction of blocks held out (at least one block each when
            > 0).
        gap: frames between parts; default and minimum: ``span`` (one window).

    Raises:
        ValueError: ``gap`` shorter than one window; blocks shorter than a window plus the gap.
    """
    series = np.asarray(series, dtype=np.int64)
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    gap = span if gap is None else int(gap)
    if gap < span:
        raise ValueError(
            f"gap must be at least one window ({span} frames) so that held-out windows share no "
            f"frame with training windows, got {gap}"
        )
    block_len = lengths // n_blocks
    if np.any(block_len < span + gap):
        raise ValueError(
            f"blocks of {int(block_len.min())} frames ({n_blocks} per series) are too short for "
            f"windows of {span} frames with a gap of {gap}; use fewer blocks"
        )
    n_total = len(lengths) * n_blocks
    rng = numpy_rng(key)
    order = rng.permutation(n_total)
    n_val = max(1, _n_held(n_total, val_fraction, "val_fraction"))
    n_test = max(1, _n_held(n_total, test_fraction, "test_fraction")) if test_fraction > 0 else 0
    if n_val + n_test >= n_total:
        raise ValueError(f"cannot hold out {n_val} + {n_test} of {n_total} blocks")
    part = np.zeros(n_total, np.int64)  # 0 train, 1 val, 2 test; block id = s * n_blocks + b
    part[order[:n_val]] = 1
    part[order[n_val : n_val + n_test]] = 2
    margin = math.ceil(gap / 2)

    # block of each window's first and last frame (the last block absorbs the remainder)
    bl = block_len[series]
    b_first = np.minimum(starts // bl, n_blocks - 1)
    b_last = np.minimum((starts + span - 1) // bl, n_blocks - 1)
    p_first = part[series * n_blocks + b_first]
    p_last = part[series * n_blocks + b_last]
    keep = p_first == p_last
    # distance to the nearest boundary with another part, before and after the window
    lo = starts - margin
    hi = starts + span - 1 + margin
    for edge in (lo, hi):
        inside = (edge >= 0) & (edge < lengths[series])
        b_edge = np.minimum(np.clip(edge, 0, None) // bl, n_blocks - 1)
        p_edge = part[series * n_blocks + b_edge]
        keep &= ~inside | (p_edge == p_first)
    dropped = int((~keep).sum())
    idx = np.arange(len(starts))
    return Split(
        idx[keep & (p_first == 0)],
        idx[keep & (p_first == 1)],
        idx[keep & (p_first == 2)],
        "by time block",
        {
            "n_blocks_per_series": n_blocks,
            "gap_frames": gap,
            "dropped_windows": dropped,
            "val_blocks": np.flatnonzero(part == 1).tolist(),
            "test_blocks": np.flatnonzero(part == 2).tolist(),
        },
    )


def split_random(
    n: int, *, key, val_fraction: float = 0.2, test_fraction: float = 0.0, overlapping: bool
) -> Split:
    """Random rows. Only safe when examples share no data.

    Args:
        overlapping: whether examples share frames (overlapping windows). If True, a
            :class:`LeakageWarning` is issued: validation scores will be optimistic.
    """
    if overlapping:
        warnings.warn(
            "random split of overlapping windows: validation windows share frames with training "
            "windows, so validation scores will be optimistic; split by group or time block",
            LeakageWarning,
            stacklevel=2,
        )
    order = numpy_rng(key).permutation(n)
    n_val = max(1, _n_held(n, val_fraction, "val_fraction"))
    n_test = _n_held(n, test_fraction, "test_fraction")
    if n_val + n_test >= n:
        raise ValueError(f"cannot hold out {n_val} + {n_test} of {n} examples")
    return Split(
        np.sort(order[n_val + n_test :]),
        np.sort(order[:n_val]),
        np.sort(order[n_val : n_val + n_test]),
        "random",
        {"overlapping_windows": bool(overlapping)},
    )


def check_no_overlap(split: Split, series, starts, span: int, *, gap: int = 0) -> None:
    """Raise ValueError if a training window comes within ``gap`` frames of a held-out one.

    An independent check of a split (used by the tests and available to tasks).
    """
    series = np.asarray(series)
    starts = np.asarray(starts)
    train_s, train_t = series[split.train], starts[split.train]
    for name, held in (("validation", split.val), ("test", split.test)):
        for s in np.unique(series[held]):
            a = np.sort(train_t[train_s == s])
            b = np.sort(starts[held][series[held] == s])
            if a.size == 0:
                continue
            # nearest training start to each held-out start
            pos = np.searchsorted(a, b)
            left = a[np.clip(pos - 1, 0, a.size - 1)]
            right = a[np.clip(pos, 0, a.size - 1)]
            dist = np.minimum(np.abs(b - left), np.abs(right - b))
            # windows [t, t+span) and [u, u+span) are >= gap apart iff |t-u| >= span + gap
            bad = dist < span + gap
            if bad.any():
                raise ValueError(
                    f"{name} window at frame {int(b[bad][0])} of series {int(s)} is within {gap} "
                    f"frames of a training window (windows span {span} frames)"
                )
