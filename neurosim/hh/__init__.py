"""The Hodgkin–Huxley neuron: parameters, kinetics, integrators, inputs and the simulator.

:func:`simulate_hh` runs whole simulations; :func:`init_state` and :func:`step` are the same
model as pure step functions for loops you write yourself (:mod:`neurosim.hh.loop`).
"""

from .inputs import (
    OU,
    ArrayInput,
    CompiledInput,
    Constant,
    Input,
    PoissonSynapses,
    Ramp,
    Step,
    Sum,
)
from .integrators import INTEGRATORS, MAX_DT, HHState
from .kinetics import rates, steady_state
from .loop import HHLoopState, HHStepOutput, HHSystem, init_state, step
from .params import HHParams
from .simulate import RECORDABLE, HHResult, simulate_hh

__all__ = [
    "INTEGRATORS",
    "MAX_DT",
    "OU",
    "RECORDABLE",
    "ArrayInput",
    "CompiledInput",
    "Constant",
    "HHParams",
    "HHResult",
    "HHLoopState",
    "HHState",
    "HHStepOutput",
    "HHSystem",
    "Input",
    "PoissonSynapses",
    "Ramp",
    "Step",
    "Sum",
    "init_state",
    "rates",
    "simulate_hh",
    "steady_state",
    "step",
]
