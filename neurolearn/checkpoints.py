"""The run folder and its orbax checkpoints.

A run folder holds everything needed to reload, evaluate and continue a model::

    RUN/
      run.json            task, status, seed, data file (path, sha256, attributes), versions,
                          device, parameter count, timings, which checkpoint is final
      config.json         the full config (task + engine settings) of the latest (re)start;
                          run.json's ``resumes`` lists what each resume changed
      normalisation.json  fitted on the training split
      split.json          how the data was split (sizes, held-out groups/blocks)
      checkpoints/E/      orbax CheckpointManager keeping two epochs E: the latest (model +
                          optimiser + loop state) and the best by the monitored metric
      history.csv, history.jsonl   one row per epoch
      curves.png, examples.png, report.md, metrics.json   written when training ends
      earlier/after_epoch_E/   those of a finished run that was resumed to train longer

Every file is written atomically (a temporary file renamed into place); orbax commits a step
only when it is complete. Checkpoints are sharding-aware: written from one device or from the
replicated state of data-parallel training on several, restored on any number (as host arrays,
placed by the engine). A checkpoint is a pure dict ``{"model": …, "optimizer": …}`` of
arrays plus a JSON ``meta`` item (epoch, global step, best value, history, the config it was
saved with).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from neurosim.io import write_text_atomic  # the one atomic writer (re-exported here)

__all__ = [
    "RunFolder",
    "Checkpoints",
    "write_json_atomic",
    "write_text_atomic",
    "json_ready",
    "read_json",
    "check_compatible",
    "flatten_tree",
]


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as strict JSON (NaN and infinities become ``null``), atomically."""
    return write_text_atomic(path, json.dumps(json_ready(obj), indent=2, allow_nan=False) + "\n")


