"""The training engine every task uses: :func:`train_and_evaluate`, :func:`load_run`,
:func:`evaluate_run`.

How a step runs: the model and its ``nnx.Optimizer`` are split once into a graph definition and
a state pytree (``nnx.split``); one pure function ``(state, batch) -> state`` is compiled, and
``jax.lax.scan`` runs ``steps_per_call`` of them per call, gathering each batch on the device
from device-resident data (or taking batches prefetched from the host when the data does not
fit). So Python and NNX graph traversal cost nothing per step (flax's performance guide).

Determinism: everything random derives from ``config.seed`` through explicit keys; the batch
order of epoch e is a function of (seed, e); a run resumed from its latest checkpoint performs
exactly the same computations as an uninterrupted one, so on the CPU it ends with bit-identical
weights (a test checks it).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import (
    Checkpoints,
    RunFolder,
    check_compatible,
    json_ready,
    plain,
    write_json_atomic,
    write_text_atomic,
)
from .config import (
    EPOCH_DEPENDENT_SCHEDULES,
    RESUMABLE_CHANGES,
    config_diff,
    config_to_dict,
    make_config,
    monitor_mode,
)
from .data.batching import Batcher, fits_on_device, prefetch
from .data.normalise import Normalisation
from .data.windows import fetch

__all__ = [
    "train_and_evaluate",
    "load_run",
    "evaluate_run",
    "LoadedRun",
    "TrainResult",
    "NonFiniteLossError",
    "EpochEnd",
    "make_optimizer",
]


class NonFiniteLossError(RuntimeError):
    """The training loss (or a validation prediction) became NaN or infinite."""


@dataclass(frozen=True)
class EpochEnd:
    """Passed to callbacks after each epoch (once its checkpoint is saved).

    Attributes:
        epoch: epochs completed (1-based).
        row: the history row of this epoch.
        folder: the run folder.
    """

    epoch: int
    row: dict[str, Any]
    folder: Path


@dataclass
class TrainResult:
    """What :func:`train_and_evaluate` returns.

    Attributes:
        folder: the run folder.
        metrics: final metrics per split (``{"val": {...}, "test": {...}}``).
        history: one dict per epoch (epoch 0 = before training).
        best_epoch: epoch of the best monitored value.
        stopped_early: whether early stopping ended the run.
        final_checkpoint: the weights ``metrics`` were computed with: ``"best"`` or
            ``"latest"``.
        final_epoch: the epoch of those weights.
    """

    folder: Path
    metrics: dict[str, dict[str, float]]
    history: list[dict[str, Any]]
    best_epoch: int
    stopped_early: bool
    final_checkpoint: str = "best"
    final_epoch: int = 0


def sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=32)
def make_optimizer(cfg, steps_per_epoch: int):
    """The optax optimiser and learning-rate schedule of ``cfg``.

    Memoised: the same config gives the same transformation object, so the model+optimiser
    graph definition is equal across runs and compiled steps are reused.

    Returns:
        ``(tx, schedule)``; ``schedule(step)`` gives the learning rate of a step.
    """
    import optax

    total = max(1, cfg.epochs * steps_per_epoch)
    lr = cfg.learning_rate
    if cfg.schedule == "constant":
        schedule = optax.constant_schedule(lr)
    elif cfg.schedule == "cosine":
        schedule = optax.cosine_decay_schedule(lr, total)
    elif cfg.schedule == "warmup_cosine":
        warm = max(1, int(round(cfg.warmup_epochs * steps_per_epoch)))
        schedule = optax.warmup_cosine_decay_schedule(0.0, lr, warm, max(total, warm + 1))
    else:  # exponential
        schedule = optax.exponential_decay(
            lr, max(1, int(round(cfg.decay_epochs * steps_per_epoch))), cfg.decay_rate
        )
    if cfg.optimizer == "adam":
        base = optax.adam(schedule)
    elif cfg.optimizer == "adamw":
        base = optax.adamw(schedule, weight_decay=cfg.weight_decay)
    else:
        base = optax.sgd(schedule, momentum=cfg.momentum or None)
    tx = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), base) if cfg.clip_norm else base
    return tx, schedule


def _chunks(steps: int, per_call: int) -> list[tuple[int, int]]:
    """Split ``steps`` into near-equal consecutive chunks of at most ``per_call`` (≤ 2 sizes)."""
    n = -(-steps // per_call)
    base, extra = divmod(steps, n)
    out, start = [], 0
    for i in range(n):
        size = base + (1 if i < extra else 0)
        out.append((start, start + size))
        start += size
    return out


# ---------------------------------------------------------------------------- compiled steps
# Pure functions of (static: task, config, graph definition, batch layout; arrays: state, data,
# indices). Module-level and jitted once, so that runs with the same task, config and shapes in
# one process reuse the compiled code (tests, resumed runs, sweeps).


def _train_step(task, cfg, graphdef, state, batch, w, step, dropout_key):
    import jax
    import jax.numpy as jnp
    from flax import nnx

    model, optimizer = nnx.merge(graphdef, state)
    gdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss_fn(params):
        m = nnx.merge(gdef, params, rest)
        rngs = nnx.Rngs(dropout=jax.random.fold_in(dropout_key, step))
        out = task.forward(m, batch["x"], cfg, train=True, rngs=rngs)
        per = task.example_loss(out, batch, cfg)
        data_loss = jnp.sum(per * w) / jnp.sum(w)
        return data_loss + task.penalty(m, cfg), (data_loss, nnx.state(m, nnx.Not(nnx.Param)))

    (loss, (data_loss, new_rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    nnx.update(model, new_rest)
    optimizer.update(model, grads)
    return nnx.state((model, optimizer)), (loss, data_loss)


def _train_chunk(task, cfg, graphdef, layout, state, data, idx, w, steps, dropout_key):
    """``len(steps)`` optimiser steps under ``lax.scan``. With ``layout`` set, ``data`` holds the
    device-resident arrays and ``idx`` the batch indices; with ``layout`` None, ``data`` holds
    the stacked batches themselves (host-prefetched) and ``idx`` is unused."""
    import jax

    def body(state, inp):
        i, wi, s = inp
        batch = fetch(layout, data, i) if layout is not None else i
        return _train_step(task, cfg, graphdef, state, batch, wi, s, dropout_key)

    return jax.lax.scan(body, state, (idx if layout is not None else data, w, steps))


def _eval_batch(task, cfg, model_graphdef, layout, model_state, data, idx):
    from flax import nnx

    batch = fetch(layout, data, idx) if layout is not None else data
    model = nnx.merge(model_graphdef, model_state)
    out = task.forward(model, batch["x"], cfg, train=False)
    return task.predictions(out, cfg), task.example_loss(out, batch, cfg)


@functools.cache
def _compiled_functions():
    import jax

    return {
        "train": jax.jit(_train_chunk, static_argnums=(0, 1, 2, 3), donate_argnums=(4,)),
        "eval": jax.jit(_eval_batch, static_argnums=(0, 1, 2, 3)),
    }


def _history_files(folder: RunFolder, history: list[dict[str, Any]]) -> None:
    import json

    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for row in history:
        w.writerow({k: row.get(k, "") for k in keys})
    write_text_atomic(folder.history_csv, buf.getvalue())
    write_text_atomic(
        folder.history_jsonl,
        "".join(json.dumps(json_ready(r), allow_nan=False) + "\n" for r in history),
    )


def _finite(x) -> bool:
    return bool(np.all(np.isfinite(np.asarray(x))))


class _Engine:
    """Model + optimiser state and the compiled functions of one task and config."""

    def __init__(self, task, cfg, prepared, *, key=None, steps_per_epoch: int = 1, model=None):
        import jax
        from flax import nnx

        self.task, self.cfg, self.prepared = task, cfg, prepared
        self.training = model is None
        if self.training:
            init_key = jax.random.fold_in(key, 0)
            self.dropout_key = jax.random.fold_in(key, 3)
            model = task.build_model(cfg, rngs=nnx.Rngs(params=init_key))
        else:
            self.dropout_key = jax.random.key(0)
        self.n_params = int(sum(np.size(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))))
        self.receptive_field = task.receptive_field(model)
        self.model_graphdef = nnx.split(model)[0]
        if self.training:
            self.tx, self.schedule = make_optimizer(cfg, steps_per_epoch)
            optimizer = nnx.Optimizer(model, self.tx, wrt=nnx.Param)
            self.graphdef, self.state = nnx.split((model, optimizer))
        else:
            self.graphdef, self.state = self.model_graphdef, nnx.state(model)
        self._compiled: dict[Any, Any] = {}
        self._device_data: dict[str, Any] = {}
        self.resident = False

    def model_state(self):
        return self.state[0] if self.training else self.state

    # ------------------------------------------------------------------ state <-> checkpoint
    def pure_state(self) -> dict:
        from flax import nnx

        pure = nnx.to_pure_dict(self.state)
        return {"model": pure[0], "optimizer": pure[1]}

    def load_pure_state(self, ckpt: dict, *, what: str) -> None:
        from flax import nnx

        check_compatible(ckpt, self.pure_state(), what=what)
        nnx.replace_by_pure_dict(self.state, {0: ckpt["model"], 1: ckpt["optimizer"]})

    # ------------------------------------------------------------------ data placement
    def device_data(self, name: str, *, budget_bytes: int | None):
        import jax

        if name not in self._device_data:
            source = self.prepared.sources[name]
            if fits_on_device(source.arrays, budget_bytes=budget_bytes):
                self._device_data[name] = jax.device_put(source.arrays)
            else:
                self._device_data[name] = None
        return self._device_data[name]

    # ------------------------------------------------------------------ training
    def compile_train(self, batcher: Batcher, budget_bytes: int | None) -> float:
        """Compile the training chunk(s) ahead of time; returns seconds spent (~0 when this
        process already compiled the same task, config and shapes)."""
        import jax

        t0 = time.perf_counter()
        source = self.prepared.sources["train"]
        data = self.device_data("train", budget_bytes=budget_bytes)
        self.resident = data is not None
        fn = _compiled_functions()["train"]
        static = (self.task, self.cfg, self.graphdef, source.layout if self.resident else None)
        b = batcher.batch_size
        for lo, hi in _chunks(batcher.steps_per_epoch, self.cfg.steps_per_call):
            k = hi - lo
            if k in self._compiled:
                continue
            idx = np.zeros((k, b), np.int32)
            w = np.ones((k, b), np.float32)
            steps = np.zeros(k, np.int32)
            if self.resident:
                payload = data
            else:
                batch0 = source.fetch(source.arrays, np.zeros(b, np.int64))
                payload = jax.tree.map(lambda a, k=k: np.stack([a] * k), batch0)
                idx = np.zeros(k, np.int32)
            self._compiled[k] = fn.lower(
                *static, self.state, payload, idx, w, steps, self.dropout_key
            ).compile()
        return time.perf_counter() - t0

    def run_epoch(self, batcher: Batcher, epoch: int, first_step: int, *, bar=None):
        """One epoch; returns (mean loss, mean data loss, steps). Raises NonFiniteLossError."""
        import jax

        idx, w = batcher.epoch(epoch)
        source = self.prepared.sources["train"]
        chunks = _chunks(len(idx), self.cfg.steps_per_call)
        losses, data_losses = [], []
        b = idx.shape[1]

        def host_batches(i):
            lo, hi = chunks[i]
            batch = source.fetch(source.arrays, idx[lo:hi].reshape(-1))
            return jax.device_put(
                jax.tree.map(lambda a: a.reshape((hi - lo, b) + a.shape[1:]), batch)
            )

        feed = None if self.resident else prefetch(host_batches, len(chunks))
        data = self._device_data.get("train")
        for lo, hi in chunks:
            steps = np.arange(first_step + lo, first_step + hi, dtype=np.int32)
            if self.resident:
                payload, chunk_idx = data, idx[lo:hi]
            else:
                payload, chunk_idx = next(feed), np.zeros(hi - lo, np.int32)
            self.state, (loss, dloss) = self._compiled[hi - lo](
                self.state, payload, chunk_idx, w[lo:hi], steps, self.dropout_key
            )
            loss = np.asarray(loss)
            if not _finite(loss):
                bad = int(np.flatnonzero(~np.isfinite(loss))[0])
                raise NonFiniteLossError(
                    f"the training loss became {loss[bad]} at epoch {epoch + 1}, step "
                    f"{lo + bad + 1} of {len(idx)}"
                )
            losses.append(loss)
            data_losses.append(np.asarray(dloss))
            if bar is not None:
                bar.update(hi - lo)
                bar.set_postfix(loss=f"{float(loss[-1]):.4g}", refresh=False)
        return (
            float(np.concatenate(losses).mean()),
            float(np.concatenate(data_losses).mean()),
            len(idx),
        )

    # ------------------------------------------------------------------ evaluation
    def predict_source(self, name: str, indices=None) -> tuple[np.ndarray, np.ndarray]:
        """Predictions (normalised units / probabilities) and per-example losses of a split."""
        import jax

        source = self.prepared.sources[name]
        n = len(source)
        indices = np.arange(n) if indices is None else np.asarray(indices)
        bs = min(self.cfg.eval_batch_size, len(indices))
        data = self.device_data(name, budget_bytes=self._budget())
        fn = _compiled_functions()["eval"]
        layout = source.layout if data is not None else None
        static = (self.task, self.cfg, self.model_graphdef, layout)
        preds, losses = [], []
        for lo in range(0, len(indices), bs):
            sel = indices[lo : lo + bs]
            pad = bs - len(sel)
            sel_p = np.concatenate([sel, np.full(pad, sel[0])]).astype(np.int32)
            if data is not None:
                p, l_ = fn(*static, self.model_state(), data, sel_p)
            else:
                batch = jax.device_put(source.fetch(source.arrays, sel_p))
                p, l_ = fn(*static, self.model_state(), batch, sel_p)
            preds.append(np.asarray(p)[: len(sel)])
            losses.append(np.asarray(l_)[: len(sel)])
        return np.concatenate(preds), np.concatenate(losses)

    def _budget(self):
        mb = self.cfg.device_budget_mb
        return None if mb is None else int(mb * 2**20)

    def targets(self, name: str, indices=None) -> np.ndarray:
        source = self.prepared.sources[name]
        indices = np.arange(len(source)) if indices is None else np.asarray(indices)
        return np.asarray(source.fetch(source.arrays, indices)["y"])

    def inputs(self, name: str, indices) -> np.ndarray:
        source = self.prepared.sources[name]
        return np.asarray(source.fetch(source.arrays, np.asarray(indices))["x"])

    def evaluate(self, name: str) -> dict[str, float]:
        pred, losses = self.predict_source(name)
        if not _finite(pred):
            raise NonFiniteLossError(f"the model predicts NaN/infinity on the {name} split")
        norm = self.prepared.normalisation
        y = self.targets(name)
        out = {"loss": float(losses.mean())}
        out.update(self.task.metrics(norm.invert_y(y), norm.invert_y(pred), self.cfg))
        return out

    def examples(self, name: str, n: int) -> dict[str, np.ndarray]:
        source = self.prepared.sources[name]
        idx = np.arange(min(n, len(source)))
        norm = self.prepared.normalisation
        pred, _ = self.predict_source(name, idx)
        x = self.inputs(name, idx)
        x = norm.x.invert(x) if norm.x else x
        return {"x": x, "y": norm.invert_y(self.targets(name, idx)), "pred": norm.invert_y(pred)}


def _data_record(path: Path, data) -> dict[str, Any]:
    attrs = {k: v for k, v in data.attrs.items() if k not in ("versions",)}
    return {
        "path": str(path.absolute()),
        "sha256": sha256(path),
        "dataset": data.name,
        "attrs": attrs,
    }


def _check_receptive_field(engine: _Engine, prepared) -> None:
    rf = engine.receptive_field
    if rf is None:
        return
    for name, source in prepared.sources.items():
        n = source.min_length
        if n is not None and n < rf:
            raise ValueError(
                f"the {name} examples are {n} frames long, shorter than the model's receptive "
                f"field of {rf} frames; use longer windows/traces or smaller kernels"
            )


def _check_run_folder_path(path: Path) -> None:
    """The run folder, or the nearest of its parents that exists, must be a folder."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                what = "is" if p == path else f"would be inside {str(p)!r}, which is"
                raise FileExistsError(
                    f"run folder {str(path)!r} {what} a file, not a folder; choose another "
                    "--out (nothing was changed)"
                )
            return


