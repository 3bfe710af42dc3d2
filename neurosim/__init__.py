"""neurosim: jit-compiled, vmap-batched, differentiable neuron and network simulators in JAX.

The public API is re-exported here; see ``docs/`` for the user guide.
"""

__version__ = "0.1.0"

from . import hh, observe, ring
from .hh import (
    OU,
    ArrayInput,
    Constant,
    HHParams,
    HHResult,
    PoissonSynapses,
    Ramp,
    Step,
    simulate_hh,
)
from .observe import (
    CalciumConfig,
    Indicator,
    LFPConfig,
    bursty_spike_times,
    get_indicator,
    noise_level,
    poisson_spike_times,
    simulate_calcium,
    simulate_lfp,
)
from .parallel import use_cpu_cores
from .ring import (
    RingParams,
    RingResult,
    SynapticCurrents,
    reliability_experiment,
    ring_params,
    ring_synaptic_currents,
    simulate_ring,
)

__all__ = [
    "OU",
    "ArrayInput",
    "CalciumConfig",
    "Constant",
    "HHParams",
    "HHResult",
    "Indicator",
    "LFPConfig",
    "PoissonSynapses",
    "Ramp",
    "RingParams",
    "RingResult",
    "Step",
    "SynapticCurrents",
    "bursty_spike_times",
    "get_indicator",
    "hh",
    "noise_level",
    "observe",
    "poisson_spike_times",
    "reliability_experiment",
    "ring",
    "ring_params",
    "ring_synaptic_currents",
    "simulate_calcium",
    "simulate_hh",
    "simulate_lfp",
    "simulate_ring",
    "use_cpu_cores",
]
