"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import jax
import pytest

# Tests run on the CPU with deterministic defaults, whatever the machine has.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# Spikefinder training sets 4, 5, 6 and the STM reference, gzip-compressed copies of
# shared/data/spikefinder (public training data only; the challenge's test sets are never stored here).
SPIKEFINDER = Path(__file__).resolve().parent / "data" / "spikefinder"


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def spikefinder_dir() -> Path:
    """The real Spikefinder training sets (files ``N.train.{calcium,spikes}.csv.gz``)."""
    return SPIKEFINDER
