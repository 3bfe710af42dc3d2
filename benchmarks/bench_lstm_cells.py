"""BiLSTM training step: ``nnx.OptimizedLSTMCell`` vs ``nnx.LSTMCell``, and the fused implementation.

Workload: the LFP notebook's model (``BiLSTMConfig()``: Bidirectional LSTM 64 → 32, dropout 0.2,
Dense(1), 75,073 parameters) on random windows of 100 steps × 1 feature, batch 64, binary
cross-entropy on the logit, Adam (lr 1e-3). One training step is one compiled pure function
``(state, x, y, key) -> (state, loss)`` over ``nnx.split((model, optimizer))`` (merge, gradients,
update, split), compiled once; the state is threaded from step to step. Reported: the first call
(compile + run) and the median wall time per step of ``--steps`` further steps.

Rows: ``impl="bidirectional"`` (``nnx.Bidirectional`` of two ``nnx.RNN``) with each cell, and
``impl="fused"`` (one input projection per direction, one ``lax.scan`` for both directions).

Usage:
    python benchmarks/bench_lstm_cells.py [--steps 20] [--batch 64] [--window 100]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from benchmarks._harness import environment, print_table, time_call, write_json  # noqa: E402
from neurolearn.models import BiLSTM, BiLSTMConfig  # noqa: E402

VARIANTS = (
    ("optimized", "bidirectional"),
    ("plain", "bidirectional"),
    ("optimized", "fused"),
)


def make_step(cell: str, impl: str, x, y):
    """A compiled training step of the default BiLSTM and its initial state."""
    model = BiLSTM(
        BiLSTMConfig(cell=cell, impl=impl), in_features=1, out_features=1, rngs=nnx.Rngs(0)
    )
    n_params = int(sum(np.size(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))))
    optimizer = nnx.Optimizer(model, optax.adam(1e-3), wrt=nnx.Param)
    graphdef, state = nnx.split((model, optimizer))

    @jax.jit
    def step(state, x, y, key):
        model, optimizer = nnx.merge(graphdef, state)

        def loss_fn(model):
            logits = model(x, train=True, rngs=nnx.Rngs(dropout=key))
            return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y))

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return nnx.state((model, optimizer)), loss

    return step, state, n_params


def run(cell: str, impl: str, x, y, steps: int) -> dict:
    step, state, n_params = make_step(cell, impl, x, y)
    key = jax.random.key(1)
    box = {"state": state, "i": 0}

    def one():
        box["state"], loss = step(box["state"], x, y, jax.random.fold_in(key, box["i"]))
        box["i"] += 1
        return loss

    t = time_call(one, repeats=steps)
    return {
        "cell": cell,
        "impl": impl,
        "n_params": n_params,
        "first_s": t["first_s"],
        "compile_s": t["compile_s"],
        "ms_per_step": 1e3 * t["median_s"],
        "runs_ms": [1e3 * r for r in t["runs_s"]],
        "final_loss": float(one()),
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20, help="timed training steps per variant")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--window", type=int, default=100, help="steps per input window")
    ap.add_argument("--out", default=None, help="JSON path (default benchmarks/results/...)")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(args.batch, args.window, 1)).astype(np.float32))
    y = jnp.asarray((rng.random((args.batch, 1)) < 0.5).astype(np.float32))
    rows = [run(cell, impl, x, y, args.steps) for cell, impl in VARIANTS]
    base = rows[0]["ms_per_step"]
    for r in rows:
        r["speed_vs_optimized"] = base / r["ms_per_step"]
    print_table(
        rows,
        [
            ("cell", "cell", ""),
            ("impl", "impl", ""),
            ("n_params", "params", ","),
            ("ms_per_step", "ms/step (median)", ".1f"),
            ("speed_vs_optimized", "speed vs optimized", ".2f"),
            ("compile_s", "compile s", ".1f"),
        ],
    )
    write_json(
        "lstm_cells",
        {
            "workload": {
                "model": "BiLSTMConfig() (LFP notebook), in 1, out 1",
                "batch": args.batch,
                "window": args.window,
                "optimizer": "adam 1e-3",
                "loss": "sigmoid binary cross-entropy",
                "timed_steps": args.steps,
                "dropout": "active (train=True)",
            },
            "rows": rows,
            "environment": environment(),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
