"""neurosim: jit-compiled, vmap-batched, differentiable neuron and network simulators in JAX.

The public API is re-exported here; see ``docs/`` for the user guide.
"""

__version__ = "0.1.0"

from . import hh as hh
from . import observe as observe
from . import ring as ring
from .hh import (
    OU as OU,
)
from .hh import (
    ArrayInput as ArrayInput,
)
from .hh import (
    Constant as Constant,
)
from .hh import (
    HHParams as HHParams,
)
from .hh import (
    HHResult as HHResult,
)
from .hh import (
    PoissonSynapses as PoissonSynapses,
)
from .hh import (
    Ramp as Ramp,
)
from .hh import (
    Step as Step,
)
from .hh import (
    simulate_hh as simulate_hh,
)
from .observe import CalciumConfig as CalciumConfig
from .observe import Indicator as Indicator
from .observe import LFPConfig as LFPConfig
from .observe import bursty_spike_times as bursty_spike_times
from .observe import get_indicator as get_indicator
from .observe import noise_level as noise_level
from .observe import poisson_spike_times as poisson_spike_times
from .observe import simulate_calcium as simulate_calcium
from .observe import simulate_lfp as simulate_lfp
from .parallel import use_cpu_cores as use_cpu_cores
from .ring import RingParams as RingParams
from .ring import RingResult as RingResult
from .ring import SynapticCurrents as SynapticCurrents
from .ring import reliability_experiment as reliability_experiment
from .ring import ring_params as ring_params
from .ring import ring_synaptic_currents as ring_synaptic_currents
from .ring import simulate_ring as simulate_ring
