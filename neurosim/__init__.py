"""neurosim: jit-compiled, vmap-batched, differentiable neuron and network simulators in JAX.

The public API is re-exported here; see ``docs/`` for the user guide.
"""

__version__ = "0.1.0"

from . import ring as ring
from .ring import RingParams as RingParams
from .ring import RingResult as RingResult
from .ring import SynapticCurrents as SynapticCurrents
from .ring import reliability_experiment as reliability_experiment
from .ring import ring_params as ring_params
from .ring import ring_synaptic_currents as ring_synaptic_currents
from .ring import simulate_ring as simulate_ring
