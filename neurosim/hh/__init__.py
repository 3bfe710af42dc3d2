"""The Hodgkin–Huxley neuron: parameters, kinetics, integrators, inputs and the simulator."""

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
    "HHState",
    "Input",
    "PoissonSynapses",
    "Ramp",
    "Step",
    "Sum",
    "rates",
    "simulate_hh",
    "steady_state",
]
