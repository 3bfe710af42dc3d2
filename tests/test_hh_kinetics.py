"""HH rate functions: agreement with the textbook formulas, no NaN at the removable singularities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurosim.hh.kinetics import rates, rates_reference, steady_state


# The textbook formulas in NumPy float64 with expm1 (accurate except exactly at the singularity).
def _np_rates(V):
    V = np.asarray(V, np.float64)
    return dict(
        am=0.1 * (V + 40) / -np.expm1(-(V + 40) / 10),
        bm=4 * np.exp(-(V + 65) / 18),
        ah=0.07 * np.exp(-(V + 65) / 20),
        bh=1 / (1 + np.exp(-(V + 35) / 10)),
        an=0.01 * (V + 55) / -np.expm1(-(V + 55) / 10),
        bn=0.125 * np.exp(-(V + 65) / 80),
    )


@pytest.mark.parametrize("dtype,rtol", [(jnp.float32, 2e-6), (jnp.float64, 1e-13)])
def test_rates_match_textbook_formulas(dtype, rtol):
    V = np.linspace(-120, 60, 20001)
    V = V[(np.abs(V + 40) > 1e-9) & (np.abs(V + 55) > 1e-9)]
    with jax.enable_x64(dtype == jnp.float64):
        got = rates(jnp.asarray(V, dtype))
        ref = _np_rates(np.asarray(jnp.asarray(V, dtype), np.float64))
        for name, value in got._asdict().items():
            np.testing.assert_allclose(
                np.asarray(value, np.float64), ref[name], rtol=rtol, err_msg=name
            )


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_singular_points_are_finite_and_exact(dtype):
    with jax.enable_x64(dtype == jnp.float64):
        r = rates(jnp.asarray([-40.0, -55.0], dtype))
        assert np.all(np.isfinite(np.asarray(r.am))) and np.all(np.isfinite(np.asarray(r.an)))
        np.testing.assert_allclose(float(r.am[0]), 1.0, rtol=1e-7)  # limit 0.1 * 10
        np.testing.assert_allclose(float(r.an[1]), 0.1, rtol=1e-7)  # limit 0.01 * 10
        # the literal formula is 0/0 there: the reason for the series branch
        ref = rates_reference(jnp.asarray([-40.0, -55.0], dtype))
        assert np.isnan(float(ref.am[0])) and np.isnan(float(ref.an[1]))


def test_rates_are_smooth_across_the_series_branch():
    """Values and slopes agree on both sides of |z| = 0.1 (V = −40 ± 1 mV) in float64."""
    with jax.enable_x64(True):
        for center, name in ((-40.0, "am"), (-55.0, "an")):
            V = center + np.concatenate(
                [
                    np.linspace(-1.5, -0.5, 50),
                    np.linspace(0.5, 1.5, 50),
                    np.array([-1.0 - 1e-12, -1.0 + 1e-12, 1.0 - 1e-12, 1.0 + 1e-12, 1e-7, -1e-7]),
                ]
            )
            got = np.asarray(getattr(rates(jnp.asarray(V)), name))
            np.testing.assert_allclose(got, _np_rates(V)[name], rtol=1e-12)


def test_gradient_is_finite_at_singular_points():
    g = jax.grad(lambda v: rates(v).am + rates(v).an)
    for v in (-40.0, -55.0):
        d = float(g(jnp.float32(v)))
        assert np.isfinite(d)
    # slope of am at -40: d/dV [z/(1-e^-z)] = 1/2 per unit z = 0.05 per mV (an: 0.005)
    np.testing.assert_allclose(
        float(jax.grad(lambda v: rates(v).am)(jnp.float32(-40.0))), 0.05, rtol=1e-5
    )


def test_steady_state_at_rest():
    m, h, n = (float(x) for x in steady_state(jnp.float32(-65.0)))
    r = _np_rates(-65.0)
    np.testing.assert_allclose(m, r["am"] / (r["am"] + r["bm"]), rtol=1e-6)
    np.testing.assert_allclose(h, r["ah"] / (r["ah"] + r["bh"]), rtol=1e-6)
    np.testing.assert_allclose(n, r["an"] / (r["an"] + r["bn"]), rtol=1e-6)
    assert 0.05 < m < 0.06 and 0.59 < h < 0.61 and 0.31 < n < 0.33
