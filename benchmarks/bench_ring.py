"""Speed of the E/I ring: neurosim (JAX) against Brian2 (C++ standalone and runtime), same model.

Every configuration runs in its own subprocess (Brian2's device and JAX's CPU device count are
process-wide), all in this one run, so the numbers are comparable. Per configuration:

* neurosim: ``simulate_ring`` called as a user calls it (all trials in one batch; trial seeds,
  placement on the devices, the compiled loop, copying the counts back and binning them). Its
  first call traces and compiles: compile time is the trace + lowering + XLA compile time of the
  simulation loop that JAX reports through ``jax.monitoring`` during that call (the small helper
  computations it also compiles, e.g. the trial seeds, are in the JSON as
  ``compile_helpers_s``), "cold" the whole first call. Then the median of ``--repeats`` further
  calls. With ``--devices 2`` JAX gets 2 CPU devices and ``simulate_ring`` splits the trials
  across them (at least 8 per device). The recorded output is the spike counts per 10 ms bin
  (what the dataset needs; add ``--external`` to also count the kicks, as the dataset generator
  does).
* Brian2 C++ standalone: code generation + compilation (first build) and the simulation loop time
  Brian2 measures itself (``device._last_run_time``), median of repeats; single thread.
* Brian2 runtime (Cython): the loop time Brian2 measures (``_last_run_time``), median of repeats.
  Brian2 draws its own Poisson input (``poisson(λ·dt)`` per cell and step); several trials are
  block-diagonal copies of the ring in one network.

``--breakdown`` adds neurosim runs with parts of the step removed (no recurrent input, no random
numbers, neither) to show where the time goes.

Usage::

    python benchmarks/bench_ring.py                       # 1 and 64 trials, fig1, 3000 ms
    python benchmarks/bench_ring.py --devices 1 2 --breakdown
    python benchmarks/bench_ring.py --quick                # shorter, fewer repeats, no Brian2 64

Writes ``benchmarks/results/ring_<device>_<date>.json`` (``--out`` to change) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ABLATIONS = {"nobox": "recurrent input", "norng": "random numbers", "both": "either"}


# ------------------------------------------------------------------------------------ workers


def _worker_jax(a: argparse.Namespace) -> dict:
    import jax

    if a.devices > 1:
        jax.config.update("jax_num_cpu_devices", a.devices)
    import jax.numpy as jnp
    import numpy as np

    from neurosim.ring import model, ring_params, simulate, simulate_ring

    if a.ablate in ("nobox", "both"):
        model.box_sum = lambda s, h, axis: jnp.zeros(s.shape, jnp.int8)
    if a.ablate in ("norng", "both"):
        model.external_events = lambda state, coef, st, consts: jnp.zeros(state.x.shape, jnp.int32)

    p = ring_params(a.preset)
    key = jax.random.key(0)

    # Time simulate_ring exactly as a user calls it (trial seeds, placement on the devices,
    # the compiled loop, copying the counts back, binning). Its first call also traces and
    # compiles; JAX reports how long that took through its monitoring events.
    compile_events = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )
    compile_s = {"loop": 0.0, "other": 0.0}  # the ring's loop (_run_jit); small helper ops

    def on_event(event, secs, fun_name="", **_):
        if event in compile_events:
            compile_s["loop" if "_run_jit" in str(fun_name) else "other"] += secs

    jax.monitoring.register_event_duration_secs_listener(on_event)

    def once():
        t = time.perf_counter()
        r = simulate_ring(
            p,
            key=key,
            n_trials=a.trials,
            duration_ms=a.duration_ms,
            bin_ms=10.0,
            external=a.external,
            batch_size=a.trials,
            unroll=a.unroll,
        )
        return time.perf_counter() - t, r

    first_s, r = once()
    compiled_s = compile_s["loop"] + compile_s["other"]
    times = [once()[0] for _ in range(a.repeats)]
    counts = r.counts.astype(np.int64)
    rate = counts.sum() / (a.trials * p.n_cells * a.duration_ms * 1e-3)
    k = simulate._n_shards(a.trials, True)
    return {
        "compile_s": compile_s["loop"],
        "compile_helpers_s": compile_s["other"],
        "first_run_s": first_s - compiled_s,
        "first_call_s": first_s,
        "run_s": statistics.median(times),
        "runs_s": times,
        "mean_rate_hz": float(rate),
        "devices": [str(d) for d in jax.local_devices()],
        "devices_used": k,
        "layout": (
            "trials in vector lanes" if a.trials >= simulate._LANES_MIN else "vmap over trials"
        )
        + (f", split across {k} devices" if k > 1 else ""),
    }


def _worker_brian(a: argparse.Namespace) -> dict:
    import tempfile

    import numpy as np

    from neurosim.ring import ring_params
    from neurosim.ring.brian import run_brian2

    p = ring_params(a.preset)
    v0 = np.random.default_rng(0).uniform(0, 1, a.trials * p.n_cells)
    target = "cpp_standalone" if a.impl == "brian2-standalone" else "runtime"
    folder = tempfile.mkdtemp(prefix="bench_ring_b2_") if target == "cpp_standalone" else None
    runs = []
    for i in range(
        a.repeats + 1
    ):  # the first run compiles (standalone) / warms the cache (runtime)
        b = run_brian2(
            p,
            a.duration_ms,
            v0,
            n_copies=a.trials,
            seed=i,
            target=target,
            standalone_dir=folder,
            threads=a.threads if target == "cpp_standalone" else 0,
        )
        runs.append(b)
    rate = len(runs[-1].spike_steps) / (a.trials * p.n_cells * a.duration_ms * 1e-3)
    return {
        "compile_s": runs[0].build_s,
        "first_run_s": runs[0].run_s,
        "run_s": statistics.median([r.run_s for r in runs[1:]]),
        "runs_s": [r.run_s for r in runs[1:]],
        "build_s_later": [r.build_s for r in runs[1:]],
        "mean_rate_hz": float(rate),
    }


# ------------------------------------------------------------------------------------- driver


def _spawn(args: list[str], timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, __file__, "--worker", *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        return {
            "error": f"exit {proc.returncode}: {tail}",
            "wall_process_s": time.perf_counter() - t0,
        }
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    res = json.loads(line[len("RESULT ") :])
    res["wall_process_s"] = time.perf_counter() - t0
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--trials", type=int, nargs="+", default=[1, 64], help="batch sizes (default 1 64)"
    )
    ap.add_argument("--duration-ms", type=float, default=3000.0)
    ap.add_argument("--preset", default="fig1")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per configuration (median)")
    ap.add_argument(
        "--devices",
        type=int,
        nargs="+",
        default=[1],
        help="JAX CPU device counts to try (trials are split across devices)",
    )
    ap.add_argument(
        "--unroll", type=int, default=1, help="time steps per loop iteration (neurosim)"
    )
    ap.add_argument("--external", action="store_true", help="neurosim also counts external events")
    ap.add_argument("--no-brian", action="store_true", help="skip Brian2")
    ap.add_argument("--brian-max-trials", type=int, default=64, help="largest Brian2 batch to run")
    ap.add_argument(
        "--breakdown", action="store_true", help="neurosim with parts removed (64 trials)"
    )
    ap.add_argument("--quick", action="store_true", help="1 repeat, Brian2 only for 1 trial")
    ap.add_argument(
        "--out", default=None, help="JSON path (default benchmarks/results/ring_<host>.json)"
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)  # Brian2 OpenMP
    ap.add_argument("--impl", default="neurosim", help=argparse.SUPPRESS)
    ap.add_argument("--ablate", default="none", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker:
        a.trials = a.trials[0]
        a.devices = a.devices[0]
        res = _worker_jax(a) if a.impl == "neurosim" else _worker_brian(a)
        print("RESULT " + json.dumps(res))
        return 0

    if a.quick:
        a.repeats, a.brian_max_trials = 1, 1
    common = [
        "--duration-ms",
        str(a.duration_ms),
        "--preset",
        a.preset,
        "--repeats",
        str(a.repeats),
    ]
    configs = []
    for n in a.trials:
        for d in a.devices:
            if d > 1 and -(-n // d) < 8:  # simulate_ring would not split: same as 1 device
                continue
            extra = ["--unroll", str(a.unroll)] + (["--external"] if a.external else [])
            configs.append(
                (
                    f"neurosim (JAX), {d} CPU device{'s' if d > 1 else ''}",
                    "neurosim",
                    n,
                    ["--impl", "neurosim", "--devices", str(d), *extra],
                )
            )
        if not a.no_brian and n <= a.brian_max_trials:
            configs.append(
                ("Brian2 C++ standalone", "brian2-standalone", n, ["--impl", "brian2-standalone"])
            )
            configs.append(
                ("Brian2 runtime (Cython)", "brian2-runtime", n, ["--impl", "brian2-runtime"])
            )
    if a.breakdown:
        nb = max(a.trials)
        for ab in ("nobox", "norng", "both"):
            configs.append(
                (
                    f"neurosim without {ABLATIONS[ab]}",
                    "neurosim-ablation",
                    nb,
                    ["--impl", "neurosim", "--devices", "1", "--ablate", ab],
                )
            )

    load0 = os.getloadavg()
    results = []
    for label, impl, n, args in configs:
        print(f"running {label}, {n} trial(s) ...", file=sys.stderr, flush=True)
        res = _spawn(["--trials", str(n), *common, *args], timeout=3600)
        res.update(label=label, impl=impl, trials=n, args=args)
        if "run_s" in res:
            res["sim_s_per_wall_s"] = n * a.duration_ms * 1e-3 / res["run_s"]
            res["cold_s"] = res.get("first_call_s", res["compile_s"] + res["first_run_s"])
            steps = a.duration_ms / 0.05
            res["us_per_step"] = res["run_s"] / steps * 1e6
        results.append(res)

    # table
    ref = {
        r["trials"]: r["run_s"]
        for r in results
        if r["impl"] == "brian2-standalone" and "run_s" in r
    }
    for r in results:
        if "run_s" in r and r["trials"] in ref:
            r["speedup_vs_brian2_standalone"] = ref[r["trials"]] / r["run_s"]
        if "error" in r:
            print(
                f"{r['label']}, {r['trials']} trials failed: {r['error'][-500:]}", file=sys.stderr
            )
    load1 = os.getloadavg()
    sys.path.insert(0, str(ROOT))
    from benchmarks._harness import print_table, write_json

    table = print_table(
        [r for r in results if "run_s" in r],
        [
            ("label", "implementation", ""),
            ("trials", "trials", "d"),
            ("compile_s", "compile/build s", ".2f"),
            ("run_s", "run s (median)", ".3f"),
            ("cold_s", "compile + first run s", ".2f"),
            ("sim_s_per_wall_s", "simulated s / wall s", ".2f"),
            ("us_per_step", "µs / step", ".2f"),
            ("speedup_vs_brian2_standalone", "× Brian2 C++", ".2f"),
        ],
    )
    print(
        f"load average (1 min) before/after: {load0[0]:.2f} / {load1[0]:.2f} on {os.cpu_count()} cores "
        "(other processes share the cores: compare rows of one run only)"
    )
    payload = {
        "benchmark": "ring",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "parameters": {
            "preset": a.preset,
            "duration_ms": a.duration_ms,
            "dt_ms": 0.05,
            "bin_ms": 10.0,
            "repeats": a.repeats,
            "unroll": a.unroll,
            "external": a.external,
        },
        "load_average_before_after": [load0, load1],
        "table": table,
        "results": results,
    }
    write_json("ring", payload, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
