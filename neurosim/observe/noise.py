"""Noise of recordings: CASCADE's noise level ν, shot-like noise calibrated to a requested ν,
slow baseline drift, and coloured (1/f) and line noise for the LFP.

ν (Rupprecht et al. 2021, Nat. Neurosci. 24:1324, "CASCADE"): for a ΔF/F trace (fraction) at
frame rate f, ``ν = 100 · median|ΔF/F(t+1) − ΔF/F(t)| / sqrt(f)`` in %·s^-1/2. For white
Gaussian noise of standard deviation σ this is ``100 · 0.954 · σ / sqrt(f)``; ν ≈ 1 is excellent,
3–4 decent, above 5 poor.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

#: median |X − Y| / σ for X, Y independent N(0, σ²): sqrt(2) · 0.67449
MEDIAN_ABS_DIFF = math.sqrt(2.0) * 0.6744897501960817


def noise_level(dff, frame_rate_hz: float) -> np.ndarray:
    """CASCADE's standardised noise level ν of each trace (%·s^-1/2).

    Args:
        dff: ΔF/F as a fraction, ``(n_frames,)`` or ``(n_cells, n_frames)``; NaN are ignored.
        frame_rate_hz: frames per second.

    Returns:
        ν per trace (a float for a 1-D input).
    """
    x = np.asarray(dff, dtype=np.float64)
    if x.shape[-1] < 2:
        raise ValueError(f"need at least 2 frames to measure a noise level, got {x.shape[-1]}")
    d = np.abs(np.diff(x, axis=-1))
    med = np.nanmedian(d, axis=-1) if np.isnan(d).any() else np.median(d, axis=-1)
    nu = 100.0 * med / math.sqrt(frame_rate_hz)
    return float(nu) if np.ndim(nu) == 0 else nu


def _median_abs(x: np.ndarray, *, overwrite: bool = False, threads: int = 2) -> np.ndarray:
    """Row medians of |x| (numpy's in-place partition, which releases the GIL: rows are split
    over ``threads`` threads; XLA sorts, which is far slower on CPU).

    With ``overwrite`` the rows of ``x`` are reordered in place (no copy)."""
    a = np.abs(x, out=x) if overwrite else np.abs(x)
    n = a.shape[1]
    k = (n - 1) // 2, n // 2

    def part(rows: slice) -> None:
        a[rows].partition(k, axis=1)

    if threads > 1 and a.shape[0] >= 2 * threads and a.size >= 1_000_000:
        from concurrent.futures import ThreadPoolExecutor

        edges = np.linspace(0, a.shape[0], threads + 1).astype(int)
        with ThreadPoolExecutor(threads) as ex:
            list(
                ex.map(part, [slice(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
            )
    else:
        part(slice(None))
    return 0.5 * (a[:, k[0]].astype(np.float64) + a[:, k[1]].astype(np.float64))


def calibrate_noise_sigma(
    base,
    unit_noise,
    frame_rate_hz: float,
    target_nu: float,
    *,
    rtol: float = 2e-3,
    max_iter: int = 8,
    limit: int = 16384,
    full_passes: int = 2,
    diffs: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Scale per cell so that ``base + σ·unit_noise`` has noise level ``target_nu``.

    With ``b`` the ν of ``unit_noise`` alone, ν(σ)² ≈ a² + b²σ² where ``a`` (the ν that the
    signal and the drift contribute) is re-estimated at each step. Iterations run on every k-th
    frame difference (at most ``limit`` per cell), then on all frames until ν is within
    ``rtol`` (usually one correction). Where the signal alone already exceeds ``target_nu`` no σ can reach it: σ is 0
    there and the achieved ν (returned) is larger than requested.

    Args:
        base: ``(n_cells, n_frames)`` noiseless trace (signal, drift, neuropil).
        unit_noise: ``(n_cells, n_frames)`` noise of unit scale (e.g. z·sqrt(|1 + signal|)).
        frame_rate_hz: frames per second.
        target_nu: requested ν (%·s^-1/2), > 0.
        rtol: relative tolerance on ν in the subset iterations.
        max_iter: subset iterations at most.
        limit: frame differences per cell used in the subset iterations.
        full_passes: measurements on every frame at most (each followed by a correction
            while ν is off by more than ``rtol``).
        diffs: the frame differences of ``base`` and ``unit_noise`` if already computed
            (``(n_cells, n_frames − 1)`` each; they may be overwritten).

    Returns:
        ``(sigma, nu)``: σ per cell (float64) and the achieved ν of ``base + σ·unit_noise``
        (computed from the frame differences in float32).
    """
    if not (target_nu > 0 and math.isfinite(target_nu)):
        raise ValueError(f"noise level must be positive and finite, got {target_nu}")
    base = np.asarray(base, np.float32)
    unit_noise = np.asarray(unit_noise, np.float32)
    scale = 100.0 / math.sqrt(frame_rate_hz)
    n = base.shape[1]
    dB, dU = diffs if diffs is not None else (np.diff(base, axis=1), np.diff(unit_noise, axis=1))
    step = max(1, (n - 1) // limit)
    db, du = dB[:, ::step], dU[:, ::step]  # every k-th difference (views)
    b = scale * _median_abs(du).astype(np.float64)
    b = np.where(b > 0, b, 1e-12)
    sigma = np.full(base.shape[0], target_nu) / b

    def model_step(nu, sigma):
        """ν(σ)² ≈ a² + b²σ², with a re-estimated at the current point; where the signal makes
        ν smaller than the noise alone would (a² < 0), scale σ by target/ν instead."""
        a2 = nu**2 - (b * sigma) ** 2
        model = np.sqrt(np.maximum(target_nu**2 - np.maximum(a2, 0.0), 0.0)) / b
        return np.where(a2 > 0, model, sigma * target_nu / np.maximum(nu, 1e-12))

    def secant_step(nu, sigma, nu_prev, sigma_prev):
        """Secant on ν(σ) − target, falling back to the model where it is not safe."""
        fallback = model_step(nu, sigma)
        dn, ds = nu - nu_prev, sigma - sigma_prev
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = dn / ds
            sec = sigma - (nu - target_nu) / slope
        ok = np.isfinite(sec) & (slope > 0) & (sec > 0.5 * sigma) & (sec < 2.0 * sigma)
        return np.where(ok, sec, fallback), np.where(ok & (slope > 0), slope, np.nan)

    def done(nu, sigma):
        return (np.abs(nu / target_nu - 1) < rtol) | (sigma == 0)

    # on every k-th frame difference: secant iterations (superlinear on this piecewise-linear ν)
    nu_prev = sigma_prev = None
    slope = np.full(sigma.shape, np.nan)
    for _ in range(max_iter):
        nu = scale * _median_abs(db + sigma[:, None].astype(np.float32) * du, overwrite=True)
        if np.all(done(nu, sigma)):
            break
        if nu_prev is None:
            new = model_step(nu, sigma)
        else:
            new, s_new = secant_step(nu, sigma, nu_prev, sigma_prev)
            slope = np.where(np.isfinite(s_new), s_new, slope)
        nu_prev, sigma_prev, sigma = nu, sigma, np.where(done(nu, sigma), sigma, new)

    # then on every frame: measure, correct with the subset's slope, measure again
    def measure(rows, sig):
        return scale * _median_abs(
            dB[rows] + sig[:, None].astype(np.float32) * dU[rows], overwrite=True
        )

    every = np.arange(base.shape[0])
    for _ in range(full_passes):
        nu = measure(every, sigma)
        if np.all(done(nu, sigma)):
            break
        lin = sigma - (nu - target_nu) / slope
        ok = np.isfinite(lin) & (lin > 0.5 * sigma) & (lin < 2.0 * sigma)
        sigma = np.where(done(nu, sigma), sigma, np.where(ok, lin, model_step(nu, sigma)))
    else:
        nu = measure(every, sigma)
    # the model can stall on short traces (the median of few differences moves in jumps):
    # bisect the remaining cells on all frames
    bad = np.flatnonzero((np.abs(nu / target_nu - 1) >= rtol) & (sigma > 0))
    if bad.size:
        lo, hi = sigma[bad] * 0.7, sigma[bad] * 1.4
        for _ in range(20):  # widen until the target is bracketed
            nlo, nhi = measure(bad, lo), measure(bad, hi)
            if np.all((nlo <= target_nu) & (nhi >= target_nu)):
                break
            lo = np.where(nlo > target_nu, lo * 0.5, lo)
            hi = np.where(nhi < target_nu, hi * 2.0, hi)
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            nm = measure(bad, mid)
            lo, hi = np.where(nm < target_nu, mid, lo), np.where(nm < target_nu, hi, mid)
            if np.all(np.abs(nm / target_nu - 1) < rtol):
                break
        sigma[bad] = mid
        nu[bad] = nm
    return sigma.astype(np.float64), nu


@partial(jax.jit, static_argnames=("n_cells", "n_bins"))
def ou_unit(key, n_cells: int, n_bins: int, a):
    """Unit-variance stationary AR(1) (discretised Ornstein–Uhlenbeck) with coefficient ``a``,
    ``(n_cells, n_bins)``: the slow rate modulation of the sources and the baseline drift."""
    k0, k1 = jax.random.split(key)
    x0 = jax.random.normal(k0, (n_cells,))
    eps = jax.random.normal(k1, (n_bins - 1, n_cells)) * jnp.sqrt(1.0 - a * a)

    def step(x, e):
        x = a * x + e
        return x, x

    _, xs = jax.lax.scan(step, x0, eps)
    return jnp.concatenate([x0[None], xs], axis=0).T


def drift_knots(
    n_cells: int,
    n_frames: int,
    frame_rate_hz: float,
    *,
    key: jax.Array,
    sd: float,
    timescale_s: float,
):
    """The coarse grid of :func:`slow_drift` and where each frame falls on it.

    Returns:
        ``(knots, i0, frac)``: ``(n_cells, n_knots)`` OU values (already scaled by ``sd``),
        ``(n_frames,)`` int32 left knot of each frame and ``(n_frames,)`` float32 position between
        it and the next; :func:`interpolate_knots` turns them into the drift.
    """
    if sd < 0 or not math.isfinite(sd):
        raise ValueError(f"drift sd must be >= 0, got {sd}")
    if not (timescale_s > 0 and math.isfinite(timescale_s)):
        raise ValueError(f"drift timescale must be positive, got {timescale_s}")
    duration = n_frames / frame_rate_hz
    step = max(timescale_s / 20.0, 1.0 / frame_rate_hz)
    n_knots = int(math.ceil(duration / step)) + 2
    if sd == 0:
        knots = jnp.zeros((n_cells, n_knots), jnp.float32)
    else:
        a = jnp.float32(math.exp(-step / timescale_s))
        knots = sd * ou_unit(key, n_cells, n_knots, a)
    pos = (np.arange(n_frames) / frame_rate_hz) / step
    i0 = np.floor(pos).astype(np.int32)
    frac = (pos - i0).astype(np.float32)
    return knots, jnp.asarray(i0), jnp.asarray(frac)


def interpolate_knots(knots, i0, frac):
    """Linear interpolation of :func:`drift_knots`' grid to the frames, ``(n_cells, n_frames)``."""
    w = frac[None, :]  # (1, n_frames): the same position for every cell
    return knots[:, i0] * (1.0 - w) + knots[:, i0 + 1] * w


def slow_drift(
    n_cells: int,
    n_frames: int,
    frame_rate_hz: float,
    *,
    key: jax.Array,
    sd: float,
    timescale_s: float,
) -> np.ndarray:
    """Slow baseline drift: a low-pass random walk (stationary Ornstein–Uhlenbeck process).

    Drawn on a coarse grid (step ``timescale_s / 20``, never finer than a frame) and linearly
    interpolated to the frames, so its cost does not grow with the frame rate.

    Args:
        n_cells, n_frames, frame_rate_hz: shape and rate of the traces.
        key: PRNG key.
        sd: standard deviation (ΔF/F units); 0 gives zeros.
        timescale_s: correlation time (s).

    Returns:
        ``(n_cells, n_frames)`` float32.
    """
    knots, i0, frac = drift_knots(
        n_cells, n_frames, frame_rate_hz, key=key, sd=sd, timescale_s=timescale_s
    )
    return np.asarray(jax.jit(interpolate_knots)(knots, i0, frac), np.float32)


def colored_noise(
    n_samples: int,
    sample_rate_hz: float,
    *,
    key: jax.Array,
    exponent: float = 1.0,
    f_min_hz: float = 0.5,
) -> np.ndarray:
    """Gaussian noise with power spectrum ∝ 1/f^exponent (flat below ``f_min_hz``), unit variance.

    White noise shaped in the frequency domain (``exponent = 1``: pink, "1/f" background of
    extracellular recordings; 2: brown).

    Returns:
        ``(n_samples,)`` float64 with mean 0 and standard deviation 1.
    """
    if n_samples < 2:
        raise ValueError(f"need at least 2 samples, got {n_samples}")
    white = np.asarray(jax.random.normal(key, (n_samples,)), np.float64)
    spec = np.fft.rfft(white)
    f = np.fft.rfftfreq(n_samples, d=1.0 / sample_rate_hz)
    gain = np.maximum(f, f_min_hz) ** (-exponent / 2.0)
    gain[0] = 0.0
    x = np.fft.irfft(spec * gain, n=n_samples)
    sd = x.std()
    return x / sd if sd > 0 else x


def line_noise(
    n_samples: int,
    sample_rate_hz: float,
    *,
    key: jax.Array,
    amplitude: float,
    frequency_hz: float = 50.0,
) -> np.ndarray:
    """Mains hum: ``amplitude · sin(2π f t + φ)``, random phase φ; ``(n_samples,)`` float64."""
    phase = float(jax.random.uniform(key, (), minval=0.0, maxval=2 * math.pi))
    t = np.arange(n_samples) / sample_rate_hz
    return amplitude * np.sin(2 * math.pi * frequency_hz * t + phase)