def json_ready(obj: Any) -> Any:
    """:func:`plain` with NaN and infinities replaced by None, so that ``json.dumps`` writes
    strict JSON (``null``), the same convention as ``neurolearn score --json``."""
    obj = plain(obj)
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [json_ready(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def read_json(path: str | os.PathLike) -> Any:
    """A JSON file's content, or ValueError naming the file if it is not valid JSON."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(
            f"{str(path)!r} is not valid JSON ({e}); was it edited or damaged? (a run folder's "
            "JSON files are written by neurolearn)"
        ) from None


def plain(obj: Any) -> Any:
    """JSON-able copy of ``obj`` (dataclasses, arrays, NumPy scalars → dicts, lists and
    numbers), keeping the order of dict keys."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) or (hasattr(obj, "tolist") and hasattr(obj, "dtype")):
        return np.asarray(obj).tolist()
    return obj


class RunFolder:
    """Paths of a run folder (nothing is created until asked)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.run_json = self.path / "run.json"
        self.config_json = self.path / "config.json"
        self.normalisation_json = self.path / "normalisation.json"
        self.split_json = self.path / "split.json"
        self.history_csv = self.path / "history.csv"
        self.history_jsonl = self.path / "history.jsonl"
        self.curves_png = self.path / "curves.png"
        self.examples_png = self.path / "examples.png"
        self.report_md = self.path / "report.md"
        self.metrics_json = self.path / "metrics.json"
        self.checkpoints = self.path / "checkpoints"

    def is_run(self) -> bool:
        return self.run_json.exists()

    def is_empty(self) -> bool:
        return not self.path.exists() or not any(self.path.iterdir())

    def read_run(self) -> dict[str, Any]:
        """run.json, or FileNotFoundError saying this is not a run folder."""
        if not self.path.exists():
            raise FileNotFoundError(f"run folder {str(self.path)!r} does not exist")
        if not self.run_json.exists():
            raise FileNotFoundError(
                f"{str(self.path)!r} is not a neurolearn run folder (no run.json); "
                "make one with `neurolearn train TASK --data FILE --out FOLDER`"
            )
        return read_json(self.run_json)

    def read_config(self) -> dict[str, Any]:
        if not self.config_json.exists():
            raise FileNotFoundError(f"run folder {str(self.path)!r} has no config.json")
        return read_json(self.config_json)

    RESULTS = ("report.md", "metrics.json", "curves.png", "examples.png")

    def move_results_aside(self, epoch: int) -> Path | None:
        """Move report.md, metrics.json and the figures of a finished run into
        ``earlier/after_epoch_E[_K]/`` (when training goes on, they would describe other
        weights). Returns that folder, or None when there was nothing to move."""
        present = [self.path / n for n in self.RESULTS if (self.path / n).exists()]
        if not present:
            return None
        dest = self.path / "earlier" / f"after_epoch_{epoch}"
        k = 1
        while dest.exists():
            k += 1
            dest = self.path / "earlier" / f"after_epoch_{epoch}_{k}"
        dest.mkdir(parents=True)
        for p in present:
            os.replace(p, dest / p.name)
        return dest

    def update_run(self, **fields) -> dict[str, Any]:
        info = read_json(self.run_json) if self.run_json.exists() else {}
        info.update(fields)
        write_json_atomic(self.run_json, info)
        return info


def flatten_tree(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts → ``{"a/b/c": leaf}`` with string keys."""
    if isinstance(tree, dict):
        out = {}
        for k, v in tree.items():
            out.update(flatten_tree(v, f"{prefix}{k}/"))
        return out
    return {prefix.rstrip("/"): tree}


def check_compatible(saved: dict, expected: dict, *, what: str) -> None:
    """Raise ValueError if ``saved`` and ``expected`` differ in names, shapes or dtypes."""
    a, b = flatten_tree(saved), flatten_tree(expected)
    problems = []
    for k in sorted(set(a) | set(b)):
        if k not in a:
            problems.append(f"{k} is missing from the checkpoint")
        elif k not in b:
            problems.append(f"{k} is in the checkpoint but not in the model")
        else:
            sa, sb = np.shape(a[k]), np.shape(b[k])
            if sa != sb:
                problems.append(f"{k} has shape {sa} in the checkpoint but {sb} in the model")
            elif np.asarray(a[k]).dtype != np.asarray(b[k]).dtype:
                problems.append(
                    f"{k} has dtype {np.asarray(a[k]).dtype} in the checkpoint but "
                    f"{np.asarray(b[k]).dtype} in the model"
                )
    if problems:
        shown = "; ".join(problems[:4]) + (
            f"; and {len(problems) - 4} more" if len(problems) > 4 else ""
        )
        raise ValueError(
            f"{what} does not fit the model built from the config: {shown}. The checkpoint comes "
            "from an incompatible config (was config.json edited, or checkpoints copied from "
            "another run?)"
        )


class Checkpoints:
    """The orbax checkpoints of a run: one ``CheckpointManager`` that keeps two steps, the
    latest and the best (by the monitored metric; they may coincide).

    Steps are numbered by epochs completed; each step holds ``state`` (a pure dict of arrays),
    ``meta`` (JSON: epoch, global step, best value, history) and orbax ``metrics``
    (``{"best": step}`` for a step that was the best when saved, ``{"best": -1}`` otherwise:
    the newest such step is the best under the engine's rule, including ``min_delta``).
    Saving is synchronous (the next epoch starts only when the checkpoint is committed), so an
    interruption leaves the previous one intact.

    Args:
        folder: ``RUN/checkpoints``.
        create: create the folder (training); False for reading.
    """

    def __init__(self, folder: str | os.PathLike, *, create: bool = False):
        self.folder = Path(folder)
        self.create = create
        self._mngr = None

    def _manager(self):
        if self._mngr is None:
            import orbax.checkpoint as ocp
            from orbax.checkpoint import checkpoint_managers as cm

            path = self.folder.absolute()
            if not self.create and not path.exists():
                return None
            options = ocp.CheckpointManagerOptions(
                create=self.create,
                enable_async_checkpointing=False,
                best_fn=_best_rank,
                best_mode="max",
                preservation_policy=cm.AnyPreservationPolicy(
                    [
                        cm.LatestN(n=1),
                        cm.BestN(get_metric_fn=_best_rank, reverse=False, n=1),
                    ]
                ),
            )
            self._mngr = ocp.CheckpointManager(path, options=options)
        return self._mngr

    def latest_step(self) -> int | None:
        m = self._manager()
        return None if m is None else m.latest_step()

    def best_step(self) -> int | None:
        m = self._manager()
        return None if m is None else m.best_step()

    def steps(self) -> list[int]:
        m = self._manager()
        return [] if m is None else sorted(m.all_steps())

    def save(self, step: int, state: dict, meta: dict, *, is_best: bool) -> None:
        """Save ``state`` and ``meta`` as ``step``; ``is_best``: the best epoch so far."""
        import orbax.checkpoint as ocp

        m = self._manager()
        if step in m.all_steps():
            m.delete(step)
        m.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(plain(meta))
            ),
            metrics={"best": step if is_best else -1},
        )
        m.wait_until_finished()

    def restore(self, which: str | int = "latest") -> tuple[dict, dict, int]:
        """``(state as NumPy arrays, meta, step)`` of ``"latest"``, ``"best"`` or a step.

        Raises:
            FileNotFoundError: no checkpoint.
        """
        import jax
        import orbax.checkpoint as ocp

        m = self._manager()
        step = None
        if m is not None:
            step = (
                {"latest": m.latest_step, "best": m.best_step}[which]()
                if isinstance(which, str)
                else which
            )
        if step is None:
            raise FileNotFoundError(f"no {which!r} checkpoint in {str(self.folder)!r}")
        # sharding-aware: the arrays may have been saved from several devices (data-parallel
        # training, replicated). Where the saved sharding's devices do not exist here (saved on
        # 4, restored on 1), orbax restores onto this process's first device instead; the engine
        # then places the arrays (replicated on its mesh, if any).
        here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        out = m.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(fallback_sharding=here),
                meta=ocp.args.JsonRestore(),
            ),
        )
        state = jax.tree.map(np.asarray, dict(out["state"]))
        return state, dict(out["meta"]), step

    def close(self) -> None:
        if self._mngr is not None:
            self._mngr.close()
            self._mngr = None


def _best_rank(metrics) -> float:
    return float(metrics["best"])