def check_saved_config(meta: dict, cfg, *, what: str, config_json: Path) -> None:
    """Raise ValueError if ``cfg`` differs from the config a checkpoint was saved with in any
    setting that a resume may not change (shapes alone do not catch e.g. ``causal``)."""
    saved = meta.get("config")
    if saved is None:  # a checkpoint written before configs were stored in its meta
        return
    now = plain(config_to_dict(cfg))
    diff = {
        k: (saved.get(k), now.get(k))
        for k in sorted(set(saved) | set(now))
        if k not in RESUMABLE_CHANGES and saved.get(k) != now.get(k)
    }
    if diff:
        shown = "; ".join(
            f"{k}: {json.dumps(a)} in the checkpoint, {json.dumps(b)} in config.json"
            for k, (a, b) in diff.items()
        )
        raise ValueError(
            f"{what} was saved with another config than {str(config_json)!r}: {shown}. Was "
            "config.json edited, or checkpoints copied from another run? Restore those values "
            "in config.json, or train a new run"
        )


def _resume_action(
    folder: RunFolder,
    saved_info: dict,
    saved_cfg,
    cfg,
    *,
    start_epoch: int,
    stopped_early: bool,
    bad_epochs: int,
    best_epoch: int,
    monitor: str,
) -> tuple[str, int]:
    """What a resume after ``start_epoch`` does: ``("train", bad_epochs)`` to train on (with
    the early-stopping count to continue from), ``("finish", …)`` to run only the final
    evaluation of a run that trained all its epochs but was interrupted before it finished.
    Raises ValueError (nothing changed) when there is nothing to do."""
    where = repr(str(folder.path))
    if start_epoch > cfg.epochs:
        raise ValueError(
            f"run {where} has trained {start_epoch} epochs already, more than epochs="
            f"{cfg.epochs}; pass --epochs N with N > {start_epoch} to train longer "
            "(nothing was changed)"
        )
    if stopped_early:
        if start_epoch < cfg.epochs and (cfg.patience is None or cfg.patience > bad_epochs):
            return "train", bad_epochs  # as if the run had had this patience from the start
        if start_epoch < cfg.epochs and cfg.epochs != saved_cfg.epochs:
            return "train", 0  # training longer after an early stop: patience starts again
    elif start_epoch < cfg.epochs:
        return "train", bad_epochs
    if saved_info.get("status") != "done":
        return "finish", bad_epochs
    epoch_dependent = cfg.schedule in EPOCH_DEPENDENT_SCHEDULES
    if stopped_early:
        more_epochs = (
            ""
            if epoch_dependent
            else f", or another number of epochs (--epochs N with N > {start_epoch}; patience "
            "then starts again)"
        )
        raise ValueError(
            f"run {where} stopped early after epoch {start_epoch} of {cfg.epochs}: {monitor} "
            f"did not improve for {bad_epochs} epochs (patience {cfg.patience}; best epoch "
            f"{best_epoch}), and its report is written. To train on, resume with more "
            f"patience (--config patience=N with N > {bad_epochs}, or patience=null)"
            f"{more_epochs} (nothing was changed)"
        )
    advice = (
        f"its schedule {cfg.schedule!r} spans those epochs, so train longer in a new run "
        "folder (a new --out) with more epochs"
        if epoch_dependent
        else f"pass --epochs N with N > {start_epoch} to train longer"
    )
    raise ValueError(
        f"run {where} already finished {start_epoch} epoch(s) of {cfg.epochs} and its report "
        f"is written; {advice} (nothing was changed)"
    )


