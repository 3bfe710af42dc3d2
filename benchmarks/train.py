"""The ``train`` suite: each task's ``seed`` and ``best`` configs in the engine's own compiled step.

Per task and preset: the data file is read and prepared as ``neurolearn train`` does (split,
normalisation, device-resident sources); an :class:`~neurolearn.engine.Engine` compiles its
training chunk ahead of time (``Engine.compile_train``: ``.lower().compile()``) for ``steps``
optimiser steps in one call, runs one warm-up chunk, then ``repeats`` timed chunks
(``Engine.run_epoch`` over a batcher of exactly ``steps`` batches). Seconds per epoch =
the task's steps per epoch on that file × the median seconds per step. Inference: the compiled
evaluation step over up to ``eval_n`` validation examples (``Engine.predict_source``).

``--peers``: Keras 3 on the JAX backend runs the seed notebook's model on the same examples
(the same inputs the engine's model sees, e.g. the calcium task's [x, Δx, x²] features), the same
batch size, loss and optimiser (the seed's: Adam, or Adagrad for calcium-rate), ``model.fit`` as the notebooks call it; seconds per
epoch from a callback, the first epoch (compilation) apart.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _harness as H

DATA = {  # task -> dataset file made by the sim suite's `neurosim generate` step
    "hh-voltage": "hh-voltage",
    "lfp-spike": "lfp",
    "ring-counts": "ring-counts",
    "calcium-detect": "calcium",
    "calcium-rate": "calcium",
}
PRESETS = ("seed", "best")


def sizes(quick: bool) -> dict[str, int]:
    return (
        {"steps": 4, "repeats": 2, "eval_n": 512, "keras_epochs": 3}
        if quick
        else {"steps": 32, "repeats": 5, "eval_n": 4096, "keras_epochs": 4}
    )


def prepare(task, preset: str, path: Path, steps: int):
    """Config, prepared data, the task's steps per epoch, and a batcher of ``steps`` batches."""
    import jax

    from neurolearn.config import make_config
    from neurolearn.data.batching import Batcher

    cfg = make_config(task.Config, {"steps_per_call": steps}, base=task.preset(preset))
    key = jax.random.key(cfg.seed)
    prepared = task.prepare(task.load(path, cfg), cfg, key=jax.random.fold_in(key, 1))
    n_train = len(prepared.sources["train"])
    epoch = Batcher(
        np.arange(n_train),
        cfg.batch_size,
        key=jax.random.fold_in(key, 2),
        balance=prepared.balance,
        epoch_size=task.epoch_size(cfg),  # as neurolearn.train does
    )
    idx = np.resize(np.arange(n_train), steps * cfg.batch_size)  # repeats examples if few
    chunk = Batcher(idx, cfg.batch_size, key=jax.random.fold_in(key, 2))
    assert chunk.steps_per_epoch == steps
    return cfg, key, prepared, epoch.steps_per_epoch, epoch.epoch_size, chunk


