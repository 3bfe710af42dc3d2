"""LSTM training step: JAX's derivative of ``nnx.RNN`` against the hand-written backward pass.

For each task whose ``seed`` model is an ``LSTMConfig`` (ring-counts: LSTM(128) on 10 bins of
1,200 features; calcium-detect: LSTM(64) on 20 frames of 3 features), the task's ``seed`` config
runs in the engine's compiled training chunk (``benchmarks.train.bench_config``: ``--steps``
steps per call, median of ``--repeats`` calls after a warm-up) with ``model.impl="rnn"`` and
``model.impl="vjp"`` (:func:`neurolearn.models.lstm.lstm_layer`), and Keras 3 (JAX backend)
fits the same model on the same examples and batch size (``benchmarks.train.keras_peer``).

The datasets are made first with ``neurosim generate`` (the quick suite's sizes) in ``--data``.

Usage:
    python benchmarks/bench_lstm_impl.py [--tasks ring-counts calcium-detect] [--steps 32]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KERAS_BACKEND", "jax")

from benchmarks import train as T  # noqa: E402
from benchmarks._harness import environment, print_table, write_json  # noqa: E402

DATA = {
    "ring-counts": ["ring-counts", "--trials", "8", "--duration-ms", "1000", "--bin-ms", "10"],
    "calcium-detect": ["calcium", "--cells", "10", "--duration-s", "60", "--noise-level", "2"],
}


def with_impl(task, impl: str):
    """``task`` whose presets also set ``model.impl``."""
    orig = type(task).preset

    def preset(name):
        return {**orig(task, name), "model.impl": impl}

    task.preset = preset
    return task


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(DATA), choices=list(DATA))
    ap.add_argument("--steps", type=int, default=32, help="training steps per compiled call")
    ap.add_argument("--repeats", type=int, default=5, help="timed calls per variant")
    ap.add_argument("--keras-epochs", type=int, default=4, help="timed Keras epochs (0: none)")
    ap.add_argument("--data", default=None, help="folder for the datasets (default: a temp dir)")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = ap.parse_args(argv)
    from neurolearn.tasks import get

    data = Path(args.data or tempfile.mkdtemp(prefix="lstm_impl_"))
    data.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.tasks:
        path = data / f"{DATA[name][0]}.h5"
        if not path.exists():
            cmd = [sys.executable, "-m", "neurosim", "generate", *DATA[name]]
            subprocess.run(cmd + ["--out", str(path), "--seed", "0", "--no-progress"], check=True)
        base = None
        for impl in ("rnn", "vjp"):
            task = with_impl(get(name), impl)
            row, ctx = T.bench_config(
                task, "seed", path, steps=args.steps, repeats=args.repeats, eval_n=512
            )
            row.update(impl=impl, what=f"neurolearn {name} seed, impl={impl}")
            base = base or row
            row["speed_vs_rnn"] = base["median_s"] / row["median_s"]
            rows.append(row)
        if args.keras_epochs:
            k = T.keras_peer(row, ctx, epochs=1 + args.keras_epochs)
            k.update(task=name, impl="keras", what=f"Keras 3 (JAX) {name} seed")
            k["speed_vs_rnn"] = base["median_s"] / k["median_s"]
            k["keras_over_rnn"] = k["median_s"] / base["median_s"]
            k["keras_over_vjp"] = k["ratio_peer_over_ours"]
            rows.append(k)
    print_table(
        rows,
        [
            ("what", "run", ""),
            ("n_params", "params", ","),
            ("batch_size", "batch", ""),
            ("ms_per_step", "ms / step", ".2f"),
            ("speed_vs_rnn", "speed vs impl=rnn", ".2f"),
            ("keras_over_rnn", "Keras / rnn", ".2f"),
            ("keras_over_vjp", "Keras / vjp", ".2f"),
        ],
    )
    write_json(
        "lstm_impl",
        {
            "workload": {
                "tasks": args.tasks,
                "datasets": {t: DATA[t] + ["--seed", "0"] for t in args.tasks},
                "steps_per_call": args.steps,
                "repeats": args.repeats,
                "keras_epochs": args.keras_epochs,
            },
            "rows": rows,
            "environment": environment(("keras",)),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
