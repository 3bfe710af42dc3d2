"""Turn what the ring loop records into the quantities a lab reports.

Conventions: the spike found at step ``j`` (0-based) has time ``j·dt`` (the step covers
``[j·dt, (j+1)·dt)``; Brian2 and the original code label it the same way). A bin of width ``W``
starting at ``t`` counts the spikes of the steps ``t/dt .. (t+W)/dt − 1``.
"""

from __future__ import annotations

import numpy as np


def steps_of(ms: float, dt_ms: float, what: str) -> int:
    """``ms / dt_ms`` as an integer number of steps; ValueError if it is not a whole multiple."""
    q = float(ms) / float(dt_ms)
    n = int(round(q))
    if not np.isfinite(q) or n <= 0 or abs(q - n) > 1e-6 * max(1.0, abs(q)):
        raise ValueError(f"{what} = {ms} ms must be a positive whole multiple of dt = {dt_ms} ms")
    return n


def decode_raster(raster: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Spike steps and cell ids from the loop's bit raster of one trial.

    Args:
        raster: (n_blocks, ceil(block/32), 2, n) uint32; bit b of word w of block k set for a cell
            ⇔ it spiked at step ``k·block + 32·w + b``.
        block: steps per block.

    Returns:
        ``(steps, ids)`` int64 arrays sorted by step then id; ids are 0..2n−1 (E cells first).
    """
    raster = np.asarray(raster, np.uint32)
    n_blocks, n_words = raster.shape[:2]
    flat = raster.reshape(n_blocks, n_words, -1)
    kb, w, cell = np.nonzero(flat)
    if kb.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    words = flat[kb, w, cell]
    bits = np.unpackbits(
        words.astype("<u4").view(np.uint8).reshape(-1, 4), axis=1, bitorder="little"
    )
    rows, b = np.nonzero(bits)
    steps = kb[rows].astype(np.int64) * block + w[rows].astype(np.int64) * 32 + b
    ids = cell[rows].astype(np.int64)
    order = np.lexsort((ids, steps))
    return steps[order], ids[order]


def counts_from_spikes(
    steps: np.ndarray, ids: np.ndarray, n_cells: int, n_steps: int, bin_steps: int
) -> np.ndarray:
    """Spike counts in non-overlapping bins of ``bin_steps`` steps, (n_bins, n_cells)."""
    n_bins = n_steps // bin_steps
    keep = steps < n_bins * bin_steps
    out = np.zeros((n_bins, n_cells), np.int64)
    np.add.at(out, (steps[keep] // bin_steps, ids[keep]), 1)
    return out


def spike_count_slide(counts: np.ndarray, window: int, slide: int, axis: int = -2) -> np.ndarray:
    """Spike counts in sliding windows, with the original code's ``SpikeCount_slide`` semantics.

    Their ``SpikeCount_slide(t, spike, WinSize, slideSize)`` returns ``floor((T − WinSize) /
    slideSize)`` windows; window ``w`` (0-based) sums the steps ``w·S .. w·S + W − 1`` (S, W in
    steps). So the last window that would end exactly at T is not returned (e.g. 299, not 300,
    windows of 10 ms in 3000 ms with slide 10 ms); for non-overlapping bins that include it, use the
    counts as recorded.

    Args:
        counts: counts in fine bins (e.g. per step or per base bin) along ``axis``.
        window: window width in fine bins (W).
        slide: slide in fine bins (S).
        axis: the time axis of ``counts`` (default −2: (..., time, cells)).

    Returns:
        Counts in ``floor((n − W) / S)`` windows along ``axis``.
    """
    if window < 1 or slide < 1:
        raise ValueError(f"window and slide must be >= 1 fine bins, got {window}, {slide}")
    c = np.moveaxis(np.asarray(counts), axis, 0)
    n = c.shape[0]
    n_win = (n - window) // slide
    if n_win < 1:
        return np.moveaxis(np.zeros((0,) + c.shape[1:], np.int64), 0, axis)
    csum = np.concatenate(
        [np.zeros((1,) + c.shape[1:], np.int64), np.cumsum(c, axis=0, dtype=np.int64)]
    )
    starts = np.arange(n_win) * slide
    out = csum[starts + window] - csum[starts]
    return np.moveaxis(out, 0, axis)


def population_rate_hz(counts: np.ndarray, bin_ms: float, n_per_type: int) -> np.ndarray:
    """Population rate of E and I cells per bin (Hz), (..., bins, 2) from counts (..., bins, 2n)."""
    c = np.asarray(counts, np.float64)
    e = c[..., :n_per_type].sum(-1)
    i = c[..., n_per_type:].sum(-1)
    return np.stack([e, i], axis=-1) / (n_per_type * bin_ms * 1e-3)


def synchrony_index(
    pop_per_step: np.ndarray, n_cells: int, dt_ms: float, window_ms: float = 2.5
) -> float:
    """The original code's synchrony index (``norm_syn``).

    With ``c_t`` the network's spike count at step t and ``W = floor(window_ms / dt)``,
    ``SI = Σ_t c_t Σ_{|s−t|<=W} c_s / (N Σ_t c_t)``: the mean, over spikes, of the fraction of the
    network firing within ±window_ms of a spike (itself included). Independent Poisson firing at
    rate r gives about ``r·(2W+1)·dt``; synchronous "multiple firing events" give much more.

    Args:
        pop_per_step: spike counts per step, (steps,) or (steps, k) summed over the last axis.
        n_cells: N.
        dt_ms, window_ms: step and half-window.

    Returns:
        SI (NaN when there are no spikes).
    """
    c = np.asarray(pop_per_step, np.float64)
    if c.ndim == 2:
        c = c.sum(axis=1)
    total = c.sum()
    if total == 0:
        return float("nan")
    w = int(np.floor(window_ms / dt_ms + 1e-9))
    csum = np.concatenate([[0.0], np.cumsum(c)])
    t = np.arange(c.size)
    near = csum[np.minimum(t + w + 1, c.size)] - csum[np.maximum(t - w, 0)]
    return float((c * near).sum() / n_cells / total)
