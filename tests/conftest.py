"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # tests run on the CPU whatever the machine has

import jax  # noqa: E402
import pytest  # noqa: E402

# Start JAX now, with one CPU device: the CLI's use_cpu_cores() (called by main()) then leaves
# it alone, so no test depends on the order the tests run in. Multi-device runs are tested in
# subprocesses.
jax.devices()

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
