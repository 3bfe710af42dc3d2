"""neurosim: jit-compiled, vmap-batched, differentiable neuron and network simulators in JAX.

The public API is re-exported here; see ``docs/`` for the user guide.
"""

__version__ = "0.1.0"
