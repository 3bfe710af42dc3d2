"""Error versus cost of the HH integrators (the table in docs/hh.md).

Error: against scipy's DOP853 (rtol = atol = 1e-10, float64) on piecewise-constant input with 1 ms
steps: max |ΔV| on a 1 s subthreshold trace (sampled every 1 ms) and the largest spike-time error
on a 0.5 s spiking trace (~27 spikes), float64. Cost: neuron-steps per second of the benchmark
workload (B = 1000, OU input updated every step, float32, one CPU core), and the cost of simulating
1 s of one neuron, i.e. 1/dt steps.

Usage:
    python benchmarks/hh_accuracy.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import neurosim  # noqa: E402
from benchmarks._harness import environment, print_table, time_call, write_json  # noqa: E402
from neurosim.hh import reference as ref  # noqa: E402

SAMPLE = 0.005


def _ou(n, theta, mu, sigma, seed):
    rng = np.random.default_rng(seed)
    a = np.exp(-theta)
    c = sigma * np.sqrt((1 - a * a) / (2 * theta))
    x, v = np.empty(n), 0.0
    for k in range(n):
        x[k] = v
        v = mu + (v - mu) * a + c * rng.standard_normal()
    return x


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--out", help="JSON path (default benchmarks/results/hh-accuracy_<device>_<date>.json)"
    )
    args = ap.parse_args(argv)
    i_sub, i_spk = _ou(1000, 0.01, 0.0, 0.25, 0), _ou(500, 0.2, 8.0, 3.0, 1)
    print("reference solutions (DOP853)…", flush=True)
    v_ref, _ = ref.solve(i_sub, 1.0, SAMPLE)
    _, s_ref = ref.solve(i_spk, 1.0, SAMPLE)
    per_ms = int(round(1 / SAMPLE))
    X = np.stack([i_sub, np.concatenate([i_spk, np.zeros(500)])])
    rows = []
    for method in ("expeuler", "expeuler-brian2", "rk4"):
        for dt in (0.01, 0.025, 0.05):
            res = neurosim.simulate_hh(
                neurosim.ArrayInput(X, 1.0),
                1000.0,
                dt=dt,
                method=method,
                record_every=int(round(1 / dt)),
                dtype="float64",
            )
            dv = float(np.max(np.abs(np.asarray(res.V[0]) - v_ref[per_ms - 1 :: per_ms])))
            spikes = res.spike_trains()[1]
            spikes = spikes[spikes < 500]
            ds = float(np.max(np.abs(spikes - s_ref))) if len(spikes) == len(s_ref) else None
            inp = neurosim.OU(mean=1.0, sd=1.5, tau_ms=5.0)

            def fn(dt=dt, method=method, inp=inp):
                return neurosim.simulate_hh(
                    inp,
                    200.0,
                    dt=dt,
                    method=method,
                    n=1000,
                    key=jax.random.key(0),
                    max_spikes=0,
                    shard=False,
                ).spike_counts

            t = time_call(fn, repeats=args.repeats)
            nsps = 1000 * 200.0 / dt / t["median_s"]
            rows.append(
                {
                    "method": method,
                    "dt_ms": dt,
                    "max_dV_mV": dv,
                    "max_dspike_ms": ds,
                    "spike_count": len(spikes),
                    "spike_count_ref": len(s_ref),
                    "neuron_steps_per_s": nsps,
                    "us_per_neuron_second": 1e6 / dt * 1000 / nsps,
                }
            )
            print(
                f"  {method} dt={dt}: dV {dv:.2g} mV, spikes {ds}, {nsps:.3g} n-steps/s", flush=True
            )
    print_table(
        rows,
        [
            ("method", "integrator", ""),
            ("dt_ms", "dt (ms)", "g"),
            ("max_dV_mV", "max |ΔV| subthr. (mV)", ".2g"),
            ("max_dspike_ms", "max spike-time error (ms)", ".2g"),
            ("spike_count", "spikes", "d"),
            ("spike_count_ref", "DOP853 spikes", "d"),
            ("neuron_steps_per_s", "neuron-steps/s (1 core)", ".3g"),
            ("us_per_neuron_second", "µs per neuron-second", ".0f"),
        ],
    )
    write_json(
        "hh-accuracy",
        {"suite": "hh-accuracy", "rows": rows, "environment": environment()},
        args.out,
    )


if __name__ == "__main__":
    main()
