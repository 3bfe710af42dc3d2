"""Bad input to the HH simulator: a clear error naming the value and what was expected."""

import jax
import numpy as np
import pytest

from neurosim import OU, ArrayInput, HHParams, PoissonSynapses, Step, simulate_hh


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(dt=0.0), "dt must be positive, got dt=0.0"),
        (dict(dt=-0.01), "dt must be positive, got dt=-0.01"),
        (dict(dt=float("nan")), "dt must be a finite number"),
        (dict(dt=0.2), r"dt=0.2 ms is too large for integrator 'expeuler'.*0.1 ms"),
        (dict(dt=0.06, method="rk4"), r"dt=0.06 ms is too large for integrator 'rk4'.*0.05 ms"),
        (
            dict(method="euler"),
            r"unknown integrator 'euler'; expected one of expeuler, expeuler-brian2, rk4",
        ),
        (dict(record_every=7), r"not a multiple of record_every=7"),
        (dict(record_every=0), "record_every must be a positive number of steps, got 0"),
        (dict(record=("V", "Ca")), r"cannot record \['Ca'\]"),
        (dict(dtype="float16"), "dtype must be float32 or float64"),
        (dict(on_nonfinite="ignore"), "on_nonfinite must be 'raise' or 'flag'"),
        (dict(params=HHParams(C=0.0)), "capacitance C must be positive, got 0.0"),
        (dict(params=HHParams(g_k=-1.0)), "conductance g_k must be >= 0, got -1.0"),
        (dict(params=HHParams(g_k=[30.0, 40.0]), n=3), "inconsistent batch sizes"),
        (dict(v0=float("nan")), "v0 must be finite"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_hh(Step(1.0), 10.0, **kwargs)


def test_bad_duration():
    with pytest.raises(
        ValueError, match="duration_ms=10.01 is not a positive multiple of dt=0.025"
    ):
        simulate_hh(1.0, 10.01)
    with pytest.raises(ValueError, match="duration_ms must be a positive number"):
        simulate_hh(1.0, -5.0)


def test_bad_array_input():
    x = np.zeros((2, 10))
    x[1, 4] = np.nan
    with pytest.raises(ValueError, match=r"non-finite value\(s\), first at index \(1, 4\)"):
        ArrayInput(x, 1.0)
    with pytest.raises(ValueError, match=r"shape \(K,\) or \(B, K\).*\(2, 3, 4\)"):
        ArrayInput(np.zeros((2, 3, 4)), 1.0)
    with pytest.raises(ValueError, match="dt_ms must be a positive number, got -1"):
        ArrayInput(np.zeros(3), -1)
    with pytest.raises(ValueError, match=r"dt_ms=0.03 ms is not a multiple of dt=0.025"):
        simulate_hh(ArrayInput(np.zeros(3), 0.03), 0.075)
    with pytest.raises(ValueError, match=r"inconsistent batch sizes: \{'inputs': 2, 'n': 3\}"):
        simulate_hh(ArrayInput(np.zeros((2, 3)), 1.0), 3.0, n=3)
    with pytest.raises(ValueError, match="input must be an Input"):
        simulate_hh("ten", 3.0)


def test_ambiguous_or_absurd_inputs():
    with pytest.raises(ValueError, match=r"array of shape \(10,\): pass ArrayInput"):
        simulate_hh(np.ones(10), 10.0)
    for n in (-3, 0, 2.5):
        with pytest.raises(ValueError, match=f"must be an integer >= 1, got {n}"):
            simulate_hh(1.0, 10.0, n=n)
    with pytest.raises(ValueError, match=r"rate_e_hz=1e\+09 Hz gives 25000 events per step"):
        simulate_hh(PoissonSynapses(rate_e_hz=1e9), 1.0, key=jax.random.key(0))
    # NumPy scalars are numbers too
    res = simulate_hh(1.0, np.float32(10.0), dt=np.float32(0.025), n=np.int64(2))
    assert res.spike_counts.shape == (2,)


def test_random_input_needs_a_key_and_valid_parameters():
    with pytest.raises(ValueError, match=r"OU input is random: pass key=jax.random.key\(seed\)"):
        simulate_hh(OU(), 10.0)
    with pytest.raises(ValueError, match="OU.sd must be >= 0.0, got -1"):
        simulate_hh(OU(sd=-1.0), 10.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="OU.tau_ms must be > 0.0, got 0"):
        simulate_hh(OU(tau_ms=0.0), 10.0, key=jax.random.key(0))


def test_nonfinite_simulation_raises_with_the_exact_step():
    kw = dict(dt=0.05, method="rk4", n=3)
    with pytest.raises(
        FloatingPointError, match=r"neuron 0 \(of 3; 3 affected\).*after step (\d+)"
    ) as e:
        simulate_hh(Step(1e4, 5.0), 20.0, **kw)
    step = int(str(e.value).split("after step ")[1].split()[0])
    flagged = simulate_hh(Step(1e4, 5.0), 20.0, record_every=1, on_nonfinite="flag", **kw)
    V = np.asarray(flagged.V[0])
    assert np.all(np.isfinite(V[:step])) and not np.isfinite(V[step])
    assert int(flagged.nonfinite_step[0]) == step


def test_nonfinite_step_of_a_shared_trace_as_long_as_the_batch():
    # a shared (K,) trace with K == B must not be sliced per neuron when locating the step
    from neurosim.hh import ArrayInput

    inp = ArrayInput([0.0, 0.0, 1e4], dt_ms=5.0)  # 1e4 from 10 ms on: rk4 blows up after that
    kw = dict(dt=0.05, method="rk4", n=3)
    with pytest.raises(FloatingPointError, match=r"neuron 0 \(of 3; 3 affected\)") as e:
        simulate_hh(inp, 20.0, **kw)
    step = int(str(e.value).split("after step ")[1].split()[0])
    flagged = simulate_hh(inp, 20.0, record_every=1, on_nonfinite="flag", **kw)
    V = np.asarray(flagged.V[0])
    assert step > 200  # after the current switched on at 10 ms
    assert np.all(np.isfinite(V[:step])) and not np.isfinite(V[step])
