"""Scaling with the device count: HH, ring and one training step on 1, 2, 4 … devices.

Each device count runs in its own subprocess (JAX fixes its CPU device count when it starts:
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` on CPU; on GPUs the first N of the
visible devices), all in this one run so the numbers are comparable. Per device count:

* HH: ``simulate_hh`` of ``--hh-neurons`` point neurons under OU input, the batch split across
  the N devices (``neurosim.parallel``); throughput in neuron·steps per second.
* ring: ``simulate_ring`` of ``--ring-trials`` trials of the 600-cell fig1 ring in one batch,
  trials split across the devices; throughput in trial·steps per second.
* training: one epoch of the hh-voltage CNN on a toy dataset, data-parallel over the N devices
  (``TrainConfig.devices=N``, batch ``--batch-size``); throughput in examples per second.

Each device count runs ``--rounds`` times, the counts alternating (so that a change of load hits
all of them); a row shows the best round (the median of ``--repeats`` calls after a first,
compiling one) and the worst round's throughput, and the speed-up against 1 device. On CPU, "devices" are XLA host devices, one thread each: they share the
machine's cores, so more devices than free cores cannot help (the JSON records the core count and
load average). Results are identical for every device count (tests/test_sharding.py); this script
measures only time.

Usage::

    python benchmarks/bench_scaling.py                 # 1, 2, 4 devices
    python benchmarks/bench_scaling.py --devices 1 2 --quick

Writes ``benchmarks/results/scaling_<device>_<date>.json`` (``--out`` to change) and prints a
table. ``run(...)`` returns the result dict and ``main(argv)`` is the command line, for a
benchmark runner.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SUITE = "scaling"
QUICK = {"hh_neurons": 512, "hh_ms": 50.0, "ring_trials": 32, "ring_ms": 200.0, "repeats": 1}
FULL = {"hh_neurons": 4096, "hh_ms": 100.0, "ring_trials": 64, "ring_ms": 1000.0, "repeats": 3}


# ------------------------------------------------------------------------------------ worker


def _worker(a: argparse.Namespace) -> dict[str, Any]:
    """Runs inside the subprocess that has ``a.devices`` devices."""
    import jax
    import numpy as np

    from benchmarks._harness import time_call
    from neurosim import parallel

    n_dev = len(jax.local_devices())
    if n_dev < a.devices:
        raise SystemExit(f"asked for {a.devices} devices, JAX has {n_dev}")
    parallel.set_devices(a.devices)
    out: dict[str, Any] = {"devices": a.devices, "backend": jax.default_backend()}

    if "hh" in a.workloads:
        from neurosim.hh import OU, simulate_hh

        inp = OU(mean=6.0, sd=3.0, tau_ms=5.0)
        dt = 0.025
        steps = int(round(a.hh_ms / dt))

        def hh():
            r = simulate_hh(inp, a.hh_ms, dt=dt, n=a.hh_neurons, key=jax.random.key(0))
            return r.spike_counts

        t = time_call(hh, repeats=a.repeats)
        out["hh"] = {**t, "throughput": a.hh_neurons * steps / t["median_s"],
                     "unit": "neuron·steps/s", "neurons": a.hh_neurons, "steps": steps}  # fmt: skip

    if "ring" in a.workloads:
        from neurosim.ring import ring_params, simulate_ring

        p = ring_params("fig1")
        steps = int(round(a.ring_ms / float(p.dt_ms)))

        def ring():
            return simulate_ring(p, key=jax.random.key(0), n_trials=a.ring_trials,
                                 duration_ms=a.ring_ms, batch_size=a.ring_trials).counts  # fmt: skip

        t = time_call(ring, repeats=a.repeats, block=lambda x: np.asarray(x))
        out["ring"] = {**t, "throughput": a.ring_trials * steps / t["median_s"],
                       "unit": "trial·steps/s", "trials": a.ring_trials, "steps": steps}  # fmt: skip

    if "train" in a.workloads:
        from neurolearn.config import make_config
        from neurolearn.data.batching import Batcher
        from neurolearn.engine import Engine
        from neurolearn.tasks import get as get_task
        from neurolearn.testing import write_toy_hh_voltage

        task = get_task("hh-voltage")
        with tempfile.TemporaryDirectory() as tmp:
            data = write_toy_hh_voltage(Path(tmp) / "toy.h5", n_train=a.train_examples,
                                        n_test=2, length=200, test_length=400, seed=0)  # fmt: skip
            cfg = make_config(task.Config, {"batch_size": a.batch_size, "devices": a.devices,
                                            "n_val": 64, "steps_per_call": 64},
                              base=task.preset(None))  # fmt: skip
            key = jax.random.key(cfg.seed)
            prepared = task.prepare(task.load(data, cfg), cfg, key=jax.random.fold_in(key, 1))
        n = len(prepared.sources["train"])
        batcher = Batcher(np.arange(n), cfg.batch_size, key=jax.random.fold_in(key, 2))
        engine = Engine(task, cfg, prepared, steps_per_epoch=batcher.steps_per_epoch, key=key)
        compile_s = engine.compile_train(batcher, engine._budget())
        epoch = iter(range(10_000))

        def train():
            e = next(epoch)
            return engine.run_epoch(batcher, e, e * batcher.steps_per_epoch)

        t = time_call(train, repeats=a.repeats, block=lambda x: x)
        examples = batcher.steps_per_epoch * cfg.batch_size
        out["train"] = {**t, "compile_train_s": compile_s,
                        "throughput": examples / t["median_s"], "unit": "examples/s",
                        "steps": batcher.steps_per_epoch, "batch_size": cfg.batch_size,
                        "params": engine.n_params}  # fmt: skip
    return out


# ------------------------------------------------------------------------------------ driver


def _spawn(n: int, a: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    flags = " ".join(
        f
        for f in env.get("XLA_FLAGS", "").split()
        if "xla_force_host_platform_device_count" not in f
    )
    env["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--devices", str(n),
           "--workloads", *a.workloads, "--repeats", str(a.repeats),
           "--hh-neurons", str(a.hh_neurons), "--hh-ms", str(a.hh_ms),
           "--ring-trials", str(a.ring_trials), "--ring-ms", str(a.ring_ms),
           "--batch-size", str(a.batch_size), "--train-examples", str(a.train_examples)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{n}-device worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run(
    devices: tuple[int, ...] = (1, 2, 4),
    *,
    quick: bool = False,
    rounds: int = 2,
    workloads: tuple[str, ...] = ("hh", "ring", "train"),
    **sizes: Any,
) -> dict[str, Any]:
    """Measure every workload at every device count, ``rounds`` times (alternating the counts);
    returns the JSON-able result dict (``parameters``, ``rows``: one per workload and device
    count with the best round's throughput and the worst round's, ``raw``: every round,
    ``environment``)."""
    from benchmarks._harness import environment

    params = {"batch_size": 64, "train_examples": 2048, **(QUICK if quick else FULL), **sizes}
    a = argparse.Namespace(workloads=list(workloads), **params)
    # rounds alternate the device counts (rotating the order), so that a change of the machine's
    # load hits every count; each row keeps the best round (least disturbed) and the spread
    per_device: dict[int, list[dict[str, Any]]] = {n: [] for n in devices}
    for r in range(rounds):
        order = list(devices[r % len(devices) :]) + list(devices[: r % len(devices)])
        for n in order:
            per_device[n].append(_spawn(n, a))
    rows = []
    for w in workloads:
        best = {n: max(per_device[n], key=lambda x: x[w]["throughput"])[w] for n in devices}
        base = best[1]["throughput"] if 1 in best else None
        for n in devices:
            b = best[n]
            spread = [x[w]["throughput"] for x in per_device[n]]
            rows.append({"workload": w, "devices": n, "unit": b["unit"],
                         "throughput": b["throughput"], "first_s": b["first_s"],
                         "median_s": b["median_s"], "worst": min(spread),
                         "speedup": b["throughput"] / base if base else None})  # fmt: skip
    return {
        "suite": SUITE,
        "parameters": {"devices": list(devices), "quick": quick, "rounds": rounds, **vars(a)},
        "rows": rows,
        "raw": {str(n): v for n, v in per_device.items()},
        "environment": environment(),
        "note": "CPU devices are XLA host devices sharing the machine's cores; "
        "see load_avg_1min and cpu_count",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--workloads", nargs="+", default=["hh", "ring", "train"],
                    choices=["hh", "ring", "train"])  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="small sizes, 1 repeat")
    ap.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="times each device count runs, alternating (best kept)",
    )
    ap.add_argument("--repeats", type=int, help="timed runs per row (median)")
    ap.add_argument("--hh-neurons", type=int)
    ap.add_argument("--hh-ms", type=float)
    ap.add_argument("--ring-trials", type=int)
    ap.add_argument("--ring-ms", type=float)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--train-examples", type=int, default=2048)
    ap.add_argument(
        "--out", help="JSON path (default benchmarks/results/scaling_<device>_<date>.json)"
    )
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        (a.devices,) = a.devices
        print(json.dumps(_worker(a)))
        return 0
    sizes = {k: getattr(a, k) for k in ("repeats", "hh_neurons", "hh_ms", "ring_trials", "ring_ms")
             if getattr(a, k) is not None}  # fmt: skip
    sizes.update(batch_size=a.batch_size, train_examples=a.train_examples)
    from benchmarks._harness import print_table, write_json

    result = run(
        tuple(a.devices), quick=a.quick, rounds=a.rounds, workloads=tuple(a.workloads), **sizes
    )
    print_table(
        result["rows"],
        [("workload", "workload", ""), ("devices", "devices", ""), ("throughput", "throughput (best)", ".3g"),
         ("worst", "worst round", ".3g"), ("unit", "unit", ""), ("speedup", "× 1 device", ".2f"), ("median_s", "median s", ".3f"),
         ("first_s", "first call s", ".2f")],
    )  # fmt: skip
    env = result["environment"]
    print(f"{env['cpu']} ({env['cpu_count']} cores), load average {env['load_avg_1min']:.1f}")
    write_json(SUITE, result, a.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
