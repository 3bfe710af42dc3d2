"""neurosim: jit-compiled, vmap-batched, differentiable neuron and network simulators in JAX.

The public API is re-exported here; see ``docs/`` for the user guide.
"""

__version__ = "0.1.0"

from . import hh as hh
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
from .parallel import use_cpu_cores as use_cpu_cores
