"""The examples in docs/ run and do what the docs say."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.standard_dtypes  # optax.lbfgs adds int32 and int64 step counters under x64
def test_gradient_descent_recovers_the_potassium_conductance():
    fc = _load("fit_conductance")
    current, v = fc.make_recording(g_k=36.0, duration_ms=100.0)
    history = fc.fit_g_k(current, v, g_start=28.0, steps=6)
    assert history[0] == 28.0
    assert history[-1] == pytest.approx(36.0, abs=0.05)
