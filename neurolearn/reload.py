"""Reloading a trained run: its model for prediction (:func:`load_run`) and its metrics on a
data file (:func:`evaluate_run`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import Checkpoints, RunFolder, check_compatible
from .config import make_config
from .data.normalise import Normalisation
from .engine import Engine
from .runs import check_receptive_field, check_saved_config, sha256

__all__ = ["LoadedRun", "load_run", "evaluate_run", "read_for_run"]


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

            from .engine import EVAL_KEY_SEED, stream_rngs

            def fn(state, x):
                model = nnx.merge(graphdef, state)
                rngs = stream_rngs(jax.random.key(EVAL_KEY_SEED), 0)
                out = self.task.forward(model, x, self.config, train=False, rngs=rngs)
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
    n_in, n_out = info.get("model_io") or [
        len(norm.x.mean) if norm.x is not None else 1,
        1,
    ]
    model = t.build_model(
        cfg, in_features=n_in, out_features=n_out, rngs=nnx.Rngs(params=jax.random.key(0))
    )
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
    """Metrics of a trained run on a data file, and every baseline's on the same examples.

    The data file must be of the run's task's dataset kind. The file the run was trained on
    (same sha256) is split exactly as in training (same config and seed) and its validation
    split and test arrays are scored; any other file is independent of the training data, so
    all of it is scored (split ``"all rows"``). Inputs are normalised with the run's saved
    normalisation.

    Returns:
        ``{"run", "data", "checkpoint", "metrics": {split: {...}}, "units"}``.
    """
    import jax

    run = load_run(folder, which=which)
    task, cfg = run.task, run.config
    dataset = read_for_run(run, data)
    same = sha256(data) == run.info.get("data", {}).get("sha256")
    prepared = task.prepare(
        dataset,
        cfg,
        key=jax.random.fold_in(jax.random.key(cfg.seed), 1),
        normalisation=run.normalisation,
        whole=not same,
    )
    engine = Engine(task, cfg, prepared, model=run.model)
    check_receptive_field(engine, prepared)
    metrics = {s: engine.evaluate(s) for s in ("val", "test") if s in prepared.sources}
    return {
        "run": str(run.folder),
        "data": str(Path(data)),
        "same_data_as_training": same,
        "checkpoint": list(run.checkpoint),
        "n_params": run.info.get("n_params"),
        "split": prepared.split,
        "metrics": metrics,
        "baselines": task.baselines(prepared, cfg) if same or "train" in prepared.sources else {},
        "units": task.units,
    }


def read_for_run(run: LoadedRun, data: str | Path):
    """Read ``data`` for ``run``'s task, with a clear error if it is another kind of dataset."""
    from .data.readers import dataset_name

    task = run.task
    name = dataset_name(data)
    allowed = (task.dataset, *getattr(task, "other_datasets", ()))
    if name is not None and name not in allowed:
        want = " or ".join(repr(a) for a in allowed)
        raise ValueError(
            f"run folder {str(run.folder)!r} holds a {task.name!r} model, which needs a "
            f"{want} dataset, but {str(data)!r} is a {name!r} dataset"
        )
    return task.load(data, run.config)