def train_and_evaluate(
    task,
    config=None,
    *,
    data: str | Path,
    workdir: str | Path,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    callbacks: Sequence[Callable[[EpochEnd], None]] = (),
) -> TrainResult:
    """Train ``task`` on ``data``, writing a run folder at ``workdir``.

    Args:
        task: a registered :class:`~neurolearn.tasks.Task` or its name.
        config: the task's config dataclass, or a dict of overrides of its defaults (with
            ``resume``: overrides of the saved config, which may only change
            ``RESUMABLE_CHANGES`` such as ``epochs``; ``epochs`` not with a schedule in
            ``EPOCH_DEPENDENT_SCHEDULES``).
        data: the dataset file.
        workdir: the run folder. It must be new or empty, unless ``resume``.
        resume: continue the run in ``workdir`` from its latest checkpoint (starts anew if it
            has none yet). A run whose last epoch is trained but whose final evaluation did not
            finish is finished without training; an early-stopped run trains on with a larger
            ``patience`` or another ``epochs``. Each resume is recorded in run.json
            (``resumes``: after which epoch, what it did, what it changed); the report of a
            finished run that trains on is moved to ``earlier/after_epoch_E/``.
        progress: show a progress bar per epoch.
        log: where one line per epoch goes (None: silent).
        callbacks: called with an :class:`EpochEnd` after each epoch's checkpoint.

    Returns:
        :class:`TrainResult`.

    Raises:
        FileExistsError: ``workdir`` holds files and ``resume`` is False, or is a file.
        ValueError: bad config, bad data (shapes, NaN, labels), windows shorter than the
            receptive field, resuming another task's run or with an incompatible config or
            other data, or a run with nothing left to do. Nothing in ``workdir`` is changed by
            these.
        NonFiniteLossError: training diverged; the last good checkpoint is kept.
    """
    import jax
    from tqdm.auto import tqdm

    from neurosim.provenance import device_info, package_versions, utc_now

    from .tasks import get as get_task

    task = get_task(task) if isinstance(task, str) else task
    folder = RunFolder(workdir)
    data = Path(data)
    say = log or (lambda s: None)
    _check_run_folder_path(folder.path)

    # ---------------------------------------------------------------- config and resume checks
    saved_info = None
    changes: dict[str, tuple[Any, Any]] = {}  # config changes made by a resume
    if folder.is_run() and resume:
        saved_info = folder.read_run()
        if saved_info.get("task") != task.name:
            raise ValueError(
                f"run folder {str(folder.path)!r} holds a {saved_info.get('task')!r} run, not "
                f"{task.name!r}; nothing was changed"
            )
        saved_cfg = make_config(task.Config, base=folder.read_config())
        overrides = config_to_dict(config) if dataclasses.is_dataclass(config) else (config or {})
        cfg = make_config(task.Config, overrides, base=config_to_dict(saved_cfg))
        changes = config_diff(saved_cfg, cfg)
        bad = {k: v for k, v in changes.items() if k not in RESUMABLE_CHANGES}
        if bad:
            shown = ", ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in bad.items())
            raise ValueError(
                f"cannot resume {str(folder.path)!r} with a different config ({shown}); only "
                f"{', '.join(RESUMABLE_CHANGES)} may change. Start a new run folder instead "
                "(a new --out)"
            )
        if "epochs" in changes and cfg.schedule in EPOCH_DEPENDENT_SCHEDULES:
            a, b = changes["epochs"]
            raise ValueError(
                f"cannot resume {str(folder.path)!r} with epochs {a} → {b}: its learning-rate "
                f"schedule {cfg.schedule!r} spans the epochs set when the run started (the rate "
                f"reaches 0 at epoch {a}), so another number of epochs would change the rate of "
                "every step. Resume without --epochs, or train in a new run folder (a new "
                "--out) with the epochs you want (nothing was changed)"
            )
    else:
        if not folder.is_empty() and not resume:
            raise FileExistsError(
                f"run folder {str(folder.path)!r} already holds files; pass --resume to continue "
                "that run, or choose a new --out (nothing was changed)"
            )
        if not folder.is_empty() and resume:
            raise FileExistsError(
                f"{str(folder.path)!r} holds files but no run.json: not a run folder to resume "
                "(nothing was changed)"
            )
        if dataclasses.is_dataclass(config):
            cfg = config
        else:
            cfg = make_config(task.Config, config or {})

    if not data.exists():
        raise FileNotFoundError(f"data file {str(data)!r} does not exist")
    if saved_info is not None:
        want = saved_info.get("data", {}).get("sha256")
        if want and sha256(data) != want:
            raise ValueError(
                f"{str(data)!r} is not the data file run {str(folder.path)!r} was trained on "
                f"(its sha256 differs from the recorded {want[:12]}…); resume with the same file"
            )

    # ---------------------------------------------------------------- data, model: check all
    key = jax.random.key(cfg.seed)
    dataset = task.load(data, cfg)
    prepared = task.prepare(dataset, cfg, key=jax.random.fold_in(key, 1))
    n_train = len(prepared.sources["train"])
    batcher = Batcher(
        np.arange(n_train), cfg.batch_size, key=jax.random.fold_in(key, 2), balance=prepared.balance
    )
    engine = _Engine(task, cfg, prepared, steps_per_epoch=batcher.steps_per_epoch, key=key)
    _check_receptive_field(engine, prepared)
    monitor = cfg.monitor or task.monitor[0]
    mode = monitor_mode(monitor, task.monitor, cfg)

    ckpts = Checkpoints(folder.checkpoints, create=False)
    start_epoch, history, best, best_epoch, bad_epochs = 0, [], None, 0, 0
    stopped_early = False
    action = "train"
    try:
        if saved_info is not None and ckpts.latest_step() is not None:
            state, meta, step = ckpts.restore("latest")
            what = f"checkpoint {step} of {str(folder.path)!r}"
            engine.load_pure_state(state, what=what)
            check_saved_config(meta, cfg, what=what, config_json=folder.config_json)
            start_epoch = int(meta["epoch"])
            history = list(meta["history"])
            best, best_epoch = meta["best"], int(meta["best_epoch"])
            bad_epochs = int(meta["bad_epochs"])
            stopped_early = bool(meta.get("stopped_early"))
            action, bad_epochs = _resume_action(
                folder,
                saved_info,
                saved_cfg,
                cfg,
                start_epoch=start_epoch,
                stopped_early=stopped_early,
                bad_epochs=bad_epochs,
                best_epoch=best_epoch,
                monitor=monitor,
            )
    finally:
        ckpts.close()
    if action == "train":
        stopped_early = False

    budget = engine._budget()
    compile_s = engine.compile_train(batcher, budget) if action == "train" else None

    # epoch 0: the untrained model (also checks the monitored metric exists)
    if not history:
        t0 = time.perf_counter()
        val0 = engine.evaluate("val")
        row0 = {
            "epoch": 0,
            "step": 0,
            "loss": None,
            "train_data_loss": None,
            **{f"val_{k}": v for k, v in val0.items()},
            "epoch_s": time.perf_counter() - t0,
        }
        history = [row0]
    if monitor not in history[0]:
        choices = sorted(k for k in history[0] if k.startswith("val_"))
        raise ValueError(
            f"monitor {monitor!r} is not a metric of task {task.name!r}; choose one of {choices}"
        )

    # ---------------------------------------------------------------- the run folder
    folder.path.mkdir(parents=True, exist_ok=True)
    data_rec = _data_record(data, dataset)
    if saved_info is None:
        write_json_atomic(folder.config_json, config_to_dict(cfg))
        prepared.normalisation.save(folder.normalisation_json)
        write_json_atomic(folder.split_json, prepared.split)
        write_json_atomic(
            folder.run_json,
            {
                "task": task.name,
                "status": "running",
                "created_utc": utc_now(),
                "seed": cfg.seed,
                "data": data_rec,
                "n_params": engine.n_params,
                "receptive_field": engine.receptive_field,
                "monitor": [monitor, mode],
                "device_resident_data": engine.resident,
                "versions": package_versions(),
                "device": device_info(),
                "info": prepared.info,
                "resumes": [],
            },
        )
    else:
        # results written for the weights of an earlier finish would describe other weights
        # once training goes on: move them aside (they stay readable, with their figures)
        moved = folder.move_results_aside(start_epoch) if action == "train" else None
        write_json_atomic(folder.config_json, config_to_dict(cfg))
        resumes = list(saved_info.get("resumes", []))
        resumes.append(
            {
                "utc": utc_now(),
                "after_epoch": start_epoch,
                "action": action,
                "changes": {k: [a, b] for k, (a, b) in changes.items()},
                "earlier_results": str(moved.relative_to(folder.path)) if moved else None,
            }
        )
        folder.update_run(
            status=(
                f"running (resumed at epoch {start_epoch})"
                if action == "train"
                else f"finishing (resumed after epoch {start_epoch}, the last)"
            ),
            resumed_utc=utc_now(),
            resumes=resumes,
            versions=package_versions(),
            device=device_info(),
        )
    if compile_s is not None:
        folder.update_run(compile_s=compile_s)
    ckpts = Checkpoints(folder.checkpoints, create=True)

    if action == "finish":
        say(
            f"{folder.path} trained all {start_epoch} epochs but did not finish its final "
            "evaluation: running it now"
        )
    elif start_epoch:
        say(f"resuming {folder.path} after epoch {start_epoch} (best so far: epoch {best_epoch})")
    if action == "train":
        say(
            f"{task.name}: {n_train} training, {len(prepared.sources['val'])} validation "
            f"examples; {engine.n_params} parameters; {batcher.steps_per_epoch} steps per epoch; "
            f"compiled in {compile_s:.1f} s; run folder {folder.path}"
        )

    # ---------------------------------------------------------------- the loop
    step = int(history[-1]["step"] or 0)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, cfg.epochs if action == "train" else start_epoch):
            bar = tqdm(
                total=batcher.steps_per_epoch,
                desc=f"epoch {epoch + 1}/{cfg.epochs}",
                unit="step",
                leave=False,
                disable=not progress,
                dynamic_ncols=True,
            )
            t0 = time.perf_counter()
            try:
                loss, dloss, n_steps = engine.run_epoch(batcher, epoch, step, bar=bar)
            finally:
                bar.close()
            train_s = time.perf_counter() - t0
            try:
                val = engine.evaluate("val")
            except NonFiniteLossError as e:
                raise NonFiniteLossError(f"{e} after epoch {epoch + 1}") from None
            step += n_steps
            row = {
                "epoch": epoch + 1,
                "step": step,
                "loss": loss,
                "train_data_loss": dloss,
                **{f"val_{k}": v for k, v in val.items()},
                "lr": float(engine.schedule(step - 1)),
                "epoch_s": time.perf_counter() - t0,
                "train_s": train_s,
                "steps_per_s": n_steps / train_s,
            }
            value = row[monitor]
            improved = best is None or (
                value < best - cfg.min_delta if mode == "min" else value > best + cfg.min_delta
            )
            if improved:
                best, best_epoch, bad_epochs = value, epoch + 1, 0
            else:
                bad_epochs += 1
            row["best"] = improved
            history.append(row)
            stopped_early = cfg.patience is not None and bad_epochs >= cfg.patience
            last = epoch + 1 == cfg.epochs or stopped_early
            meta = {
                "epoch": epoch + 1,
                "step": step,
                "best": best,
                "best_epoch": best_epoch,
                "bad_epochs": bad_epochs,
                "history": history,
                "stopped_early": stopped_early,
                "monitor": monitor,
                "config": config_to_dict(cfg),
            }
            if (epoch + 1) % cfg.checkpoint_every == 0 or last or improved:
                ckpts.save(epoch + 1, engine.pure_state(), meta, is_best=improved)
            _history_files(folder, history)
            say(
                f"epoch {epoch + 1}/{cfg.epochs}  loss {loss:.4g}  val_loss {row['val_loss']:.4g}"
                f"  {monitor} {value:.4g}{' *' if improved else ''}  ({row['epoch_s']:.1f} s, "
                f"{row['steps_per_s']:.1f} steps/s)"
            )
            for cb in callbacks:
                cb(EpochEnd(epoch + 1, row, folder.path))
            if stopped_early:
                say(
                    f"early stop: {monitor} has not improved for {cfg.patience} epochs "
                    f"(best {best:.4g} at epoch {best_epoch})"
                )
                break
    except NonFiniteLossError as e:
        kept = ckpts.latest_step()
        ckpts.close()
        where = (
            f"the last good checkpoint (epoch {kept}) is kept in {str(folder.checkpoints)!r}"
            if kept
            else "no epoch finished"
        )
        folder.update_run(status=f"failed: {e}", failed_utc=utc_now())
        lr = cfg.learning_rate
        raise NonFiniteLossError(
            f"training stopped: {e}; {where}. --resume would repeat the same steps (and "
            f"config changes other than the run length are refused): lower learning_rate (now "
            f"{lr:g}) or set clip_norm (now {cfg.clip_norm}) in a new run folder, e.g. "
            f"--config learning_rate={lr / 10:g} clip_norm=1 --out NEW_RUN_DIR"
        ) from None
    except KeyboardInterrupt:
        kept = ckpts.latest_step()
        ckpts.close()
        folder.update_run(status=f"interrupted after epoch {kept or 0}")
        raise
    except BaseException:
        ckpts.close()
        raise

    # ---------------------------------------------------------------- final evaluation
    last_epoch = int(history[-1]["epoch"])
    try:
        final = "latest"
        if cfg.restore_best and best_epoch and best_epoch != last_epoch:
            state, _, _ = ckpts.restore("best")
            engine.load_pure_state(state, what="the best checkpoint")
            final = "best"
        elif cfg.restore_best and best_epoch:
            final = "best"
        ckpts.close()
        result = finish_run(
            engine,
            task,
            cfg,
            folder,
            history,
            best_epoch=best_epoch,
            final=final,
            stopped_early=stopped_early,
            monitor=monitor,
        )
    except KeyboardInterrupt:
        ckpts.close()
        folder.update_run(
            status=f"interrupted after epoch {last_epoch}, in the final evaluation "
            "(--resume finishes it)"
        )
        raise
    except BaseException as e:
        ckpts.close()
        folder.update_run(
            status=f"failed in the final evaluation after epoch {last_epoch}: "
            f"{type(e).__name__}: {e} (--resume retries it)",
            failed_utc=utc_now(),
        )
        raise
    return result


