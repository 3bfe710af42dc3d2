"""Counter-based random numbers for the ring's Poisson kicks: one uint32 per cell and step.

Drawing a Poisson sample per cell per step with ``jax.random`` costs more than the whole rest of a
step. Here the bits of cell ``i`` at step ``j`` of a trial are a pure function of
``(trial seed, j, i)``:

    k_j = hash32(hash32(j ⊕ seed0) + seed1)        (one value per trial and step)
    u_ij = hash32(c_i ⊕ k_j)                        (c_i = hash32(i·0x9E3779B9 + 0x632BE5AB))

with ``hash32`` Chris Wellons' ``lowbias32`` (a bijection of uint32 with near-ideal avalanche).
For a fixed trial, distinct steps give distinct ``k_j`` and distinct cells distinct ``u_ij``
(bijections), so nothing repeats within a step or within a cell's stream. The number of events
is read off the top 31 bits by comparison with cumulative Poisson thresholds,

    count = #{m : u_ij >> 1 >= T_m},   T_m = round(2^31 · P(N <= m)),  N ~ Poisson(λ·dt),

which is exact for any number of events per step up to the 2^-31 resolution of the thresholds
(thresholds are kept while P(N > m) >= 2^-32). The same seed gives the same kicks whatever the
batch, chunk or device; ``tests/test_ring_rng.py`` checks the counts against the Poisson law
(chi-square) and independence across cells and steps.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..rng import hash32 as _hash32

_GOLDEN = 0x9E3779B9
_CELL_OFFSET = 0x632BE5AB
_SHARED_TAG0 = 0x5BD1E995
_SHARED_TAG1 = 0x27D4EB2F


def hash32(x):
    """lowbias32, :func:`neurosim.rng.hash32` (bijective uint32 → uint32): one shared definition.

    NumPy input gives a NumPy result, computed at once even while JAX traces a function (the
    per-cell constants are computed at trace time); JAX input gives a JAX array.
    """
    if isinstance(x, np.ndarray) or np.isscalar(x):
        with jax.ensure_compile_time_eval():
            return np.asarray(_hash32(np.asarray(x, np.uint32)))
    return _hash32(x)


def cell_constants(n_cells: int) -> np.ndarray:
    """Per-cell constants ``c_i`` (uint32, all distinct)."""
    i = np.arange(n_cells, dtype=np.uint64)
    return hash32(((i * _GOLDEN + _CELL_OFFSET) % (1 << 32)).astype(np.uint32))


def step_key(seed0, seed1, j):
    """The per-trial, per-step key ``k_j`` (uint32; ``seed0``/``seed1`` broadcast over trials)."""
    j = jnp.asarray(j).astype(jnp.uint32)
    return hash32(hash32(j ^ seed0) + seed1)


def shared_seeds(seeds):
    """Seeds of the shared-input stream, derived from a trial's seeds (``seeds[..., :2]``)."""
    s = jnp.asarray(seeds, jnp.uint32)
    return hash32(s[..., 0] ^ jnp.uint32(_SHARED_TAG0)), hash32(
        s[..., 1] + jnp.uint32(_SHARED_TAG1)
    )


