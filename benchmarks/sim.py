"""The ``sim`` suite: HH throughput (forward and ``jax.grad``), the ring, and the datasets end to end.

Reuses the workloads of ``bench_hh.py`` (B neurons with their own OU current, dt = 0.025 ms, spike
counts only) and ``bench_ring.py`` (one subprocess per configuration: Brian2's device and JAX's CPU
device count are process-wide), and generates each dataset through the ``neurosim`` command line.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _harness as H

ROOT = Path(__file__).resolve().parents[1]

# (name, full sizes, quick sizes); each entry: (neurosim generate arguments, work, unit)
DATASETS: dict[str, dict[str, tuple[tuple[str, ...], float, str]]] = {
    "hh-voltage": {
        "full": (("--n-train", "10000", "--n-test", "10"), 10010, "traces"),
        "quick": (("--n-train", "200", "--n-test", "2"), 202, "traces"),
    },
    "ring-counts": {
        "full": (("--trials", "100", "--duration-ms", "3000", "--bin-ms", "10"), 100, "trials"),
        "quick": (("--trials", "8", "--duration-ms", "1000", "--bin-ms", "10"), 8, "trials"),
    },
    "calcium": {
        "full": (("--cells", "100", "--duration-s", "300", "--noise-level", "2"), 100, "cells"),
        "quick": (("--cells", "10", "--duration-s", "60", "--noise-level", "2"), 10, "cells"),
    },
    "lfp": {
        "full": (
            (
                "--duration-s",
                "300",
            ),
            300,
            "simulated s",
        ),
        "quick": (
            (
                "--duration-s",
                "20",
            ),
            20,
            "simulated s",
        ),
    },
}


def sizes(quick: bool, backend: str) -> dict[str, Any]:
    """The sizes of each part of the suite (CPU: HH to B = 10^4; GPU: to 10^6)."""
    gpu = backend != "cpu"
    if quick:
        return {
            "hh_batches": [1, 100, 1000, 10_000] + ([100_000] if gpu else []),
            "hh_ms": 100.0,
            "grad_batches": [1, 100, 1000],
            "grad_ms": 50.0,
            "ring_trials": [1, 8] + ([1024] if gpu else []),
            "ring_ms": 1000.0,
            "repeats": 2,
            "dataset": "quick",
        }
    return {
        "hh_batches": [1, 10, 100, 1000, 10_000] + ([100_000, 1_000_000] if gpu else []),
        "hh_ms": 1000.0,
        "grad_batches": [1, 100, 1000, 10_000],
        "grad_ms": 100.0,
        "ring_trials": [1, 8, 64] + ([256, 1024] if gpu else [256]),
        "ring_ms": 3000.0,
        "repeats": 3,
        "dataset": "full",
    }


# ------------------------------------------------------------------------------------ HH
def hh_forward(batches, duration_ms: float, repeats: int) -> list[dict]:
    """``simulate_hh`` as a user calls it (the batch split across the CPU devices)."""
    from benchmarks import bench_hh

    steps = int(round(duration_ms / bench_hh.DT))
    rows = []
    for B in batches:
        fn = bench_hh.run_neurosim(B, duration_ms=duration_ms)
        t = H.measure(fn, repeats=repeats)
        rate = float(np.asarray(fn()).mean()) / (duration_ms / 1000)
        rows.append(
            H.throughput_row(
                "neurosim simulate_hh", B * steps, "neuron-steps/s", t, B=B, rate_hz=rate
            )
        )
        print(f"  HH B={B:>7}: {rows[-1]['throughput']:.3g} neuron-steps/s", flush=True)
    return rows


def hh_loss(B: int, duration_ms: float, remat: bool = True):
    """Mean membrane potential of B neurons (OU input, V every 1 ms) as a function of g_K: the
    function whose value and gradient are timed (one device, jit-compiled ahead of time;
    ``remat``: ``simulate_hh``'s option of that name)."""
    import jax
    import jax.numpy as jnp

    import neurosim
    from benchmarks import bench_hh

    inp = neurosim.OU(mean=bench_hh.MU, sd=bench_hh.SD, tau_ms=bench_hh.TAU)
    key = jax.random.key(0)

    def loss(g_k):
        res = neurosim.simulate_hh(
            inp,
            duration_ms,
            dt=bench_hh.DT,
            n=B,
            key=key,
            params=neurosim.HHParams(g_k=g_k),
            record_every=40,
            max_spikes=0,
            shard=False,
            remat=remat,
        )
        return jnp.mean(res.V)

    return loss


def hh_timed_row(name: str, f, B: int, steps: int, repeats: int) -> dict:
    """``f(g_K)`` compiled ahead of time, then timed: a throughput row with its value and XLA's
    scratch memory (``temp_bytes``)."""
    import jax.numpy as jnp

    g = jnp.float32(36.0)
    compiled, compile_s = H.aot(f, g)
    t = H.measure(lambda: compiled(g), repeats=repeats)
    t["compile_s"] = compile_s  # ahead of time; the warm-up compiled nothing
    value = float(compiled(g))
    if not np.isfinite(value):
        raise FloatingPointError(f"{name} at B={B} gave {value}")
    return H.throughput_row(
        name, B * steps, "neuron-steps/s", t, B=B, value=value, temp_bytes=H.temp_bytes(compiled)
    )


def hh_gradient(batches, duration_ms: float, repeats: int) -> list[dict]:
    """Forward vs ``jax.grad`` (w.r.t. g_K) through the same simulation, both compiled AOT."""
    import jax

    from benchmarks import bench_hh

    steps = int(round(duration_ms / bench_hh.DT))
    rows = []
    for B in batches:
        loss = hh_loss(B, duration_ms)
        out = {
            what: hh_timed_row(f"HH {what}", f, B, steps, repeats)
            for what, f in (("forward", loss), ("grad", jax.grad(loss)))
        }
        ratio = out["grad"]["median_s"] / out["forward"]["median_s"]
        for r in out.values():
            r["grad_cost_ratio"] = ratio
        rows += [out["forward"], out["grad"]]
        print(f"  HH grad B={B:>6}: gradient costs {ratio:.2f}× a forward run", flush=True)
    return rows


# ------------------------------------------------------------------------------------ ring
def ring(
    trials,
    duration_ms: float,
    repeats: int,
    *,
    devices: int,
    peers: bool,
    threads: int,
    quick: bool = False,
):
    """The ring through ``bench_ring``'s workers (each configuration in its own process).

    Brian2: C++ standalone with 1 thread and with ``threads`` OpenMP threads, and (not with
    ``quick``) the runtime target. ``quick``: OpenMP threads only at the largest batch, one timed
    run (each Brian2 configuration compiles its C++ project, ~20 s here)."""
    from benchmarks import bench_ring

    common = ["--duration-ms", str(duration_ms), "--preset", "fig1", "--repeats", str(repeats)]
    configs = []
    for n in trials:
        d = devices if -(-n // devices) >= 8 else 1  # simulate_ring splits only from 8 a device
        configs.append((f"neurosim, {d} CPU device(s)", "neurosim", n, ["--devices", str(d)]))
        if peers and n <= 64:
            configs.append(("Brian2 C++ standalone, 1 thread", "brian2-standalone", n, []))
            if not quick:
                configs.append(("Brian2 runtime (Cython)", "brian2-runtime", n, []))
            if threads > 1 and (not quick or n == max(t for t in trials if t <= 64)):
                configs.append(
                    (
                        f"Brian2 C++ standalone, {threads} OpenMP threads",
                        "brian2-standalone",
                        n,
                        ["--threads", str(threads)],
                    )
                )
    rows = []
    for label, impl, n, extra in configs:
        print(f"  ring: {label}, {n} trial(s) ...", flush=True)
        args = ["--trials", str(n), *common, "--impl", impl, *extra]
        if quick and impl != "neurosim":
            args += ["--repeats", "1"]  # Brian2: one timed run after the compiling one
        res = bench_ring._spawn(args, timeout=3600)
        if "error" in res:
            rows.append({"name": label, "impl": impl, "trials": n, "error": res["error"][-800:]})
            continue
        runs = res["runs_s"]
        t = {**H.stats(runs), "compile_s": res["compile_s"], "first_s": res.get("first_call_s")}
        rows.append(
            H.throughput_row(
                label,
                n * duration_ms / 1000,
                "simulated s / wall s",
                t,
                impl=impl,
                trials=n,
                mean_rate_hz=res.get("mean_rate_hz"),
                us_per_step=t["median_s"] / (duration_ms / 0.05) * 1e6,
                process_wall_s=res.get("wall_process_s"),
            )
        )
    ours = {r["trials"]: r for r in rows if r.get("impl") == "neurosim" and "median_s" in r}
    for r in rows:
        if r.get("impl", "").startswith("brian2") and "median_s" in r and r["trials"] in ours:
            r["ratio_peer_over_ours"] = r["median_s"] / ours[r["trials"]]["median_s"]
    return rows


def hh_brian2(batches, duration_ms: float, repeats: int, threads: int) -> list[dict]:
    """Brian2 C++ standalone on ``bench_hh``'s workload, 1 thread and ``threads`` threads."""
    from benchmarks import bench_hh

    steps = int(round(duration_ms / bench_hh.DT))
    rows = []
    for B in batches:
        for th in sorted({1, threads}):
            print(f"  HH Brian2 B={B}, {th} thread(s) ...", flush=True)
            run_s, comp, rate = bench_hh.run_brian2(
                B, threads=th, repeats=repeats, duration_ms=duration_ms
            )
            t = {**H.stats([run_s]), "compile_s": comp, "note": "median of Brian2's own timer"}
            rows.append(
                H.throughput_row(
                    f"Brian2 C++ standalone, {th} thread(s)",
                    B * steps,
                    "neuron-steps/s",
                    t,
                    B=B,
                    threads=th,
                    rate_hz=rate,
                )
            )
    return rows


# ------------------------------------------------------------------------------------ datasets
def generate(name: str, args: tuple[str, ...], out: Path, seed: int = 0) -> tuple[float, str]:
    """Run ``neurosim generate NAME ARGS --out OUT`` in a fresh process; (wall s, command)."""
    argv = ["generate", name, *args, "--out", str(out), "--seed", str(seed), "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "neurosim", *argv], capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(
            f"neurosim {shlex.join(argv)} failed (exit {proc.returncode}): "
            f"{(proc.stderr or proc.stdout)[-600:]}"
        )
    shown = [*argv[:-5], "--out", out.name, "--seed", str(seed)]  # the folder is temporary
    return wall, "neurosim " + shlex.join(shown)


def datasets(size: str, folder: Path) -> tuple[list[dict], dict[str, Path]]:
    """Each dataset generated end to end (start-up and compilation included); one run each."""
    rows, files = [], {}
    for name, spec in DATASETS.items():
        args, work, unit = spec[size]
        path = folder / f"{name}.h5"
        wall, cmd = generate(name, args, path)
        files[name] = path
        t = H.stats([wall])
        rows.append(
            H.throughput_row(
                name, work, f"{unit} / s", t, command=cmd, bytes=path.stat().st_size, runs=1
            )
        )
        print(f"  {cmd}: {wall:.1f} s", flush=True)
    return rows, files


def run(*, quick: bool, peers: bool, workdir: Path, skipped: list) -> dict[str, Any]:
    import jax

    sz = sizes(quick, jax.default_backend())
    devices = jax.local_device_count() if jax.default_backend() == "cpu" else 1
    out: dict[str, Any] = {"sizes": sz}
    print("sim: HH forward", flush=True)
    out["hh"] = hh_forward(sz["hh_batches"], sz["hh_ms"], sz["repeats"])
    print("sim: HH gradient", flush=True)
    out["hh_grad"] = hh_gradient(sz["grad_batches"], sz["grad_ms"], sz["repeats"])
    have_brian2 = False
    if peers:
        try:
            import brian2  # noqa: F401

            have_brian2 = True
        except ImportError:
            skipped.append(
                {"what": "Brian2 (HH, ring)", "reason": "brian2 not installed (.[peers])"}
            )
    if have_brian2:
        big = [B for B in sz["hh_batches"] if 100 <= B <= 10_000]
        brian_b = [1000] if quick else big
        out["hh_peers"] = hh_brian2(brian_b, sz["hh_ms"], 1 if quick else 3, devices)
        ours = {r["B"]: r for r in out["hh"]}
        for r in out["hh_peers"]:
            if r["B"] in ours:
                r["ratio_peer_over_ours"] = ours[r["B"]]["throughput"] / r["throughput"]
    print("sim: ring", flush=True)
    out["ring"] = ring(
        sz["ring_trials"],
        sz["ring_ms"],
        sz["repeats"],
        devices=devices,
        peers=have_brian2,
        threads=devices,
        quick=quick,
    )
    print("sim: datasets through the CLI", flush=True)
    out["datasets"], files = datasets(sz["dataset"], workdir)
    out["_files"] = {k: str(v) for k, v in files.items()}
    return out