def finish_run(
    engine, task, cfg, folder: RunFolder, history, *, best_epoch, final, stopped_early, monitor
) -> TrainResult:
    """Final metrics, figures and report of a finished run.

    ``run.json`` says ``"done"`` only once metrics.json, the figures and report.md are written
    (the caller records an interruption or a failure before that; ``--resume`` then reruns
    this step)."""
    from neurosim.provenance import utc_now

    from . import report

    final_epoch = best_epoch if final == "best" else int(history[-1]["epoch"])
    splits = [s for s in ("val", "test") if s in engine.prepared.sources]
    metrics = {s: engine.evaluate(s) for s in splits}
    baselines = task.baselines(engine.prepared, cfg)
    examples = {s: engine.examples(s, getattr(cfg, "n_examples_plot", 3)) for s in splits}
    trained = [r for r in history if r["epoch"] > 0]
    timing = {
        "epochs_run": len(trained),
        "median_epoch_s": float(np.median([r["epoch_s"] for r in trained])) if trained else None,
        "median_steps_per_s": float(np.median([r["steps_per_s"] for r in trained]))
        if trained
        else None,
    }
    out = {
        "task": task.name,
        "final_checkpoint": final,
        "final_epoch": final_epoch,
        "best_epoch": best_epoch,
        "monitor": monitor,
        "stopped_early": stopped_early,
        "metrics": metrics,
        "baselines": baselines,
        "units": task.units,
        "timing": timing,
    }
    metric = monitor.removeprefix("val_")
    refs = {
        f"baseline: {name.removeprefix('val_').replace('_', ' ')}": values[metric]
        for name, values in baselines.items()
        if name.startswith("val_") and metric in values
    }
    report.plot_curves(
        history,
        folder.curves_png,
        monitor=monitor,
        units=task.units,
        best_epoch=best_epoch,
        title=f"{task.name} · {folder.path.name}",
        references=refs,
    )
    task.plot_examples(folder.examples_png, examples, cfg)
    write_json_atomic(folder.metrics_json, out)
    done = {
        "final_checkpoint": final,
        "final_epoch": final_epoch,
        "best_epoch": best_epoch,
        "stopped_early": stopped_early,
        **timing,
    }
    info = {**folder.read_run(), **done}
    report.write_report(
        folder,
        task=task,
        cfg=cfg,
        info=info,
        metrics=out,
        split=engine.prepared.split,
        test_source=engine.prepared.info.get("test_source"),
    )
    folder.update_run(status="done", finished_utc=utc_now(), **done)
    return TrainResult(folder.path, metrics, history, best_epoch, stopped_early, final, final_epoch)


