"""Deterministic ring connectivity, as a dense matrix (for reference) and as box sums (to simulate).

E cell k and I cell k sit at ring position k (k = 0..n−1). With ``N_conn = floor(n /
neighbor_scale)``, the n×n block ``A(post, pre) = 1`` where the ring distance ``d = (post − pre) mod
n`` satisfies ``d <= N_conn/2`` or ``d >= n − N_conn/2``. The full (2n)×(2n) adjacency is
``[[A, A], [A, A]]`` with only its main diagonal zeroed (no self-connection; E cell k and I cell k
are connected both ways).

The simulator never forms the matrix: because every block is the same band, the recurrent input
is a box (moving) sum of the previous step's spikes of each type over ring offsets −h..h, minus a
cell's own spike for the same-type block. :func:`box_sum` computes that with one
``reduce_window`` over a wrapped copy (int8), far cheaper than a dense 600×600 product per step.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from .presets import RingParams


def block_adjacency(n_per_type: int, neighbor_scale: float) -> np.ndarray:
    """The n×n ring block ``A[post, pre]`` (int8) by the original code's rule, diagonal included."""
    n = int(n_per_type)
    n_conn = int(np.floor(n / neighbor_scale + 1e-12))
    d = (np.arange(n)[:, None] - np.arange(n)[None, :]) % n
    return ((d <= n_conn / 2) | (d >= n - n_conn / 2)).astype(np.int8)


def adjacency(n_per_type: int, neighbor_scale: float) -> np.ndarray:
    """The (2n)×(2n) 0/1 adjacency ``[[A, A], [A, A]]`` with the main diagonal zeroed (int8)."""
    a = block_adjacency(n_per_type, neighbor_scale)
    full = np.block([[a, a], [a, a]])
    np.fill_diagonal(full, 0)
    return full


def weight_matrix(params: RingParams) -> np.ndarray:
    """Signed weights ``W[post, pre]``: +s_EE (E→E), +s_IE (E→I), −s_EI (I→E), −s_II (I→I).

    For reference implementations and tests; needs scalar parameters.
    """
    n = int(params.n_per_type)
    adj = adjacency(n, params.neighbor_scale).astype(np.float64)
    sign = np.empty((2 * n, 2 * n))
    sign[:n, :n] = float(params.s_EE)
    sign[n:, :n] = float(params.s_IE)
    sign[:n, n:] = -float(params.s_EI)
    sign[n:, n:] = -float(params.s_II)
    return adj * sign


def in_degrees(n_per_type: int, neighbor_scale: float) -> dict[str, int]:
    """Inputs per cell of each block, keys (post, pre) like the couplings' names.

    For the default ring: ``{'EE': 30, 'EI': 31, 'IE': 31, 'II': 30}``.
    """
    adj = adjacency(n_per_type, neighbor_scale)
    n = int(n_per_type)
    return {
        "EE": int(adj[0, :n].sum()),
        "EI": int(adj[0, n:].sum()),
        "IE": int(adj[n, :n].sum()),
        "II": int(adj[n, n:].sum()),
    }


def positions(n_per_type: int) -> np.ndarray:
    """Ring position of every cell (E cells then I cells): ``[0..n−1, 0..n−1]``."""
    n = int(n_per_type)
    return np.concatenate([np.arange(n), np.arange(n)]).astype(np.int32)


def cell_types(n_per_type: int) -> np.ndarray:
    """Cell type codes (0 = E, 1 = I) of the 2n cells."""
    n = int(n_per_type)
    return np.concatenate([np.zeros(n, np.int8), np.ones(n, np.int8)])


def box_sum(s, half_width: int | None, axis: int):
    """Sum of ``s`` over ring offsets −h..h along ``axis`` (wrapping around), same shape as ``s``.

    Args:
        s: integer or boolean array (e.g. spikes); the ring runs along ``axis``.
        half_width: h; None means the whole ring (every output is the total).
        axis: the ring axis.

    Returns:
        int8 sums when the window has fewer than 128 cells, else int32.
    """
    n = s.shape[axis]
    if half_width is None:
        tot = jnp.sum(s.astype(jnp.int32), axis=axis, keepdims=True)
        return jnp.broadcast_to(tot, s.shape)
    h = int(half_width)
    dtype = jnp.int8 if 2 * h + 1 < 128 else jnp.int32
    s = s.astype(dtype)
    if h == 0:
        return s
    head = lax.slice_in_dim(s, n - h, n, axis=axis)
    tail = lax.slice_in_dim(s, 0, h, axis=axis)
    ext = jnp.concatenate([head, s, tail], axis=axis)
    window = [1] * s.ndim
    window[axis] = 2 * h + 1
    return lax.reduce_window(
        ext, jnp.array(0, dtype), lax.add, tuple(window), (1,) * s.ndim, "VALID"
    )
