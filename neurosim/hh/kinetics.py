"""Gating kinetics of the Hodgkin–Huxley squid axon (modern convention, rest ≈ −65 mV).

    α_m = 0.1 (V+40) / (1 − exp(−(V+40)/10))      β_m = 4 exp(−(V+65)/18)
    α_h = 0.07 exp(−(V+65)/20)                     β_h = 1 / (1 + exp(−(V+35)/10))
    α_n = 0.01 (V+55) / (1 − exp(−(V+55)/10))     β_n = 0.125 exp(−(V+65)/80)

(V in mV, rates in 1/ms.) Only three exponentials are evaluated per call: the three terms with
a 1/10 mV scale share ``exp(−(V+35)/10)``, and ``exp(−(V+65)/20) = exp(−(V+65)/80)⁴``.
α_m and α_n have removable singularities at V = −40 and −55 mV (limits 1.0 and 0.1 per ms):
they are written as ``y·z/(1 − e^{−z})`` with a Taylor series for |z| < 0.1, so no NaN and no
loss of accuracy near them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp

_SERIES_Z = 0.1  # |z| below which z/(1-exp(-z)) uses its Taylor series
_E_HALF = math.exp(-0.5)  # exp(-(V+40)/10) = exp(-(V+35)/10) * exp(-0.5)
_E_TWO = math.exp(-2.0)  # exp(-(V+55)/10) = exp(-(V+35)/10) * exp(-2)


class Rates(NamedTuple):
    """Opening (α) and closing (β) rates of the gates m, h, n, in 1/ms."""

    am: jnp.ndarray
    bm: jnp.ndarray
    ah: jnp.ndarray
    bh: jnp.ndarray
    an: jnp.ndarray
    bn: jnp.ndarray


def z_over_one_minus_exp(z, exp_minus_z):
    """``z / (1 − e^{−z})`` given ``e^{−z}``, finite and accurate at z = 0 (limit 1).

    For |z| < 0.1 the series 1 + z/2 + z²/12 − z⁴/720 + z⁶/30240 is used (truncation error
    below 1e-14); elsewhere the quotient, whose cancellation error is below 1e-6 relative in
    float32 there.
    """
    small = jnp.abs(z) < _SERIES_Z
    denom = jnp.where(small, 1.0, 1.0 - exp_minus_z)
    zz = z * z
    series = 1.0 + z * 0.5 + zz * (1.0 / 12.0 + zz * (-1.0 / 720.0 + zz * (1.0 / 30240.0)))
    return jnp.where(small, series, jnp.where(small, 1.0, z) / denom)


def rates(V) -> Rates:
    """All six rate functions at membrane potential ``V`` (mV), with three exponentials."""
    e35 = jnp.exp(-(V + 35.0) * 0.1)
    e80 = jnp.exp(-(V + 65.0) * (1.0 / 80.0))
    e18 = jnp.exp(-(V + 65.0) * (1.0 / 18.0))
    e80_2 = e80 * e80
    am = z_over_one_minus_exp((V + 40.0) * 0.1, e35 * _E_HALF)
    an = 0.1 * z_over_one_minus_exp((V + 55.0) * 0.1, e35 * _E_TWO)
    return Rates(
        am=am,
        bm=4.0 * e18,
        ah=0.07 * (e80_2 * e80_2),
        bh=1.0 / (1.0 + e35),
        an=an,
        bn=0.125 * e80,
    )


def rates_reference(V) -> Rates:
    """The rate functions written literally (one exponential each, ``expm1`` for α_m, α_n).

    For tests and documentation; :func:`rates` is the fast version. Singular at exactly
    V = −40 and −55 mV (0/0), like the textbook formulas.
    """
    return Rates(
        am=0.1 * (V + 40.0) / -jnp.expm1(-(V + 40.0) / 10.0),
        bm=4.0 * jnp.exp(-(V + 65.0) / 18.0),
        ah=0.07 * jnp.exp(-(V + 65.0) / 20.0),
        bh=1.0 / (1.0 + jnp.exp(-(V + 35.0) / 10.0)),
        an=0.01 * (V + 55.0) / -jnp.expm1(-(V + 55.0) / 10.0),
        bn=0.125 * jnp.exp(-(V + 65.0) / 80.0),
    )


def steady_state(V):
    """Gate values (m, h, n) at rest: α/(α+β) at potential ``V``."""
    r = rates(V)
    return r.am / (r.am + r.bm), r.ah / (r.ah + r.bh), r.an / (r.an + r.bn)