# ---------------------------------------------------------------------------- reloading


@dataclass
class LoadedRun:
    """A trained model reloaded from its run folder.

    Attributes:
        folder: the run folder.
        task: its task.
        config: its config.
        normalisation: as fitted on its training split.
        model: the Flax NNX model with the final (best or latest) weights.
        info: run.json.
        checkpoint: which checkpoint was loaded (``"best"`` / ``"latest"``) and its epoch.
    """

    folder: Path
    task: Any
    config: Any
    normalisation: Normalisation
    model: Any
    info: dict[str, Any]
    checkpoint: tuple[str, int]

    def predict(self, x: np.ndarray, *, batch_size: int | None = None) -> np.ndarray:
        """Predictions in physical units for inputs ``x`` in physical units.

        Args:
            x: a batch of equal-length inputs, shape (N, T, C) (the task's input layout).
        """
        import jax

        if not hasattr(self, "_fn"):
            from flax import nnx

            graphdef, state = nnx.split(self.model)
            self._state = state

            def fn(state, x):
                model = nnx.merge(graphdef, state)
                out = self.task.forward(model, x, self.config, train=False)
                return self.task.predictions(out, self.config)

            self._fn = jax.jit(fn)
        xn = self.normalisation.apply_x(x)
        bs = batch_size or self.config.eval_batch_size
        out = [np.asarray(self._fn(self._state, xn[i : i + bs])) for i in range(0, len(xn), bs)]
        return self.normalisation.invert_y(np.concatenate(out))


