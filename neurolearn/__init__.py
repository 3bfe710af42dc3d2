"""neurolearn: Flax NNX models trained with optax on neurosim datasets and real recordings."""

__version__ = "0.1.0"
