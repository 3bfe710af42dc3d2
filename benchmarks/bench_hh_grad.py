"""The cost of ``jax.grad`` through the Hodgkin–Huxley simulation: time and memory against a
forward run, with and without rematerialisation of each ~1 ms block (``simulate_hh(remat=)``).

Workload: the suite's gradient function (``benchmarks.sim.hh_loss``): B neurons with their own
OU current (the ``bench_hh.py`` input), V recorded every 1 ms, the loss the mean of V, the
gradient with respect to g_K; one device; every function compiled ahead of time
(``.lower().compile()``), then the median of ``--repeats`` runs after a warm-up. Memory is the
scratch memory XLA allocates for one run of the compiled function (``memory_analysis()``).

Rows per B: ``forward``; ``grad, remat`` (the default: the backward pass keeps the state at each
block's start and recomputes the block); ``grad, no remat`` (every step's intermediates kept,
JAX's plain derivative of the loop). The gradient values must agree.

Usage:
    python benchmarks/bench_hh_grad.py [--sizes 100,1000] [--ms 50] [--repeats 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from benchmarks import _harness as H  # noqa: E402


def measure(B: int, duration_ms: float, repeats: int) -> list[dict]:
    import jax

    from benchmarks import bench_hh
    from benchmarks.sim import hh_loss, hh_timed_row

    steps = int(round(duration_ms / bench_hh.DT))
    rows = [
        hh_timed_row(name, f, B, steps, repeats)
        for name, f in (
            ("forward", hh_loss(B, duration_ms)),
            ("grad, remat", jax.grad(hh_loss(B, duration_ms, remat=True))),
            ("grad, no remat", jax.grad(hh_loss(B, duration_ms, remat=False))),
        )
    ]
    fwd = rows[0]["median_s"]
    for r in rows:
        r["over_forward"] = r["median_s"] / fwd
        r["temp_mb"] = None if r["temp_bytes"] is None else r["temp_bytes"] / 1e6
    a, b = rows[1]["value"], rows[2]["value"]
    if not np.isclose(a, b, rtol=1e-4, atol=1e-7):
        raise AssertionError(f"B={B}: gradient with remat {a} differs from without {b}")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="100,1000", help="batch sizes B (default 100,1000)")
    ap.add_argument("--ms", type=float, default=50.0, help="simulated ms (default 50)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per row (median)")
    ap.add_argument(
        "--out", help="JSON path (default benchmarks/results/hh-grad_<device>_<date>.json)"
    )
    args = ap.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        ap.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if any(B < 1 for B in sizes) or args.repeats < 1:
        ap.error(f"need every B >= 1 and --repeats >= 1, got {sizes} and {args.repeats}")
    if not (math.isfinite(args.ms) and args.ms >= 1 and args.ms == int(args.ms)):
        ap.error(
            f"--ms must be a whole number of ms >= 1 (V is recorded every 1 ms), got {args.ms}"
        )
    rows = []
    for B in sizes:
        rows += measure(B, args.ms, args.repeats)
        print(f"  B={B}: done", flush=True)
    env = H.environment(extra=())
    print(f"\nHH gradient w.r.t. g_K of the mean V, {args.ms:g} ms, one device; {env['cpu']}")
    H.print_table(
        rows,
        [
            ("name", "function", "s"),
            ("B", "B", "d"),
            ("median_s", "run s", ".4f"),
            ("over_forward", "/ forward", ".2f"),
            ("temp_mb", "scratch MB", ".3g"),
            ("compile_s", "compile s", ".2f"),
            ("value", "value", ".6g"),
        ],
    )
    payload = {
        "benchmark": "hh-grad",
        "command": "python benchmarks/bench_hh_grad.py " + " ".join(argv or sys.argv[1:]),
        "duration_ms": args.ms,
        "rows": rows,
        "environment": env,
    }
    H.write_json("hh-grad", payload, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
