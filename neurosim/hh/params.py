"""Hodgkin–Huxley parameters, in either of two consistent unit systems.

The equations are the same in both; only the units of capacitance, conductance and current
change:

- ``"area"`` (default): C in µF/cm², conductances in mS/cm², currents in µA/cm².
- ``"point"``: a point neuron as NEST's ``hh_psc_alpha`` (C = 100 pF, g in nS, currents in pA),
  i.e. the same membrane on 1e-4 cm² (100 pA ≙ 1 µA/cm²; NEST's E_L = −54.402 mV).

Voltages are in mV and time in ms in both.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import jax
import jax.numpy as jnp
import numpy as np

UNITS = ("area", "point")
_UNIT_TEXT = {
    "area": {"C": "µF/cm²", "g": "mS/cm²", "I": "µA/cm²"},
    "point": {"C": "pF", "g": "nS", "I": "pA"},
}


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class HHParams:
    """Membrane parameters of the Hodgkin–Huxley model.

    Every field may be a scalar or an array of shape (B,) to simulate B neurons with different
    parameters in one call.

    Attributes:
        C: membrane capacitance (µF/cm² or pF).
        g_na, g_k, g_l: maximal sodium, potassium and leak conductances (mS/cm² or nS).
        e_na, e_k, e_l: reversal potentials (mV).
        units: ``"area"`` or ``"point"`` (static: not traced, not batched).
    """

    C: float = 1.0
    g_na: float = 120.0
    g_k: float = 36.0
    g_l: float = 0.3
    e_na: float = 50.0
    e_k: float = -77.0
    e_l: float = -54.387
    units: str = field(default="area", metadata=dict(static=True))

    def __post_init__(self):
        if self.units not in UNITS:
            raise ValueError(f"units must be one of {UNITS}, got {self.units!r}")

    @classmethod
    def area(cls, **overrides) -> HHParams:
        """Per-area squid-axon parameters (the default): µF/cm², mS/cm², µA/cm²."""
        return cls(**overrides)

    @classmethod
    def point(cls, **overrides) -> HHParams:
        """NEST ``hh_psc_alpha`` point neuron: 100 pF, 12000/3600/30 nS, E_L = −54.402 mV; pA."""
        base = dict(
            C=100.0,
            g_na=12000.0,
            g_k=3600.0,
            g_l=30.0,
            e_na=50.0,
            e_k=-77.0,
            e_l=-54.402,
            units="point",
        )
        base.update(overrides)
        return cls(**base)

    @property
    def current_unit(self) -> str:
        return _UNIT_TEXT[self.units]["I"]

    def values(self) -> dict[str, object]:
        """The parameters as plain Python/NumPy values (for file attributes)."""
        out: dict[str, object] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v if isinstance(v, str) else np.asarray(v).tolist()
        return out

    def as_arrays(self, n: int, dtype) -> HHParams:
        """Every numeric field as a 0-d array (shared) or shape (n,), in the given dtype."""
        kw = {}
        for f in fields(self):
            if f.name == "units":
                continue
            v = jnp.asarray(getattr(self, f.name), dtype=dtype)
            if v.ndim > 1 or (v.ndim == 1 and v.shape[0] not in (1, n)):
                raise ValueError(
                    f"parameter {f.name} has shape {v.shape}; expected a scalar or shape ({n},)"
                )
            kw[f.name] = v.reshape(()) if v.size == 1 else v
        return replace(self, **kw)

    def batch_size(self) -> int | None:
        """B if any field is an array of shape (B,), else None."""
        sizes = {
            np.shape(getattr(self, f.name))[0]
            for f in fields(self)
            if f.name != "units" and np.ndim(getattr(self, f.name)) == 1
        }
        sizes.discard(1)
        if len(sizes) > 1:
            raise ValueError(f"parameter arrays have different lengths {sorted(sizes)}")
        return sizes.pop() if sizes else None

    def check(self) -> None:
        """Raise ValueError for physically meaningless values (C ≤ 0, negative conductances, NaN)."""
        for f in fields(self):
            if f.name == "units":
                continue
            v = np.asarray(getattr(self, f.name), dtype=np.float64)
            if not np.all(np.isfinite(v)):
                raise ValueError(f"parameter {f.name} has non-finite values: {v}")
        if np.any(np.asarray(self.C) <= 0):
            raise ValueError(f"capacitance C must be positive, got {self.C}")
        for name in ("g_na", "g_k", "g_l"):
            if np.any(np.asarray(getattr(self, name)) < 0):
                raise ValueError(f"conductance {name} must be >= 0, got {getattr(self, name)}")