def load_run(folder: str | Path, *, which: str | None = None, task=None) -> LoadedRun:
    """Reload a run's model, config and normalisation.

    Args:
        folder: the run folder.
        which: ``"best"`` or ``"latest"`` (default: the one the run reported with).
        task: if given, the run must belong to this task (name or Task).

    Raises:
        FileNotFoundError: not a run folder, or it has no checkpoint.
        ValueError: the run belongs to another task, or its checkpoint does not fit the model
            built from its config.json (shapes), or was saved under another config (any
            setting but the run-length ones, e.g. ``causal``).
    """
    import jax
    from flax import nnx

    from .tasks import get as get_task

    rf = RunFolder(folder)
    info = rf.read_run()
    name = info.get("task")
    if task is not None:
        want = task if isinstance(task, str) else task.name
        if want != name:
            raise ValueError(f"run folder {str(rf.path)!r} holds a {name!r} run, not {want!r}")
    t = get_task(name)
    cfg = make_config(t.Config, base=rf.read_config())
    norm = Normalisation.load(rf.normalisation_json)
    ckpts = Checkpoints(rf.checkpoints)
    which = which or info.get("final_checkpoint") or "best"
    try:
        state, meta, step = ckpts.restore(which)
    finally:
        ckpts.close()
    model = t.build_model(cfg, rngs=nnx.Rngs(params=jax.random.key(0)))
    mstate = nnx.state(model)
    what = f"the {which!r} checkpoint (epoch {step}) of {str(rf.path)!r}"
    check_compatible(state["model"], nnx.to_pure_dict(mstate), what=what)
    check_saved_config(meta, cfg, what=what, config_json=rf.config_json)
    nnx.replace_by_pure_dict(mstate, state["model"])
    nnx.update(model, mstate)
    return LoadedRun(rf.path, t, cfg, norm, model, info, (which, step))