def poisson_thresholds(mean_per_step: float, bits: int = 31) -> np.ndarray:
    """Cumulative thresholds ``T_m = round(2^bits · P(N <= m))`` for N ~ Poisson(mean), int64.

    Thresholds are listed while ``P(N > m) >= 2^-(bits+1)``, so ``#{m : u >= T_m}`` for a uniform
    ``bits``-bit integer ``u`` is Poisson-distributed up to rounding to multiples of ``2^-bits``.

    Raises:
        ValueError: a negative or non-finite mean.
    """
    mu = float(mean_per_step)
    if not (math.isfinite(mu) and mu >= 0):
        raise ValueError(f"Poisson mean per step must be finite and >= 0, got {mu}")
    scale = float(2**bits)
    m_max = int(mu + 20.0 * math.sqrt(mu) + 30)
    if mu <= 700.0:  # exp(-mu) is a normal float: the recursion (what datasets were made with)
        pmf = np.empty(m_max + 1)
        pmf[0] = math.exp(-mu)
        for m in range(1, m_max + 1):
            pmf[m] = pmf[m - 1] * mu / m
    else:
        # exp(-mu) underflows (to 0 from mu ≈ 745, which would list no threshold at all:
        # silently no events), so compute log P(N = m) = −mu + m·log(mu) − log(m!) instead.
        m = np.arange(m_max + 1, dtype=np.float64)
        log_fact = np.asarray([math.lgamma(k + 1.0) for k in range(m_max + 1)])
        pmf = np.exp(-mu + m * math.log(mu) - log_fact)
    # tails[m] = P(N > m), summed from the top so that small tails keep their relative precision.
    tails = np.concatenate([np.cumsum(pmf[::-1])[::-1][1:], [0.0]])
    out = []
    for t in tails:
        if t * scale < 0.5:
            break
        out.append(int(round(scale - t * scale)))
    return np.asarray(out, dtype=np.int64)


def poisson_count(u, thresholds):
    """Event counts from uint32 bits ``u`` and thresholds of :func:`poisson_thresholds` (31 bits).

    Args:
        u: uint32 array of random bits.
        thresholds: sequence of Python ints (static: unrolled comparisons) or an int32 array
            (traced, e.g. under vmap over parameter sets).

    Returns:
        int32 counts, shape of ``u``.
    """
    u31 = (u >> 1).astype(jnp.int32)
    if isinstance(thresholds, (list, tuple)):
        if not thresholds:
            return jnp.zeros(u31.shape, jnp.int32)
        # (T − 1 − u) >> 31 is −1 where u >= T, else 0: two vector ops a threshold.
        acc = (jnp.int32(thresholds[0] - 1) - u31) >> 31
        for t in thresholds[1:]:
            acc = acc + ((jnp.int32(t - 1) - u31) >> 31)
        return -acc
    th = jnp.asarray(thresholds, jnp.int32)
    acc = jnp.zeros(u31.shape, jnp.int32)
    for m in range(th.shape[-1]):
        acc = acc + ((th[..., m] - 1 - u31) >> 31)
    return -acc


def trial_seeds(key, n_trials: int, offset: int = 0) -> jnp.ndarray:
    """Four uint32 words per trial, trial ``t`` from ``fold_in(key, offset + t)`` (shape (n, 4)).

    Words 0–1 seed the external kicks, 2–3 the initial state. A trial's randomness depends only
    on the key and its index, not on how trials are batched or chunked.
    """
    idx = jnp.arange(offset, offset + n_trials, dtype=jnp.uint32)
    return jax.vmap(lambda t: jax.random.bits(jax.random.fold_in(key, t), (4,), jnp.uint32))(idx)


def kick_counts(
    seeds, n_cells: int, start_step: int, n_steps: int, thresholds, shared_thresholds=()
):
    """The external event counts of ``n_steps`` steps, materialised (for tests and peers).

    Args:
        seeds: (4,) uint32 words of one trial (see :func:`trial_seeds`).
        n_cells: number of cells (2·n_per_type).
        start_step: first step index.
        n_steps: number of steps.
        thresholds, shared_thresholds: from :func:`poisson_thresholds` for the independent rate
            λ(1−ρ)·dt and the shared rate ρλ·dt.

    Returns:
        (n_steps, n_cells) int32 counts, exactly those the simulator adds (independent + shared).
    """
    seeds = jnp.asarray(seeds, jnp.uint32)
    c = jnp.asarray(cell_constants(n_cells))
    j = jnp.arange(start_step, start_step + n_steps, dtype=jnp.uint32)
    k = step_key(seeds[0], seeds[1], j)
    counts = poisson_count(hash32(c[None, :] ^ k[:, None]), [int(t) for t in thresholds])
    if len(shared_thresholds):
        s0, s1 = shared_seeds(seeds)
        ks = step_key(s0, s1, j)
        counts = counts + poisson_count(hash32(ks), [int(t) for t in shared_thresholds])[:, None]
    return counts
