"""The same HH neuron in Brian2 (needs the ``peers`` extra), for the cross-simulator test and the
benchmark: per-area units, rates written with ``exprel`` (Brian2's singularity-safe form), the
parameters taken from :class:`~neurosim.hh.params.HHParams` so both run the model neurosim runs.
"""

from __future__ import annotations

from .params import HHParams

_EQUATIONS = """
dv/dt = (I - gNa*m**3*h*(v-ENa) - gK*n**4*(v-EK) - gL*(v-EL))/C : volt
dm/dt = alpha_m*(1-m) - beta_m*m : 1
dh/dt = alpha_h*(1-h) - beta_h*h : 1
dn/dt = alpha_n*(1-n) - beta_n*n : 1
alpha_m = 1/exprel(-(v+40*mV)/(10*mV))/ms : Hz
beta_m = 4*exp(-(v+65*mV)/(18*mV))/ms : Hz
alpha_h = 0.07*exp(-(v+65*mV)/(20*mV))/ms : Hz
beta_h = 1/(1+exp(-(v+35*mV)/(10*mV)))/ms : Hz
alpha_n = 0.1/exprel(-(v+55*mV)/(10*mV))/ms : Hz
beta_n = 0.125*exp(-(v+65*mV)/(80*mV))/ms : Hz
"""


def equations(current: str = "I : amp/meter**2") -> str:
    """Brian2 equations of the HH neuron; ``current`` is the line defining ``I`` (µA/cm² as
    ``amp/meter**2``), e.g. ``"I = I_arr(t, i) : amp/meter**2"`` for a ``TimedArray``."""
    return _EQUATIONS + current + "\n"


def namespace(params: HHParams | None = None) -> dict:
    """The membrane constants of ``params`` (default: the squid axon) with Brian2 units."""
    from brian2 import cm, mS, mV, uF

    p = HHParams() if params is None else params
    if p.units != "area":
        raise ValueError(f"the Brian2 model uses per-area units, got params.units={p.units!r}")
    return {
        "C": float(p.C) * uF / cm**2,
        "gNa": float(p.g_na) * mS / cm**2,
        "gK": float(p.g_k) * mS / cm**2,
        "gL": float(p.g_l) * mS / cm**2,
        "ENa": float(p.e_na) * mV,
        "EK": float(p.e_k) * mV,
        "EL": float(p.e_l) * mV,
    }
