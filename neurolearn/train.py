"""Training a task: :func:`train_and_evaluate` writes a run folder, :func:`finish_run` its final
metrics, figures and report.

The compiled steps are in :mod:`neurolearn.engine`, the run folder's resume policy in
:mod:`neurolearn.runs`, reloading a trained run in :mod:`neurolearn.reload` (re-exported here).

Determinism: everything random derives from ``config.seed`` through explicit keys; the batch
order of epoch e is a function of (seed, e); a run resumed from its latest checkpoint performs
exactly the same computations as an uninterrupted one, so on the CPU it ends with bit-identical
weights (a test checks it).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import Checkpoints, RunFolder, write_json_atomic
from .config import (
    EPOCH_DEPENDENT_SCHEDULES,
    RESUMABLE_CHANGES,
    config_diff,
    config_to_dict,
    make_config,
    monitor_mode,
)
from .data.batching import Batcher
from .engine import Engine, NonFiniteLossError, make_optimizer
from .models import describe_model
from .reload import LoadedRun, evaluate_run, load_run, read_for_run
from .runs import (
    check_receptive_field,
    check_run_folder_path,
    check_saved_config,
    data_record,
    resume_action,
    sha256,
    write_history,
)

__all__ = [
    "train_and_evaluate",
    "finish_run",
    "load_run",
    "evaluate_run",
    "read_for_run",
    "LoadedRun",
    "TrainResult",
    "NonFiniteLossError",
    "EpochEnd",
    "make_optimizer",
]


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
    preset: str | None = None,
) -> TrainResult:
    """Train ``task`` on ``data``, writing a run folder at ``workdir``.

    Args:
        task: a registered :class:`~neurolearn.tasks.Task` or its name.
        config: the task's config dataclass, or a dict of overrides of its defaults (or of
            ``preset``) (with ``resume``: overrides of the saved config, which may only change
            ``RESUMABLE_CHANGES`` such as ``epochs``; ``epochs`` not with a schedule in
            ``EPOCH_DEPENDENT_SCHEDULES``).
        preset: a named config of the task (``seed``, ``best``, ``small``; ``neurolearn
            tasks TASK`` lists them) that ``config`` then changes; recorded in run.json.
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

    from neurosim.progress import progress_bar
    from neurosim.provenance import device_info, package_versions, utc_now

    from .tasks import get as get_task

    task = get_task(task) if isinstance(task, str) else task
    folder = RunFolder(workdir)
    data = Path(data)
    say = log or (lambda s: None)
    check_run_folder_path(folder.path)

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
            cfg = make_config(task.Config, config or {}, base=task.preset(preset))

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
        np.arange(n_train),
        cfg.batch_size,
        key=jax.random.fold_in(key, 2),
        balance=prepared.balance,
        epoch_size=task.epoch_size(cfg),
    )
    engine = Engine(task, cfg, prepared, steps_per_epoch=batcher.steps_per_epoch, key=key)
    check_receptive_field(engine, prepared)
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
            action, bad_epochs = resume_action(
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
    data_rec = data_record(data, dataset)
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
                "preset": preset,
                "overrides": (
                    config_to_dict(config)
                    if dataclasses.is_dataclass(config)
                    else dict(config or {})
                ),
                "model": describe_model(cfg.model),
                "model_io": [prepared.in_features, prepared.out_features],
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
            bar = progress_bar(
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
            write_history(folder, history)
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
        "monitor_mode": monitor_mode(monitor, task.monitor, cfg),
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
    task.plot_metrics(folder.path / "metrics.png", metrics, baselines, cfg)
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
