"""Calcium imaging generation speed: 1,000 cells × 10 minutes at 100 Hz (the issue's target).

Rows (same workload: 1,000 cells, 600 s, 100 Hz = 60,000 frames, GCaMP6s preset, ν = 2):
- ``spikes (bursty)``: :func:`bursty_spike_times` with slowly modulated rates (mean 5 Hz).
- ``forward model``: :func:`simulate_calcium` on those spikes (exact transients, Hill indicator,
  drift, shot-like noise calibrated to ν, ν measured), in chunks of ``--chunk`` cells.
- ``dataset to HDF5``: ``generate_calcium`` end to end (spikes + forward model + writing the
  file), as ``neurosim generate calcium`` runs it.
- ``naive numpy/scipy``: what one writes first: spike counts per frame convolved with the sampled
  kernel (``scipy.signal.fftconvolve``), the indicator map, and white noise of a fixed σ (no
  sub-frame spike times, no drift, no noise calibration): a lower bound for the same output size.

Reported: the first call (with compilation) and the median of ``--repeats`` further calls.
The machine is shared: numbers are noisy; rerun on a quiet machine for the README.

Usage:
    python benchmarks/bench_calcium.py [--cells 1000] [--minutes 10] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks._harness import environment, print_table, time_call, write_json  # noqa: E402
from neurosim.datasets.calcium import CalciumDatasetConfig, generate_calcium  # noqa: E402
from neurosim.observe import (  # noqa: E402
    CalciumConfig,
    SpikeTrains,
    bin_spikes,
    bursty_spike_times,
    double_exponential,
    fluorescence,
    get_indicator,
    random_rates,
    simulate_calcium,
)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--frame-rate", type=float, default=100.0)
    ap.add_argument("--chunk", type=int, default=250)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = ap.parse_args(argv)
    n, dur, f = args.cells, args.minutes * 60.0, args.frame_rate
    frames = int(dur * f)
    ind = get_indicator("gcamp6s")
    cfg = CalciumConfig(
        frame_rate_hz=f,
        noise_level=2.0,
        drift_sd=0.02,
        amplitude_cv_cell=0.2,
        amplitude_cv_spike=0.1,
        tau_cv_cell=0.1,
    )
    key = jax.random.key(0)

    def spikes():
        rates, _ = random_rates(n, dur, key=key, mean_rate_hz=5.0, modulation=0.7)
        return bursty_spike_times(rates, dur, key=key)

    noop = lambda x: x  # noqa: E731 (numpy results are ready)
    rows = []
    r = time_call(spikes, repeats=args.repeats, block=noop)  # first call compiles
    r["name"] = "spikes (bursty)"
    rows.append(r)
    st = spikes()
    n_spikes = int(st.counts().sum())

    def forward():
        outs = []
        for i in range(0, n, args.chunk):
            part = SpikeTrains(st.times_s[i : i + args.chunk], st.duration_s)
            rec = simulate_calcium(part, ind, cfg, key=jax.random.fold_in(key, i))
            outs.append(rec.noise_level)
        return np.concatenate(outs)

    def dataset():
        with tempfile.TemporaryDirectory() as d:
            dcfg = CalciumDatasetConfig(cells=n, duration_s=dur, frame_rate_hz=f, chunk=args.chunk)
            generate_calcium(Path(d) / "c.h5", dcfg, progress=False)
        return 0

    def naive():
        from scipy.signal import fftconvolve

        counts = bin_spikes(st.times_s, frames, f).astype(np.float32)
        k = double_exponential(
            np.arange(int(8 * ind.tau_decay_s * f)) / f, ind.tau_rise_s, ind.tau_decay_s
        ).astype(np.float32)
        ca = fftconvolve(counts, k[None, :], axes=1)[:, :frames]
        dff = np.asarray(fluorescence(ca, ind))
        rng = np.random.default_rng(0)
        return dff + 0.02 * rng.standard_normal(dff.shape, dtype=np.float32)

    for name, fn in (
        ("forward model", forward),
        ("dataset to HDF5", dataset),
        ("naive numpy/scipy", naive),
    ):
        r = time_call(fn, repeats=args.repeats, block=noop)
        r["name"] = name
        rows.append(r)
        print(f"{name}: first {r['first_s']:.2f} s, median {r['median_s']:.2f} s", flush=True)
    for r in rows:
        r["cell_minutes_per_s"] = n * args.minutes / r["median_s"]
    nu = forward()
    print()
    table = print_table(
        rows,
        [
            ("name", "what", ""),
            ("first_s", "first call (s)", ".2f"),
            ("median_s", "median (s)", ".2f"),
            ("cell_minutes_per_s", "cell-minutes / s", ".0f"),
        ],
    )
    print(
        f"\n{n} cells × {args.minutes:g} min at {f:g} Hz = {n * frames:.3g} samples, "
        f"{n_spikes} spikes; achieved ν median {np.median(nu):.3f} (requested 2)"
    )
    write_json(
        "calcium",
        {
            "suite": "calcium",
            "parameters": {
                "cells": n,
                "minutes": args.minutes,
                "frame_rate_hz": f,
                "chunk": args.chunk,
                "repeats": args.repeats,
                "indicator": "gcamp6s",
                "noise_level": 2.0,
                "spikes": n_spikes,
            },
            "rows": rows,
            "table": table,
            "environment": environment(),
        },
        args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
