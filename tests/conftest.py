"""Shared test fixtures."""

from __future__ import annotations

import os
import re
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")  # tests run on the CPU whatever the machine has

import jax  # noqa: E402
import pytest  # noqa: E402

# Implicit rank promotion ((n, T) * (T,)) hides shape mistakes: every broadcast in the package
# is written out ([None, :]), and the whole suite runs with it refused.
jax.config.update("jax_numpy_rank_promotion", "raise")

# Start JAX now, with one CPU device: the CLI's use_cpu_cores() (called by main()) then leaves
# it alone, so no test depends on the order the tests run in. Multi-device runs are tested in
# subprocesses.
jax.devices()

# Spikefinder training sets 4, 5, 6 and the STM reference, gzip-compressed copies of
# shared/data/spikefinder (public training data only; the challenge's test sets are never stored here).
SPIKEFINDER = Path(__file__).resolve().parent / "data" / "spikefinder"


# Test modules of neurolearn (Flax/optax code, left at JAX's default dtype promotion); every other
# module tests neurosim and runs under strict dtype promotion.
_NEUROLEARN_TESTS = re.compile(
    r"test_(learn_\w+|\w+_task|calcium_detect|calcium_rate|latents|benchmarks_suite|data_parallel)"
)


@pytest.fixture(autouse=True)
def _strict_dtype_promotion_for_neurosim(request):
    """``jax.numpy_dtype_promotion("strict")`` around every neurosim test: no implicit
    int→float or float32→float64 promotion, so a dtype mix-up is an error, not a silent upcast."""
    name = request.module.__name__.rpartition(".")[2]
    if _NEUROLEARN_TESTS.fullmatch(name) or request.node.get_closest_marker("standard_dtypes"):
        yield
        return
    with jax.numpy_dtype_promotion("strict"):
        yield


@pytest.fixture
def key():
    return jax.random.key(0)


@pytest.fixture
def spikefinder_dir() -> Path:
    """The real Spikefinder training sets (files ``N.train.{calcium,spikes}.csv.gz``)."""
    return SPIKEFINDER
