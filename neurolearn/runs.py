"""The run folder's policy: what a new run records, when a resume may go on and what it does.

Used by :func:`neurolearn.train.train_and_evaluate` (start and resume) and by
:mod:`neurolearn.reload` (a checkpoint must match the config it is reloaded with).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

from .checkpoints import RunFolder, json_ready, plain, write_text_atomic
from .config import EPOCH_DEPENDENT_SCHEDULES, RESUMABLE_CHANGES, config_to_dict

__all__ = [
    "sha256",
    "check_saved_config",
    "check_receptive_field",
    "check_run_folder_path",
    "resume_action",
    "data_record",
    "write_history",
]


def sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_history(folder: RunFolder, history: list[dict[str, Any]]) -> None:
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


def data_record(path: Path, data) -> dict[str, Any]:
    attrs = {k: v for k, v in data.attrs.items() if k not in ("versions",)}
    return {
        "path": str(path.absolute()),
        "sha256": sha256(path),
        "dataset": data.name,
        "attrs": attrs,
    }


def check_receptive_field(engine, prepared) -> None:
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


def check_run_folder_path(path: Path) -> None:
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


def resume_action(
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
