"""Windows over time series without copies: strided views on the host, index arithmetic on device.

A windowed dataset is one long array of frames (several series, e.g. cells or trials, laid end
to end), plus the start frame of each window. A window never crosses the end of its series, and
its target is one of

- ``"next"``: the frame right after the window (predict the future; the LFP seed's label),
- ``"centre"``: the frame at the window's centre, ``start + window // 2`` (spike inference),
- ``"last"``: the last frame of the window,
- ``"sequence"``: every frame of the window (sequence-to-sequence).

Nothing is materialised until a batch is fetched: :class:`WindowSource.fetch` gathers
``x[start + arange(window)]`` for the batch's starts only, on whatever device the arrays live.
The LFP notebook's ``create_sequences`` built every window in a Python loop (window × copies of
the signal); here memory stays one copy of the signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "TARGETS",
    "sliding_windows",
    "window_starts",
    "target_offset",
    "ArraySource",
    "WindowSource",
    "concatenate_series",
    "fetch",
]

TARGETS = ("next", "centre", "last", "sequence")


def sliding_windows(x: np.ndarray, window: int, *, stride: int = 1) -> np.ndarray:
    """All windows of ``window`` frames along axis 0, as a read-only strided view (no copy).

    Args:
        x: array of shape (T, ...).
        window: frames per window (≥ 1, ≤ T).
        stride: frames between window starts.

    Returns:
        View of shape ``((T - window) // stride + 1, window, ...)``.
    """
    x = np.asarray(x)
    if not 1 <= window <= x.shape[0]:
        raise ValueError(f"window must be between 1 and {x.shape[0]} frames, got {window}")
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    view = np.lib.stride_tricks.sliding_window_view(x, window, axis=0)  # (n, ..., window)
    view = np.moveaxis(view, -1, 1)
    return view[::stride]


def target_offset(window: int, target: str) -> int:
    """Frame of the target relative to the window start (``"sequence"``: 0)."""
    if target == "next":
        return window
    if target == "centre":
        return window // 2
    if target == "last":
        return window - 1
    if target == "sequence":
        return 0
    raise ValueError(f"target must be one of {TARGETS}, got {target!r}")


def window_starts(
    lengths, window: int, *, stride: int = 1, target: str = "sequence"
) -> tuple[np.ndarray, np.ndarray]:
    """Start frames of every window that fits in each series (with its target).

    Args:
        lengths: frames in each series, shape (S,).
        window: frames per window.
        stride: frames between consecutive starts in a series.
        target: see the module docstring; ``"next"`` needs one more frame after the window.

    Returns:
        ``(series, start)``: the series index and the start frame *within* that series of each
        window, both int64 of shape (N,), ordered by series then time.

    Raises:
        ValueError: every series is shorter than one window (+ target).
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    span = window + (1 if target == "next" else 0)
    target_offset(window, target)  # validates target
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got {window} and {stride}")
    counts = np.where(lengths >= span, (lengths - span) // stride + 1, 0)
    if counts.sum() == 0:
        raise ValueError(
            f"no window of {window} frames (target {target!r}) fits: the longest series has "
            f"{int(lengths.max()) if lengths.size else 0} frames"
        )
    series = np.repeat(np.arange(len(lengths)), counts)
    first = np.cumsum(counts) - counts
    start = (np.arange(counts.sum()) - np.repeat(first, counts)) * stride
    return series, start


def concatenate_series(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Lay series of unequal length end to end.

    Returns:
        ``(frames, offsets)``: frames of shape (ΣT, ...) and the offset of each series, (S,).
    """
    if not series:
        raise ValueError("no series to concatenate")
    lengths = np.array([len(s) for s in series])
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.concatenate([np.asarray(s) for s in series], axis=0), offsets


def _xp(x):
    if isinstance(x, np.ndarray):
        return np
    import jax.numpy as jnp

    return jnp


def fetch(layout: tuple, arrays: dict[str, Any], idx) -> dict[str, Any]:
    """Gather the examples ``idx`` of a source with ``layout`` (pure; jit-able; NumPy or JAX).

    Args:
        layout: ``("rows",)`` (examples are rows of every array) or
            ``("window", window, target)`` (windows over ``arrays["x"]`` starting at
            ``arrays["starts"][idx]``; see :class:`WindowSource`).
        arrays: the source's arrays.
        idx: example indices, shape (B,).
    """
    if layout[0] == "rows":
        return {k: v[idx] for k, v in arrays.items()}
    _, window, target = layout
    xp = _xp(arrays["starts"])
    starts = arrays["starts"][idx]
    frames = starts[:, None] + xp.arange(window)[None, :]
    out = {}
    for k, v in arrays.items():
        if k == "starts":
            continue
        if k == "x" or target == "sequence":
            out[k] = v[frames]
        else:
            out[k] = v[starts + target_offset(window, target)]
    return out


@dataclass(frozen=True)
class ArraySource:
    """Examples that are rows of arrays (e.g. whole traces ``X (N, T, C)``, ``Y (N, T, C)``).

    Attributes:
        arrays: ``{"x": ..., "y": ..., ...}``, all with N rows (NumPy or JAX arrays).
    """

    arrays: dict[str, Any]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    @property
    def min_length(self) -> int | None:
        x = self.arrays.get("x")
        return int(x.shape[1]) if x is not None and x.ndim >= 3 else None

    layout = ("rows",)

    def fetch(self, arrays: dict[str, Any], idx) -> dict[str, Any]:
        """Rows ``idx`` of every array (pure; works under ``jax.jit`` and on NumPy arrays)."""
        return fetch(self.layout, arrays, idx)

    def with_arrays(self, arrays: dict[str, Any]) -> ArraySource:
        return ArraySource(arrays)


@dataclass(frozen=True)
class WindowSource:
    """Windows over concatenated series, gathered on demand.

    Attributes:
        arrays: ``{"x": frames (ΣT, C), "y": frames (ΣT, ...) [, ...], "starts": (N,) int32}``;
            ``starts`` are absolute frame indices into the concatenated arrays.
        window: frames per window.
        target: ``"next" | "centre" | "last" | "sequence"`` (for ``y``; ``x`` is always the
            window).
    """

    arrays: dict[str, Any]
    window: int
    target: str = "sequence"

    def __post_init__(self):
        target_offset(self.window, self.target)

    def __len__(self) -> int:
        return len(self.arrays["starts"])

    @property
    def min_length(self) -> int:
        return self.window

    @property
    def layout(self) -> tuple:
        return ("window", self.window, self.target)

    def fetch(self, arrays: dict[str, Any], idx) -> dict[str, Any]:
        """The windows ``idx``: ``{"x": (B, window, C), "y": (B, ...) or (B, window, ...)}``."""
        return fetch(self.layout, arrays, idx)

    def with_arrays(self, arrays: dict[str, Any]) -> WindowSource:
        return WindowSource(arrays, self.window, self.target)
