"""Calcium indicators: kinetics and the map from calcium to fluorescence (ΔF/F), with presets.

Calcium is measured in *spike units*: ``c = 1`` is the peak of one isolated spike's calcium
transient (see :mod:`neurosim.observe.calcium`). An indicator turns it into ΔF/F (a fraction:
0.1 is 10 %) by one of three maps, each scaled so that one isolated spike peaks at exactly
``amplitude``:

- ``"linear"``: ``ΔF/F = A·c``.
- ``"hill"`` (saturating, cooperative binding; supralinear at first when ``n > 1``):
  ``ΔF/F = F_max·(H(ca_rest + ca_per_spike·c) − H(ca_rest))``, ``H(x) = xⁿ / (xⁿ + K_dⁿ)``,
  with calcium in nM and ``F_max = A / (H(ca_rest + ca_per_spike) − H(ca_rest))``.
- ``"polynomial"`` (MLspike's model for GCaMPs, Deneux et al. 2016):
  ``ΔF/F = A·(c + p₂c² + p₃c³) / (1 + p₂ + p₃)``.

The presets' values, their sources, and which ones were tuned against the real Spikefinder cells
are listed in ``docs/calcium.md`` (section "Indicator presets"); each preset's ``references``
says the same in one line.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

NONLINEARITIES = ("linear", "hill", "polynomial")


@dataclass(frozen=True)
class Indicator:
    """A calcium indicator: single-spike transient and calcium → ΔF/F map.

    Attributes:
        name: preset name.
        amplitude: peak ΔF/F of one isolated spike (fraction; 0.2 = 20 %).
        tau_rise_s: rise time constant of the double-exponential transient (s); 0 = instant.
        tau_decay_s: decay time constant (s), > ``tau_rise_s``.
        nonlinearity: ``"linear"``, ``"hill"`` or ``"polynomial"``.
        hill_n: Hill coefficient (cooperativity), for ``"hill"``.
        kd_nM: apparent dissociation constant (nM), for ``"hill"``.
        ca_rest_nM: resting free calcium (nM), for ``"hill"``.
        ca_per_spike_nM: free-calcium increment at the peak of one spike (nM), for ``"hill"``.
        p2, p3: polynomial coefficients, for ``"polynomial"``.
        references: where the values come from (one line; details in docs/calcium.md).
    """

    name: str
    amplitude: float
    tau_rise_s: float
    tau_decay_s: float
    nonlinearity: str = "linear"
    hill_n: float = 1.0
    kd_nM: float = 200.0
    ca_rest_nM: float = 50.0
    ca_per_spike_nM: float = 20.0
    p2: float = 0.0
    p3: float = 0.0
    references: str = ""

    def __post_init__(self):
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(
                f"nonlinearity {self.nonlinearity!r} is not one of {', '.join(NONLINEARITIES)}"
            )
        for field in ("amplitude", "tau_decay_s", "hill_n", "kd_nM", "ca_per_spike_nM"):
            v = getattr(self, field)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"indicator {self.name!r}: {field} must be positive, got {v}")
        if not (math.isfinite(self.tau_rise_s) and 0 <= self.tau_rise_s < self.tau_decay_s):
            raise ValueError(
                f"indicator {self.name!r}: need 0 <= tau_rise_s < tau_decay_s, got "
                f"{self.tau_rise_s} and {self.tau_decay_s}"
            )
        if not (math.isfinite(self.ca_rest_nM) and self.ca_rest_nM >= 0):
            raise ValueError(
                f"indicator {self.name!r}: ca_rest_nM must be >= 0, got {self.ca_rest_nM}"
            )
        if self.nonlinearity == "polynomial" and not 1 + self.p2 + self.p3 > 0:
            raise ValueError(f"indicator {self.name!r}: need 1 + p2 + p3 > 0")

    def replace(self, **changes) -> Indicator:
        """A copy with some fields changed (e.g. ``ind.replace(amplitude=0.1)``)."""
        return dataclasses.replace(self, **changes)

    @property
    def f_max(self) -> float:
        """Saturated ΔF/F of the Hill map (``"hill"`` only; inf otherwise)."""
        if self.nonlinearity != "hill":
            return math.inf
        h0 = _hill_np(self.ca_rest_nM, self.kd_nM, self.hill_n)
        h1 = _hill_np(self.ca_rest_nM + self.ca_per_spike_nM, self.kd_nM, self.hill_n)
        return self.amplitude / (h1 - h0)


def _hill_np(x, kd, n):
    xn = np.power(np.maximum(x, 0.0), n)
    return xn / (xn + kd**n)


def fluorescence(calcium, indicator: Indicator):
    """ΔF/F (fraction) from calcium in spike units, elementwise (jax or numpy arrays).

    Args:
        calcium: calcium in spike units (1 = one spike's peak), any shape, >= 0.
        indicator: the indicator.

    Returns:
        ΔF/F, same shape, float32 jax array. 0 at rest; ``indicator.amplitude`` at ``c = 1``.
    """
    c = jnp.asarray(calcium, jnp.float32)
    ind = indicator
    if ind.nonlinearity == "linear":
        return ind.amplitude * c
    if ind.nonlinearity == "polynomial":
        return ind.amplitude * (c + ind.p2 * c**2 + ind.p3 * c**3) / (1.0 + ind.p2 + ind.p3)
    # Hill, in nM
    n, kd = ind.hill_n, ind.kd_nM
    x = ind.ca_rest_nM + ind.ca_per_spike_nM * jnp.maximum(c, 0.0)
    xn = jnp.power(x / kd, n)
    h = xn / (1.0 + xn)
    h0 = float(_hill_np(ind.ca_rest_nM, kd, n))
    return jnp.float32(ind.f_max) * (h - h0)


# Presets. Values marked (tuned) in docs/calcium.md were moved toward the real Spikefinder cells
# by `python -m neurosim.observe.realism` (see docs/calcium.md, "Realism").
PRESETS: dict[str, Indicator] = {
    "ogb1": Indicator(
        name="ogb1",
        amplitude=0.08,
        tau_rise_s=0.04,
        tau_decay_s=0.45,
        nonlinearity="hill",
        hill_n=1.0,
        kd_nM=170.0,
        ca_rest_nM=50.0,
        ca_per_spike_nM=10.0,
        references="OGB-1: one Ca site (n=1); Kd≈170 nM (manufacturer, secondary source); 1-AP "
        "ΔF/F≈8 % (Grewe et al. 2010, secondary source); rise and decay tuned to Spikefinder "
        "set 4; status of each value in docs/calcium.md",
    ),
    "gcamp5k": Indicator(
        name="gcamp5k",
        amplitude=0.04,
        tau_rise_s=0.03,
        tau_decay_s=1.3,
        nonlinearity="hill",
        hill_n=3.8,
        kd_nM=189.0,
        ca_rest_nM=100.0,
        ca_per_spike_nM=4.0,
        references="GCaMP5K: Kd≈189 nM, n≈3.8 (Akerboom et al. 2012; estimates, not checked); "
        "1-AP ΔF/F 1/6 of GCaMP6s (Chen et al. 2013, checked); kinetics and resting point tuned "
        "to Spikefinder set 6; status of each value in docs/calcium.md",
    ),
    "gcamp6s": Indicator(
        name="gcamp6s",
        amplitude=0.23,
        tau_rise_s=0.15,
        tau_decay_s=1.7,
        nonlinearity="hill",
        hill_n=2.9,
        kd_nM=144.0,
        ca_rest_nM=30.0,
        ca_per_spike_nM=10.0,
        references="GCaMP6s: Kd≈144 nM, n≈2.9 (Chen et al. 2013, secondary source); 1-AP ΔF/F "
        "23 % (estimate; Dana et al. 2019: 13 %); kinetics and supralinearity tuned to "
        "Spikefinder set 5; status of each value in docs/calcium.md",
    ),
    "gcamp6f": Indicator(
        name="gcamp6f",
        amplitude=0.19,
        tau_rise_s=0.02,
        tau_decay_s=0.4,
        nonlinearity="hill",
        hill_n=2.3,
        kd_nM=375.0,
        ca_rest_nM=50.0,
        ca_per_spike_nM=40.0,
        references="GCaMP6f: Kd≈375 nM, n≈2.3 (Chen et al. 2013, secondary source); 1-AP ΔF/F "
        "19 % and decay 0.4 s (estimates); peak at 63 ms, within the 50-75 ms rise of Chen et al. "
        "2013 (checked); not tuned (no GCaMP6f set among the vendored real data)",
    ),
}


def get_indicator(name: str | Indicator) -> Indicator:
    """A preset by name (case-insensitive; ``"OGB-1"``, ``"GCaMP6s"`` … accepted), or pass an
    :class:`Indicator` through.

    Raises:
        ValueError: unknown name (the message lists the presets).
    """
    if isinstance(name, Indicator):
        return name
    key = str(name).lower().replace("-", "").replace("_", "")
    if key not in PRESETS:
        raise ValueError(f"unknown indicator {name!r}; presets: {', '.join(PRESETS)}")
    return PRESETS[key]
