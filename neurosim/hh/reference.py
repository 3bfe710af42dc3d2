"""Reference solutions of the HH equations with scipy's DOP853 (rtol = atol = 1e-10, float64).

Used by the tests and by ``benchmarks/hh_accuracy.py`` to measure the error of neurosim's
integrators. The right-hand side is transcribed here from the textbook formulas with NumPy,
independently of neurosim's kinetics code (no shared exponentials, no series branch); the input is
piecewise constant and the adaptive solver is restarted at each change, so it never steps across a
discontinuity. Spike times are located by the solver's event detection (0 mV, upward).
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp


def _rates(V):
    am = 0.1 * (V + 40.0) / (1.0 - np.exp(-(V + 40.0) / 10.0))
    bm = 4.0 * np.exp(-(V + 65.0) / 18.0)
    ah = 0.07 * np.exp(-(V + 65.0) / 20.0)
    bh = 1.0 / (1.0 + np.exp(-(V + 35.0) / 10.0))
    an = 0.01 * (V + 55.0) / (1.0 - np.exp(-(V + 55.0) / 10.0))
    bn = 0.125 * np.exp(-(V + 65.0) / 80.0)
    return am, bm, ah, bh, an, bn


def rhs(t, y, I, p):
    V, m, h, n = y
    am, bm, ah, bh, an, bn = _rates(V)
    i_ion = (
        p["g_na"] * m**3 * h * (V - p["e_na"])
        + p["g_k"] * n**4 * (V - p["e_k"])
        + p["g_l"] * (V - p["e_l"])
    )
    return [
        (I - i_ion) / p["C"],
        am * (1 - m) - bm * m,
        ah * (1 - h) - bh * h,
        an * (1 - n) - bn * n,
    ]


AREA = dict(C=1.0, g_na=120.0, g_k=36.0, g_l=0.3, e_na=50.0, e_k=-77.0, e_l=-54.387)


def rest_state(V0=-65.0):
    am, bm, ah, bh, an, bn = _rates(np.float64(V0))
    return np.array([V0, am / (am + bm), ah / (ah + bh), an / (an + bn)])


def solve(current, current_dt, sample_dt, p=AREA, y0=None, rtol=1e-10, atol=1e-10):
    """V sampled every ``sample_dt`` ms and the spike times (upward 0 mV crossings, ms).

    Args:
        current: input values, each held for ``current_dt`` ms.
        current_dt: ms per input value; a multiple of ``sample_dt``.
        sample_dt: output sampling interval (ms).

    Returns:
        (V at t = sample_dt, 2·sample_dt, …, len(current)·current_dt; spike times).
    """
    y = rest_state() if y0 is None else np.asarray(y0, float)
    per = int(round(current_dt / sample_dt))
    out = []
    spikes = []

    def crossing(t, y, I, p):
        return y[0]

    crossing.direction = 1.0
    for k, I in enumerate(np.asarray(current, float)):
        t0 = k * current_dt
        t_eval = t0 + sample_dt * np.arange(1, per + 1)
        sol = solve_ivp(
            rhs,
            (t0, t0 + current_dt),
            y,
            method="DOP853",
            t_eval=t_eval,
            rtol=rtol,
            atol=atol,
            args=(I, p),
            events=crossing,
        )
        out.append(sol.y[0])
        spikes.extend(sol.t_events[0].tolist())
        y = sol.y[:, -1]
    return np.concatenate(out), np.asarray(spikes)
