"""The compiled training and evaluation steps, and the :class:`Engine` that runs them.

How a step runs: the model and its ``nnx.Optimizer`` are split once into a graph definition and
a state pytree (``nnx.split``); one pure function ``(state, batch) -> state`` is compiled, and
``jax.lax.scan`` runs ``steps_per_call`` of them per call, gathering each batch on the device
from device-resident data (or taking batches prefetched from the host when the data does not
fit). So Python and NNX graph traversal cost nothing per step (flax's performance guide).

Randomness: models draw from named streams of an ``nnx.Rngs`` passed to the forward pass,
``dropout`` and ``noise`` (e.g. a VAE's reparameterisation); in training each step's keys are
``fold_in(stream key, step)``, at evaluation the keys are fixed, so evaluation is
deterministic. The L2 penalty is generic: ``config.l2 · Σ w²`` over the parameters whose path
(``convs/0/kernel``) matches ``config.l2_params``.

Data parallelism (``config.devices`` > 1 or ``"all"``): a 1-D :class:`jax.sharding.Mesh` over
the first N local devices; the model and optimiser state, the device-resident data and the keys
are replicated, each step's batch (its indices and weights, or the host-prefetched examples) is
split along the batch axis (``PartitionSpec(None, "batch")``, a sharding constraint inside the
step), and XLA inserts the all-reduce of the loss and the gradients. The same steps as on one
device, equal up to floating-point reduction order. Evaluation runs replicated. With
``devices=1`` (the default) nothing is placed and the program is the one-device program.
"""

from __future__ import annotations

import functools
import re
import time
from typing import Any

import numpy as np

from .checkpoints import check_compatible
from .data.batching import Batcher, fits_on_device, prefetch
from .data.windows import fetch

__all__ = ["Engine", "NonFiniteLossError", "make_optimizer", "l2_selection"]


class NonFiniteLossError(RuntimeError):
    """The training loss (or a validation prediction) became NaN or infinite."""


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
    elif cfg.optimizer == "adagrad":
        base = optax.adagrad(schedule, initial_accumulator_value=0.0, eps=1e-7)
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


def param_paths(params) -> list[tuple[str, Any]]:
    """``[("convs/0/kernel", array), ...]`` of a parameter state (NNX ``State`` or pure dict)."""
    import jax

    out = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        parts = []
        for k in path:
            name = getattr(k, "key", getattr(k, "idx", getattr(k, "name", None)))
            if name in ("value", "raw_value"):
                continue
            parts.append(str(name))
        out.append(("/".join(parts), leaf))
    return out


def _selected(cfg, params) -> list[tuple[str, Any]]:
    rx = re.compile(cfg.l2_params)
    return [(p, leaf) for p, leaf in param_paths(params) if rx.search(p)]


def l2_selection(cfg, params) -> list[str]:
    """The parameter paths that ``cfg.l2`` penalises (``re.search(cfg.l2_params, path)``)."""
    return [p for p, _ in _selected(cfg, params)]


def _l2(cfg, params):
    import jax.numpy as jnp

    if not cfg.l2:
        return 0.0
    return cfg.l2 * sum(jnp.sum(jnp.square(leaf)) for _, leaf in _selected(cfg, params))


def stream_rngs(key, index):
    """The ``nnx.Rngs`` of one forward pass: streams ``dropout`` and ``noise``, each
    ``fold_in(fold_in(key, stream), index)``."""
    import jax
    from flax import nnx

    return nnx.Rngs(
        dropout=jax.random.fold_in(jax.random.fold_in(key, 0), index),
        noise=jax.random.fold_in(jax.random.fold_in(key, 1), index),
    )


