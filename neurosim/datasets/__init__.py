"""Datasets neurosim writes: one module per dataset, each registering itself on import.

To add a dataset: write ``neurosim/datasets/NAME.py`` that calls
``register(DatasetSpec(...))`` and import it below (one line).
"""

from .registry import DatasetSpec, all_datasets, get, register

__all__ = ["DatasetSpec", "all_datasets", "get", "register"]

# Dataset modules (each registers itself):

from . import calcium as calcium  # noqa: E402,F401
from . import hh_voltage as hh_voltage  # noqa: E402,F401
from . import lfp as lfp  # noqa: E402,F401
from . import ring_counts as ring_counts  # noqa: E402,F401
