"""Datasets neurosim writes: one module per dataset, each registering itself."""

from . import hh_voltage as hh_voltage  # noqa: F401  (registers "hh-voltage")
from .registry import DatasetSpec, all_datasets, get, register

__all__ = ["DatasetSpec", "all_datasets", "get", "register"]
