"""Hodgkin–Huxley throughput: neurosim beside a naive JAX scan and Brian2 (C++ standalone).

Workload (the same for every simulator): B neurons start at rest; each gets its own
Ornstein–Uhlenbeck current (τ = 5 ms, mean 1.0, stationary sd 1.5 µA/cm², about 15 Hz firing)
updated exactly every step with fresh noise; 1 s at dt = 0.025 ms (40,000 steps); spikes are
counted on the fly, nothing else is recorded. Reported: neuron-steps per second of the run (median
of repeats, compilation excluded) and the compile time separately.

Rows:
- ``neurosim``: ``simulate_hh`` with its defaults (exponential Euler, float32), the batch split
  across all CPU cores (``neurosim.use_cpu_cores``).
- ``neurosim 1 core``: the same on one device (``shard=False``).
- ``neurosim, constant input``: no random numbers at all (shows their cost).
- ``naive lax.scan``: the textbook equations (six exponentials, expm1) in one ``lax.scan`` over a
  (B,) state, noise from ``jax.random.normal`` each step: what a user would write first.
- ``brian2 cpp_standalone``: Brian2, exponential Euler, OU updated by ``run_regularly`` with
  ``randn()``, ``SpikeMonitor(record=False)``; run time from Brian2's own timer of the network
  run, compile time of the C++ project separately (``--brian2-threads`` OpenMP threads).

Usage:
    python benchmarks/bench_hh.py [--sizes 1,1000,10000] [--repeats 3] [--no-brian2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import neurosim  # noqa: E402
from neurosim.hh import brian as hh_brian  # noqa: E402

neurosim.use_cpu_cores()  # before JAX starts

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from benchmarks._harness import environment, print_table, time_call, write_json  # noqa: E402

DT, T_MS = 0.025, 1000.0
TAU, MU, SD = 5.0, 1.0, 1.5
STEPS = int(round(T_MS / DT))


def run_neurosim(B, *, shard=True, noise=True, duration_ms=T_MS):
    inp = neurosim.OU(mean=MU, sd=SD, tau_ms=TAU) if noise else neurosim.Constant(MU)
    key = jax.random.key(0)

    def fn():
        return neurosim.simulate_hh(
            inp, duration_ms, dt=DT, n=B, key=key, max_spikes=0, shard=shard
        ).spike_counts

    return fn


def run_naive(B):
    a = float(np.exp(-DT / TAU))
    kick = float(SD * np.sqrt(1 - a * a))

    def rates(V):
        am = 0.1 * (V + 40) / -jnp.expm1(-(V + 40) / 10)
        bm = 4 * jnp.exp(-(V + 65) / 18)
        ah = 0.07 * jnp.exp(-(V + 65) / 20)
        bh = 1 / (1 + jnp.exp(-(V + 35) / 10))
        an = 0.01 * (V + 55) / -jnp.expm1(-(V + 55) / 10)
        bn = 0.125 * jnp.exp(-(V + 65) / 80)
        return am, bm, ah, bh, an, bn

    @jax.jit
    def sim(key):
        V = jnp.full((B,), -65.0)
        am, bm, ah, bh, an, bn = rates(V)
        state = (
            V,
            am / (am + bm),
            ah / (ah + bh),
            an / (an + bn),
            jnp.full((B,), MU),
            jnp.zeros(B, jnp.int32),
        )

        def step(c, k):
            V, m, h, n, I, cnt = c
            am, bm, ah, bh, an, bn = rates(V)
            m = am / (am + bm) + (m - am / (am + bm)) * jnp.exp(-DT * (am + bm))
            h = ah / (ah + bh) + (h - ah / (ah + bh)) * jnp.exp(-DT * (ah + bh))
            n = an / (an + bn) + (n - an / (an + bn)) * jnp.exp(-DT * (an + bn))
            gna, gk = 120 * m**3 * h, 36 * n**4
            gt = gna + gk + 0.3
            vinf = (gna * 50 - gk * 77 - 0.3 * 54.387 + I) / gt
            Vn = vinf + (V - vinf) * jnp.exp(-DT * gt)
            cnt = cnt + ((V < 0) & (Vn >= 0))
            I = MU + (I - MU) * a + kick * jax.random.normal(jax.random.fold_in(key, k), (B,))
            return (Vn, m, h, n, I, cnt), None

        state, _ = lax.scan(step, state, jnp.arange(STEPS))
        return state[-1]

    key = jax.random.key(0)
    return lambda: sim(key)


def run_brian2(B, *, threads=1, repeats=3, duration_ms=T_MS):
    """Brian2 C++ standalone on the same workload: (run seconds median, compile s, mean rate Hz)."""
    import brian2 as b2
    from brian2 import NeuronGroup, SpikeMonitor, defaultclock, ms, mV, uA
    from brian2 import cm as b2cm

    eqs = hh_brian.equations()
    a = float(np.exp(-DT / TAU))
    runs, compile_s, rate = [], None, None
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(repeats):
            b2.set_device("cpp_standalone", directory=tmp, build_on_run=False)
            b2.prefs.devices.cpp_standalone.openmp_threads = threads if threads > 1 else 0
            b2.device.reinit()
            b2.device.activate(directory=tmp, build_on_run=False)
            b2.start_scope()
            defaultclock.dt = DT * ms
            ns = {
                **hh_brian.namespace(),
                "mu": MU * uA / b2cm**2,
                "a": a,
                "kick": SD * np.sqrt(1 - a * a) * uA / b2cm**2,
            }
            G = NeuronGroup(
                B,
                eqs,
                threshold="v > 0*mV",
                refractory="v > 0*mV",
                method="exponential_euler",
                namespace=ns,
            )
            G.v = -65 * mV
            G.m, G.h, G.n = 0.05293248525724958, 0.5961207535084603, 0.3176769140606974
            G.I = MU * uA / b2cm**2
            G.run_regularly("I = mu + (I - mu)*a + kick*randn()", dt=DT * ms)
            mon = SpikeMonitor(G, record=False)
            b2.run(duration_ms * ms, namespace=ns)
            t0 = time.perf_counter()
            b2.device.build(
                directory=tmp, compile=True, run=True, with_output=False, clean=(r == 0)
            )
            total = time.perf_counter() - t0
            run_s = float(b2.device._last_run_time)
            if r == 0:
                compile_s = total - b2.device.timers.get("run_binary", total)
                rate = float(np.mean(np.asarray(mon.count))) / (duration_ms / 1000)
            runs.append(run_s)
            b2.device.reinit()
            b2.set_device("runtime")
    return statistics.median(runs), compile_s, rate


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1,1000,10000", help="batch sizes B (default 1,1000,10000)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (median)")
    ap.add_argument("--no-brian2", action="store_true", help="skip Brian2 even if installed")
    ap.add_argument("--no-naive", action="store_true", help="skip the naive scan rows")
    ap.add_argument("--brian2-threads", type=int, default=1, help="OpenMP threads for Brian2")
    ap.add_argument("--out", help="JSON path (default benchmarks/results/hh_<device>_<date>.json)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]

    try:
        import brian2  # noqa: F401

        have_brian2 = not args.no_brian2
    except ImportError:
        have_brian2 = False
        print("brian2 not installed (pip install -e '.[peers]'): Brian2 rows skipped")

    rows = []
    for B in sizes:
        variants = [
            ("neurosim", lambda B=B: run_neurosim(B)),
            ("neurosim 1 core", lambda B=B: run_neurosim(B, shard=False)),
            ("neurosim, constant input", lambda B=B: run_neurosim(B, noise=False)),
        ]
        if not args.no_naive:
            variants.append(("naive lax.scan", lambda B=B: run_naive(B)))
        for name, make in variants:
            fn = make()
            t = time_call(fn, repeats=args.repeats)
            counts = np.asarray(fn())
            rows.append(
                {
                    "simulator": name,
                    "B": B,
                    "run_s": t["median_s"],
                    "compile_s": t["compile_s"],
                    "neuron_steps_per_s": B * STEPS / t["median_s"],
                    "rate_hz": float(counts.mean()) / (T_MS / 1000),
                    "runs_s": t["runs_s"],
                }
            )
            print(
                f"  {name:26s} B={B:6d}: {rows[-1]['neuron_steps_per_s']:.3g} neuron-steps/s",
                flush=True,
            )
        if have_brian2:
            run_s, comp, rate = run_brian2(B, threads=args.brian2_threads, repeats=args.repeats)
            rows.append(
                {
                    "simulator": f"brian2 cpp_standalone ({args.brian2_threads} thread)",
                    "B": B,
                    "run_s": run_s,
                    "compile_s": comp,
                    "neuron_steps_per_s": B * STEPS / run_s,
                    "rate_hz": rate,
                }
            )
            print(
                f"  {'brian2':26s} B={B:6d}: {rows[-1]['neuron_steps_per_s']:.3g} neuron-steps/s",
                flush=True,
            )
        ours = next(r for r in rows if r["simulator"] == "neurosim" and r["B"] == B)
        for r in rows:
            if r["B"] == B:
                r["neurosim_speedup"] = ours["neuron_steps_per_s"] / r["neuron_steps_per_s"]

    env = environment()
    print(
        f"\nHH, 1 s at dt = {DT} ms with OU input; {env['cpu']} ({env['cpu_count']} cores), "
        f"{env['device_count']} JAX device(s), jax {env['versions']['jax']}, load {env['load_avg_1min']:.1f}"
    )
    print_table(
        rows,
        [
            ("simulator", "simulator", ""),
            ("B", "B", "d"),
            ("neuron_steps_per_s", "neuron-steps/s", ".3g"),
            ("run_s", "run (s)", ".3f"),
            ("compile_s", "compile (s)", ".2f"),
            ("rate_hz", "rate (Hz)", ".1f"),
            ("neurosim_speedup", "neurosim ×", ".2f"),
        ],
    )
    write_json(
        "hh",
        {
            "suite": "hh",
            "workload": {
                "dt_ms": DT,
                "duration_ms": T_MS,
                "ou_tau_ms": TAU,
                "ou_mean": MU,
                "ou_sd": SD,
                "units": "area (uA/cm2)",
                "method": "expeuler",
                "dtype": "float32",
            },
            "rows": rows,
            "environment": env,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