def evaluate_run(
    folder: str | Path, data: str | Path, *, which: str | None = None
) -> dict[str, Any]:
    """Metrics of a trained run on a data file (its validation split and test arrays).

    The data file must be of the run's task's dataset kind; it is split exactly as in training
    (same config and seed) and normalised with the run's saved normalisation.

    Returns:
        ``{"run", "data", "checkpoint", "metrics": {split: {...}}, "units"}``.
    """
    import jax

    run = load_run(folder, which=which)
    task, cfg = run.task, run.config
    dataset = read_for_run(run, data)
    prepared = task.prepare(
        dataset,
        cfg,
        key=jax.random.fold_in(jax.random.key(cfg.seed), 1),
        normalisation=run.normalisation,
    )
    engine = _Engine(task, cfg, prepared, model=run.model)
    _check_receptive_field(engine, prepared)
    metrics = {s: engine.evaluate(s) for s in ("val", "test") if s in prepared.sources}
    return {
        "run": str(run.folder),
        "data": str(Path(data)),
        "checkpoint": list(run.checkpoint),
        "split": prepared.split,
        "metrics": metrics,
        "units": task.units,
    }


def read_for_run(run: LoadedRun, data: str | Path):
    """Read ``data`` for ``run``'s task, with a clear error if it is another kind of dataset."""
    from .data.readers import dataset_name

    task = run.task
    name = dataset_name(data)
    if name is not None and name != task.dataset:
        raise ValueError(
            f"run folder {str(run.folder)!r} holds a {task.name!r} model, which needs a "
            f"{task.dataset!r} dataset, but {str(data)!r} is a {name!r} dataset"
        )
    return task.load(data, run.config)
