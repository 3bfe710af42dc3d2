"""Predictions of a trained run on new data files (``neurolearn predict``).

Two file types, chosen by the input's name:

- HDF5 (``.h5``): an array of equal-length traces ``(N, T, C)`` (default: the task's input key,
  e.g. ``X``) → an HDF5 file with ``Y_pred`` ``(N, T, C_out)`` and provenance attributes.
- Spikefinder-layout CSV (``.csv`` / ``.csv.gz``; header ``0,1,…``, one column per trace,
  columns of unequal length padded with empty cells) → the same layout, one prediction column
  per input column, one value per input frame (at the input's frame rate).

Both outputs are written atomically; an existing output file is kept unless ``overwrite``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .data.readers import is_spikefinder_path

__all__ = ["predict_file"]


def _is_csv(path: Path) -> bool:
    return is_spikefinder_path(path)


def predict_file(
    run_dir: str | os.PathLike,
    input: str | os.PathLike,
    out: str | os.PathLike,
    *,
    key: str | None = None,
    frame_rate: float | None = None,
    overwrite: bool = False,
    which: str | None = None,
) -> Path:
    """Predict every trace of ``input`` with the model in ``run_dir`` and write ``out``.

    Args:
        run_dir: a run folder written by ``neurolearn train``.
        input: ``.h5`` or Spikefinder-layout ``.csv[.gz]``.
        out: same family as ``input`` (``.h5`` for ``.h5``; ``.csv``/``.csv.gz`` for CSV).
        key: the HDF5 array to read (default: the task's, e.g. ``X``).
        frame_rate: the input's frame rate (Hz), checked against (or, for tasks that can,
            resampled to) the model's.
        overwrite: replace an existing ``out``.
        which: ``"best"`` or ``"latest"`` checkpoint (default: the run's final one).

    Raises:
        FileExistsError, FileNotFoundError, ValueError, KeyError: with what was expected.
    """
    from neurosim.io import atomic_path, check_output_path
    from neurosim.provenance import package_versions, utc_now, write_attrs
    from neurosim.spikefinder import write_table

    from .train import load_run

    input, out = Path(input), Path(out)
    in_csv = _is_csv(input)
    if in_csv:
        if not _is_csv(out):
            raise ValueError(
                f"output {str(out)!r} should end in .csv or .csv.gz (the input is a "
                "Spikefinder-layout CSV)"
            )
        check_output_path(out, overwrite=overwrite, suffixes=())
    else:
        if input.suffix.lower() not in (".h5", ".hdf5"):
            raise ValueError(
                f"input {str(input)!r} should be an HDF5 file (.h5) or a "
                "Spikefinder-layout CSV (.csv, .csv.gz)"
            )
        check_output_path(out, overwrite=overwrite, suffixes=(".h5", ".hdf5"))
    if not input.exists():
        raise FileNotFoundError(f"input file {str(input)!r} does not exist")
    run = load_run(run_dir, which=which)
    task = run.task
    key = key or task.predict_key
    traces, file_rate = task.prediction_input(input, key=key, cfg=run.config)
    if frame_rate is not None and file_rate is not None and not np.isclose(frame_rate, file_rate):
        raise ValueError(
            f"--frame-rate {frame_rate:g} Hz disagrees with {str(input)!r}, which records "
            f"{file_rate:g} Hz"
        )
    frame_rate = frame_rate if frame_rate is not None else file_rate
    n_in = run.normalisation.x.mean.shape[0] if run.normalisation.x else None
    if n_in is not None and traces and traces[0].shape[-1] != n_in:
        raise ValueError(
            f"the model takes {n_in} input channel(s) per frame, the input has "
            f"{traces[0].shape[-1]}"
        )
    preds = task.predict_traces(run, traces, frame_rate=frame_rate)
    if in_csv:
        cols = []
        for i, p in enumerate(preds):
            p = np.asarray(p)
            if p.ndim == 2 and p.shape[1] != 1:
                raise ValueError(
                    f"the model predicts {p.shape[1]} values per frame; a "
                    "Spikefinder-layout CSV holds one per column"
                )
            cols.append(p.reshape(len(traces[i])))
        write_table(out, cols, allow_nan=True)  # frames no window predicts: empty cells
    else:
        import h5py

        with atomic_path(out) as tmp:
            with h5py.File(tmp, "w") as f:
                f.create_dataset("Y_pred", data=np.stack(preds).astype(np.float32))
                write_attrs(
                    f,
                    {
                        "dataset": f"{task.name}-prediction",
                        "task": task.name,
                        "run": str(Path(run_dir).absolute()),
                        "input": str(input.absolute()),
                        "input_key": key,
                        "checkpoint": list(run.checkpoint),
                        "created_utc": utc_now(),
                        "versions": package_versions(),
                    },
                )
    return out