def bench_config(
    task, preset: str, path: Path, *, steps: int, repeats: int, eval_n: int, budget_s: float = 60
):
    """Training and inference speed of one task and preset: (row, context); the context
    (prepared data, config, batcher) is what :func:`keras_peer` needs to run the same examples.
    ``repeats`` is lowered (to at least 1) when the warm-up chunk shows that they would take
    more than ``budget_s``; ``runs_s`` has the timings made."""
    from neurolearn.engine import Engine

    cfg, key, prepared, epoch_steps, epoch_examples, chunk = prepare(task, preset, path, steps)
    engine = Engine(task, cfg, prepared, steps_per_epoch=epoch_steps, key=key)
    compile_s = engine.compile_train(chunk, engine._budget())
    runs, first = [], None
    e = 0
    while len(runs) < repeats:  # one warm-up chunk, then the timed ones
        t0 = time.perf_counter()
        loss, _, n = engine.run_epoch(chunk, e, e * steps)
        dt = time.perf_counter() - t0
        if e == 0:
            first = dt
            # a very slow step: fewer timed chunks, about budget_s in all (at least one)
            repeats = max(1, min(repeats, int(budget_s // max(dt, 1e-9))))
        else:
            runs.append(dt)
        e += 1
    if not np.isfinite(loss):
        raise FloatingPointError(f"{task.name} {preset}: loss {loss}")
    t = {**H.stats(runs), "compile_s": compile_s, "first_s": first}
    b = cfg.batch_size
    row = H.throughput_row(
        f"{task.name} {preset}",
        steps * b,
        "samples/s",
        t,
        task=task.name,
        preset=preset,
        model=type(cfg.model).__name__,
        n_params=engine.n_params,
        batch_size=b,
        steps_timed=steps,
        ms_per_step=1e3 * t["median_s"] / steps,
        n_train=len(prepared.sources["train"]),
        epoch_examples=epoch_examples,
        epoch_steps=epoch_steps,
        s_per_epoch=epoch_steps * t["median_s"] / steps,
        device_resident=engine.resident,
        final_loss=float(loss),
    )
    # inference: the compiled evaluation step over validation examples
    n_val = len(prepared.sources["val"])
    sel = np.arange(min(eval_n, n_val))
    ti = H.measure(lambda: engine.predict_source("val", sel)[0], repeats=repeats)
    row["infer"] = H.throughput_row("inference", len(sel), "samples/s", ti)
    row["infer_samples_per_s"] = row["infer"]["throughput"]
    return row, (prepared, cfg, chunk)


# ------------------------------------------------------------------------------------ Keras
def keras_model(task_name: str, cfg, in_shape, out_dim):
    """The seed notebook's model in Keras 3 (None: no notebook model for this task)."""
    import keras
    from keras import layers

    if task_name == "hh-voltage":  # seed 004: Conv1D 2/6/16, kernels 11/5/1, 'same', L2 0.01
        reg = keras.regularizers.l2(cfg.l2) if cfg.l2 else None
        m = keras.Sequential(
            [keras.Input(in_shape)]
            + [
                layers.Conv1D(c, k, padding="same", activation="relu", kernel_regularizer=reg)
                for c, k in zip(cfg.model.channels, cfg.model.kernels, strict=True)
            ]
            + [layers.Dense(out_dim)]
        )
        return m, "mse"
    if task_name == "lfp-spike":  # seed 000: BiLSTM 64 -> dropout -> BiLSTM 32 -> dropout
        m = keras.Sequential(
            [
                keras.Input(in_shape),
                layers.Bidirectional(layers.LSTM(64, return_sequences=True)),
                layers.Dropout(0.2),
                layers.Bidirectional(layers.LSTM(32)),
                layers.Dropout(0.2),
                layers.Dense(1, activation="sigmoid"),
            ]
        )
        return m, "binary_crossentropy"
    if task_name == "ring-counts":  # seed 003: LSTM(128) -> Dense(600)
        m = keras.Sequential([keras.Input(in_shape), layers.LSTM(128), layers.Dense(out_dim)])
        return m, "mse"
    if task_name == "calcium-rate":  # seed 002: the Spikefinder "elephant" CNN (120,131)
        m = keras.Sequential(
            [
                keras.Input(in_shape),
                layers.Conv1D(50, 41, activation="relu"),
                layers.Conv1D(60, 21, activation="relu"),
                layers.MaxPooling1D(2),
                layers.Conv1D(70, 7, activation="relu"),
                layers.MaxPooling1D(2),
                layers.Dense(300, activation="relu"),
                layers.Flatten(),
                layers.Dense(out_dim),
            ]
        )
        return m, "mse"
    if task_name == "calcium-detect":  # seed 001: LSTM(64) -> Dense(1, sigmoid)
        m = keras.Sequential(
            [keras.Input(in_shape), layers.LSTM(64), layers.Dense(1, activation="sigmoid")]
        )
        return m, "binary_crossentropy"
    return None, None


def keras_inputs(task, cfg, batch: dict[str, Any]):
    """The arrays the engine's model sees for ``batch`` (the task's input transforms)."""
    import jax.numpy as jnp

    x, y = np.asarray(batch["x"]), np.asarray(batch["y"], np.float32)
    if task.name == "lfp-spike":
        lo, hi, _ = task._crop(cfg)
        x = x[:, lo:hi]
    if task.name == "calcium-detect":
        x = np.asarray(task._features(jnp.asarray(x), cfg))
    if y.ndim == 1:
        y = y[:, None]
    return x.astype(np.float32), y


def keras_peer(row: dict, context, *, epochs: int) -> dict | None:
    """Keras 3 (JAX backend) on the same examples and batch size as ``row``'s engine run."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()!r}, not on JAX")
    from neurolearn.tasks import get

    task = get(row["task"])
    prepared, cfg, chunk = context
    src = prepared.sources["train"]
    x, y = keras_inputs(task, cfg, src.fetch(src.arrays, chunk.indices))
    keras.utils.set_random_seed(0)
    model, loss = keras_model(task.name, cfg, x.shape[1:], y.shape[-1])
    if model is None:
        return None
    optimizers = {"adam": keras.optimizers.Adam, "adagrad": keras.optimizers.Adagrad}
    if cfg.optimizer not in optimizers:
        raise ValueError(f"no Keras optimizer for {cfg.optimizer!r}; known: {sorted(optimizers)}")
    model.compile(optimizer=optimizers[cfg.optimizer](cfg.learning_rate), loss=loss)

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)

    times: list[float] = []
    model.fit(
        x, y, batch_size=cfg.batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[Timer()]
    )
    t = {**H.stats(times[1:]), "first_s": times[0], "compile_s": max(times[0] - min(times[1:]), 0)}
    steps = row["steps_timed"]
    out = H.throughput_row(
        f"Keras 3 (JAX) {task.name} seed",
        len(x),
        "samples/s",
        t,
        n_params=int(model.count_params()),
        batch_size=cfg.batch_size,
        ms_per_step=1e3 * t["median_s"] / steps,
        s_per_epoch=row["epoch_steps"] * t["median_s"] / steps,
        keras=keras.__version__,
    )
    out["ratio_peer_over_ours"] = out["median_s"] / row["median_s"]
    return out


def run(*, quick: bool, peers: bool, files: dict[str, Path], skipped: list) -> dict[str, Any]:
    from neurolearn.tasks import all_tasks

    sz = sizes(quick)
    tasks = all_tasks()
    rows, keras_rows = [], []
    if "calcium-rate" not in tasks:
        skipped.append(
            {"what": "train: calcium-rate", "reason": "task not registered in this checkout"}
        )
    have_keras = peers
    if peers:
        try:
            os.environ.setdefault("KERAS_BACKEND", "jax")
            import keras  # noqa: F401
        except ImportError:
            have_keras = False
            skipped.append({"what": "Keras 3", "reason": "keras not installed (.[bench])"})
    for name, task in tasks.items():
        path = files.get(DATA.get(name, ""))
        if path is None:
            skipped.append({"what": f"train: {name}", "reason": "no dataset for this task"})
            continue
        for preset in PRESETS:
            if preset not in task.presets:
                skipped.append({"what": f"train: {name} {preset}", "reason": "no such preset"})
                continue
            print(f"train: {name} {preset}", flush=True)
            row, context = bench_config(
                task,
                preset,
                Path(path),
                steps=sz["steps"],
                repeats=sz["repeats"],
                eval_n=sz["eval_n"],
            )
            rows.append(row)
            print(
                f"  {row['ms_per_step']:.1f} ms/step, {row['throughput']:.0f} samples/s, "
                f"{row['s_per_epoch']:.2f} s/epoch; inference {row['infer_samples_per_s']:.0f}/s",
                flush=True,
            )
            if have_keras and preset == "seed":
                k = keras_peer(row, context, epochs=1 + sz["keras_epochs"])
                if k is None:
                    skipped.append({"what": f"Keras {name}", "reason": "no notebook model"})
                else:
                    k["task"] = name
                    keras_rows.append(k)
                    print(
                        f"  Keras: {k['ms_per_step']:.1f} ms/step "
                        f"(×{k['ratio_peer_over_ours']:.2f})",
                        flush=True,
                    )
    return {"sizes": sz, "rows": rows, "keras": keras_rows}