def _train_step(task, cfg, graphdef, state, batch, w, step, stream_key):
    import jax
    import jax.numpy as jnp
    from flax import nnx

    model, optimizer = nnx.merge(graphdef, state)
    gdef, params, rest = nnx.split(model, nnx.Param, ...)

    def loss_fn(params):
        m = nnx.merge(gdef, params, rest)
        out = task.forward(m, batch["x"], cfg, train=True, rngs=stream_rngs(stream_key, step))
        per = task.example_loss(out, batch, cfg)
        data_loss = jnp.sum(per * w) / jnp.sum(w)
        penalty = _l2(cfg, params) + task.penalty(m, cfg)
        return data_loss + penalty, (data_loss, nnx.state(m, nnx.Not(nnx.Param)))

    (loss, (data_loss, new_rest)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    nnx.update(model, new_rest)
    optimizer.update(model, grads)
    return nnx.state((model, optimizer)), (loss, data_loss)


def _train_chunk(task, cfg, graphdef, layout, mesh, state, data, idx, w, steps, stream_key):
    """``len(steps)`` optimiser steps under ``lax.scan``. With ``layout`` set, ``data`` holds the
    device-resident arrays and ``idx`` the batch indices; with ``layout`` None, ``data`` holds
    the stacked batches themselves (host-prefetched) and ``idx`` is unused. With a ``mesh``,
    each batch is constrained to be split along its leading (example) axis."""
    import jax

    def body(state, inp):
        i, wi, s = inp
        batch = fetch(layout, data, i) if layout is not None else i
        if mesh is not None:
            from jax.sharding import NamedSharding, PartitionSpec

            split = NamedSharding(mesh, PartitionSpec(DATA_AXIS))
            batch, wi = jax.lax.with_sharding_constraint((batch, wi), split)
        return _train_step(task, cfg, graphdef, state, batch, wi, s, stream_key)

    xs = (idx if layout is not None else data, w, steps)
    if steps.shape[0] == 1:
        # one step: no loop at all (XLA's CPU backend runs a convolution's gradient inside a
        # loop through a path about 20x slower than outside one; see Engine.steps_per_call)
        state, out = body(state, jax.tree.map(lambda a: a[0], xs))
        return state, jax.tree.map(lambda a: a[None], out)
    return jax.lax.scan(body, state, xs)


# evaluation draws from fixed keys (deterministic): the same weights give the same metrics
EVAL_KEY_SEED = 20_250_101


def _eval_batch(task, cfg, model_graphdef, layout, model_state, data, idx):
    import jax
    from flax import nnx

    batch = fetch(layout, data, idx) if layout is not None else data
    model = nnx.merge(model_graphdef, model_state)
    rngs = stream_rngs(jax.random.key(EVAL_KEY_SEED), 0)
    out = task.forward(model, batch["x"], cfg, train=False, rngs=rngs)
    return task.predictions(out, cfg), task.example_loss(out, batch, cfg)


@functools.cache
def _compiled_functions():
    import jax

    return {
        "train": jax.jit(_train_chunk, static_argnums=(0, 1, 2, 3, 4), donate_argnums=(5,)),
        "eval": jax.jit(_eval_batch, static_argnums=(0, 1, 2, 3)),
    }


#: name of the mesh axis a training batch is split over
DATA_AXIS = "batch"


def data_mesh(cfg):
    """The 1-D mesh of data-parallel training (``cfg.devices``), or None for one device.

    Raises:
        ValueError: more devices than this process sees, or a batch size that is not a
            multiple of the device count.
    """
    import jax
    from jax.sharding import Mesh

    have = jax.local_devices()
    n = len(have) if cfg.devices == "all" else int(cfg.devices)
    if n > len(have):
        raise ValueError(
            f"config devices={n} but this process sees only {len(have)} "
            f"{jax.default_backend()} device(s) (on CPU: XLA_FLAGS="
            f"--xla_force_host_platform_device_count={n} before JAX starts)"
        )
    if n == 1:
        return None
    if cfg.batch_size % n:
        raise ValueError(
            f"config batch_size={cfg.batch_size} is not a multiple of the {n} devices of "
            "data-parallel training (each device takes an equal share of every batch)"
        )
    return Mesh(np.asarray(have[:n]), (DATA_AXIS,))


def _finite(x) -> bool:
    return bool(np.all(np.isfinite(np.asarray(x))))


class Engine:
    """Model + optimiser state and the compiled functions of one task and config.

    It is also what a task's :meth:`~neurolearn.tasks.Task.evaluate` hook sees: ``predict``,
    ``targets``, ``inputs``, ``groups`` of a split, and the ``normalisation``.

    Args:
        task, cfg, prepared: the task, its config and the prepared data.
        key: the run's key (training: initialisation and the random streams).
        steps_per_epoch: for the learning-rate schedule.
        model: a trained model to evaluate (then nothing is trained).
    """

    def __init__(self, task, cfg, prepared, *, key=None, steps_per_epoch: int = 1, model=None):
        import jax
        from flax import nnx

        self.task, self.cfg, self.prepared = task, cfg, prepared
        self.training = model is None
        if self.training:
            init_key = jax.random.fold_in(key, 0)
            self.stream_key = jax.random.fold_in(key, 3)
            model = task.build_model(
                cfg,
                in_features=prepared.in_features,
                out_features=prepared.out_features,
                rngs=nnx.Rngs(params=init_key),
            )
            task.init_model(model, prepared, cfg)
        else:
            self.stream_key = jax.random.key(0)
        self.n_params = int(sum(np.size(p) for p in jax.tree.leaves(nnx.state(model, nnx.Param))))
        self.receptive_field = task.receptive_field(model)
        self.model_graphdef = nnx.split(model)[0]
        self._has_conv = any(isinstance(m, nnx.Conv) for _, m in nnx.iter_graph(model))
        if self.training:
            self.tx, self.schedule = make_optimizer(cfg, steps_per_epoch)
            optimizer = nnx.Optimizer(model, self.tx, wrt=nnx.Param)
            self.graphdef, self.state = nnx.split((model, optimizer))
        else:
            self.graphdef, self.state = self.model_graphdef, nnx.state(model)
        self._compiled: dict[Any, Any] = {}
        self._device_data: dict[str, Any] = {}
        self.resident = False
        self.mesh = data_mesh(cfg) if self.training else None
        if self.mesh is not None:
            self.state = self._replicate(self.state)
            self.stream_key = self._replicate(self.stream_key)

    def _replicate(self, tree):
        import jax
        from jax.sharding import NamedSharding, PartitionSpec

        return jax.device_put(tree, NamedSharding(self.mesh, PartitionSpec()))

    def _split_steps(self, tree):
        """Place per-step batch arrays ``(steps, batch, ...)``: split along the batch axis."""
        import jax
        from jax.sharding import NamedSharding, PartitionSpec

        return jax.device_put(tree, NamedSharding(self.mesh, PartitionSpec(None, DATA_AXIS)))

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
        if self.mesh is not None:
            self.state = self._replicate(self.state)

    # ------------------------------------------------------------------ data placement
    def device_data(self, name: str, *, budget_bytes: int | None):
        import jax

        if name not in self._device_data:
            source = self.prepared.sources[name]
            if fits_on_device(source.arrays, budget_bytes=budget_bytes):
                self._device_data[name] = (
                    jax.device_put(source.arrays)
                    if self.mesh is None
                    else self._replicate(source.arrays)
                )
            else:
                self._device_data[name] = None
        return self._device_data[name]

    # ------------------------------------------------------------------ training
    @property
    def steps_per_call(self) -> int:
        """Optimiser steps per compiled call: ``cfg.steps_per_call``, except 1 for a model with
        a convolution. XLA's CPU backend runs a convolution inside a ``lax.scan`` loop about 30
        times slower than outside one (measured: the elephant CNN's training step, batch 256,
        3.6 s in a scan of 10 steps, 0.12 s alone or unrolled), so those steps are dispatched
        one at a time, each without a loop; the arithmetic is the same."""
        return 1 if self._has_conv else self.cfg.steps_per_call

    def compile_train(self, batcher: Batcher, budget_bytes: int | None) -> float:
        """Compile the training chunk(s) ahead of time; returns seconds spent (~0 when this
        process already compiled the same task, config and shapes)."""
        import jax

        t0 = time.perf_counter()
        source = self.prepared.sources["train"]
        data = self.device_data("train", budget_bytes=budget_bytes)
        self.resident = data is not None
        fn = _compiled_functions()["train"]
        layout = source.layout if self.resident else None
        static = (self.task, self.cfg, self.graphdef, layout, self.mesh)
        b = batcher.batch_size
        for lo, hi in _chunks(batcher.steps_per_epoch, self.steps_per_call):
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
            payload, idx, w, steps = self._place_chunk(payload, idx, w, steps)
            self._compiled[k] = fn.lower(
                *static, self.state, payload, idx, w, steps, self.stream_key
            ).compile()
        return time.perf_counter() - t0

    def _place_chunk(self, payload, idx, w, steps):
        """With a mesh: batch indices/weights (and host batches) split, the rest replicated."""
        if self.mesh is None:
            return payload, idx, w, steps
        if self.resident:  # payload: the replicated data; idx: (steps, batch) indices
            idx = self._split_steps(idx)
        else:  # payload: (steps, batch, ...) examples; idx: unused (steps,)
            payload, idx = self._split_steps(payload), self._replicate(idx)
        return payload, idx, self._split_steps(w), self._replicate(steps)

    def run_epoch(self, batcher: Batcher, epoch: int, first_step: int, *, bar=None):
        """One epoch; returns (mean loss, mean data loss, steps). Raises NonFiniteLossError."""
        import jax

        idx, w = batcher.epoch(epoch)
        source = self.prepared.sources["train"]
        chunks = _chunks(len(idx), self.steps_per_call)
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
            payload, chunk_idx, wc, steps = self._place_chunk(payload, chunk_idx, w[lo:hi], steps)
            self.state, (loss, dloss) = self._compiled[hi - lo](
                self.state, payload, chunk_idx, wc, steps, self.stream_key
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
        # gather y alone: the input windows of a whole split can be large
        arrays = {k: v for k, v in source.arrays.items() if k in ("y", "starts")}
        return np.asarray(source.fetch(arrays, indices)["y"])

    def inputs(self, name: str, indices) -> np.ndarray:
        source = self.prepared.sources[name]
        return np.asarray(source.fetch(source.arrays, np.asarray(indices))["x"])

    @property
    def normalisation(self):
        return self.prepared.normalisation

    def groups(self, name: str) -> np.ndarray:
        """Group id (trace, trial, cell, block) of every example of split ``name``."""
        g = self.prepared.groups.get(name)
        return np.arange(len(self.prepared.sources[name])) if g is None else g

    def predict(self, name: str, indices=None) -> tuple[np.ndarray, np.ndarray]:
        """Predictions (normalised units / probabilities) and per-example losses of a split;
        NonFiniteLossError if a prediction is NaN or infinite."""
        pred, losses = self.predict_source(name, indices)
        if not _finite(pred):
            raise NonFiniteLossError(f"the model predicts NaN/infinity on the {name} split")
        return pred, losses

    def evaluate(self, name: str) -> dict[str, float]:
        """The task's metrics of split ``name`` (its :meth:`~neurolearn.tasks.Task.evaluate`)."""
        return self.task.evaluate(self, name, self.cfg)

    def examples(self, name: str, n: int) -> dict[str, np.ndarray]:
        source = self.prepared.sources[name]
        idx = np.arange(min(n, len(source)))
        norm = self.prepared.normalisation
        pred, _ = self.predict(name, idx)
        x = self.inputs(name, idx)
        x = norm.x.invert(x) if norm.x else x
        return {"x": x, "y": norm.invert_y(self.targets(name, idx)), "pred": norm.invert_y(pred)}
