"""Counter-based random numbers for simulators: cheap, reproducible, independent of batching.

``jax.random`` draws ~7e7 normals/s on this class of CPU, which would cap a simulator that needs a
fresh number per neuron per step. Here each number is a pure function of
``(key, stream, counter)``: a stream per neuron (its global index in a dataset, so a neuron's input
does not depend on the batch or chunk it was simulated in), a counter per step.

    u = hash32(hash32(counter ⊕ c) ⊕ seed(key, stream, tag))

``hash32`` is Chris Wellons' ``lowbias32`` integer hash (a bijection of uint32 with near-ideal
avalanche). The inner hash depends only on the counter, so inside a batched step it is computed once
for all neurons; each number then costs one xor and one hash. Within a stream successive counters
never repeat a value (bijection); two streams coincide only at isolated, unrelated counters.
Uniforms have 23 random bits (float32) or 32 (float64); normals are ``√2·erfinv(2u−1)``, so their
tails are cut at about ±5.4σ (float32). tests/test_rng.py checks moments, normality (KS),
independence across streams and in time, and Poisson counts.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

_C_COUNTER = 0x9E3779B9
_C_STREAM = 0x85EBCA6B
_C_TAG = 0xC2B2AE35


def hash32(x):
    """lowbias32: a bijective uint32 → uint32 hash with strong avalanche."""
    x = jnp.asarray(x, jnp.uint32)
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    x = x ^ (x >> 16)
    return x


def key_words(key) -> jnp.ndarray:
    """The raw uint32 words of a JAX PRNG key (new-style typed key or legacy uint32 array)."""
    if not isinstance(key, jax.Array):
        key = jnp.asarray(key)
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return key.reshape(-1).astype(jnp.uint32)


def stream_seeds(key, streams, tag: int) -> jnp.ndarray:
    """One uint32 seed per stream, mixing the key, the stream index and a tag (0 ≤ tag < 2³²).

    Args:
        key: a JAX PRNG key.
        streams: integer array of stream indices (e.g. neuron or trace indices), any shape.
        tag: separates the random numbers of different processes (inputs) driven by one key.
    """
    h = hash32(jnp.uint32(tag) * jnp.uint32(_C_TAG) + jnp.uint32(1))
    for w in key_words(key):
        h = hash32(h ^ w)
    s = jnp.asarray(streams).astype(jnp.uint32)
    return hash32(hash32(s * jnp.uint32(_C_STREAM) + h) ^ h)


def bits(seed, counter):
    """32 random bits for each seed at this counter (counter: a scalar uint32/int)."""
    c = hash32(jnp.asarray(counter).astype(jnp.uint32) ^ jnp.uint32(_C_COUNTER))
    return hash32(c ^ seed)


def uniform(seed, counter, dtype=jnp.float32):
    """Uniform numbers in the open interval (0, 1)."""
    b = bits(seed, counter)
    if jnp.dtype(dtype) == jnp.float64:
        return (b.astype(jnp.float64) + 0.5) * (1.0 / 4294967296.0)
    # 23 bits + 1/2: exact in float32, so never 0 or 1; int32 conversion vectorises better.
    return ((b >> 9).astype(jnp.int32).astype(dtype) + 0.5) * (1.0 / 8388608.0)


def normal(seed, counter, dtype=jnp.float32):
    """Standard normal numbers by inversion of the CDF."""
    u = uniform(seed, counter, dtype)
    return jnp.asarray(1.4142135623730951, dtype) * lax.erf_inv(2.0 * u - 1.0)


def poisson_small(seed, counter, lam, kmax: int, dtype=jnp.float32):
    """Poisson counts with small mean ``lam`` (per draw) by inversion, truncated at ``kmax``.

    Choose ``kmax`` so that P(k > kmax) is negligible (see :func:`poisson_kmax`).
    """
    u = uniform(seed, counter, dtype)
    lam = jnp.asarray(lam, dtype)
    p = jnp.exp(-lam)
    cdf = p
    k = jnp.zeros(jnp.shape(u), dtype)
    for i in range(1, kmax + 1):
        k = k + (u > cdf).astype(dtype)
        p = p * lam / i
        cdf = cdf + p
    return k


#: largest Poisson mean per draw that :func:`poisson_small` accepts (inversion by thresholds
#: needs about lam + 7·sqrt(lam) comparisons, and exp(−lam) must not underflow in float32)
MAX_POISSON_MEAN = 30.0


def poisson_kmax(lam: float, tail: float = 1e-12) -> int:
    """Smallest k with P(X > k) < tail for X ~ Poisson(lam) (for :func:`poisson_small`).

    Raises:
        ValueError: ``lam`` is negative, not finite, or above :data:`MAX_POISSON_MEAN`.
    """
    import math

    if lam < 0 or not math.isfinite(lam):
        raise ValueError(f"Poisson mean per step must be finite and >= 0, got {lam}")
    if lam > MAX_POISSON_MEAN:
        raise ValueError(
            f"Poisson mean per step {lam:g} is above {MAX_POISSON_MEAN:g}: the arrival rate is too "
            "high for this time step (use a smaller dt, or fewer, stronger events)"
        )
    p = math.exp(-lam)
    cdf = p
    k = 0
    while 1.0 - cdf >= tail and k < 10_000:
        k += 1
        p *= lam / k
        cdf += p
    return max(k, 1)
