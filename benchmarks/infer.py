"""The ``infer`` suite: calcium spike inference, throughput (cell-hours/s) and Spikefinder correlation.

The traces: a calcium file made by ``neurosim generate calcium`` (bursty spikes, GCaMP6s, ν = 2,
100 Hz) with another seed than the training file, so no evaluated cell was trained on. Quality:
the mean over cells of the Spikefinder correlation (:func:`neurolearn.metrics.spikefinder_correlation`,
40 ms bins) between the true spike counts and each method's output. Throughput: cells × recorded
hours / wall seconds of inferring every trace (median of repeats; for the model the compilation
of its first call is apart).

Ours: the ``calcium-rate`` task when it is registered (its ``small`` preset trained briefly on
the training file, then ``task.predict_traces(run, traces)``); skipped with a note when not.
Peer (``--peers``): OASIS (``oasis-deconv``), ``deconvolve(y, penalty=1)`` per trace, with an
AR(1) model (decay estimated) and an AR(2) model (rise and decay estimated).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import _harness as H
from benchmarks import sim

EVAL = {
    "quick": ("--cells", "10", "--duration-s", "60"),
    "full": ("--cells", "50", "--duration-s", "300"),
}


def read_traces(path: Path) -> tuple[np.ndarray, np.ndarray, float]:
    """(dff (cells, T), spike counts (cells, T), frame rate Hz) of a calcium HDF5 file."""
    import h5py

    with h5py.File(path, "r") as f:
        return (
            np.asarray(f["dff"], np.float64),
            np.asarray(f["spikes"], np.float64),
            float(f.attrs["frame_rate_hz"]),
        )


def quality(truth: np.ndarray, pred: list[np.ndarray]) -> dict[str, float]:
    from neurolearn.metrics import spikefinder_correlation

    r = np.array([spikefinder_correlation(t, p) for t, p in zip(truth, pred, strict=True)])
    return {"spikefinder_r_mean": float(np.nanmean(r)), "spikefinder_r": r.tolist()}


def oasis_rows(dff, spikes, rate_hz, repeats: int) -> list[dict]:
    from oasis.functions import deconvolve

    hours = dff.shape[0] * dff.shape[1] / rate_hz / 3600
    rows = []
    for label, kw in (
        ("OASIS AR(1), decay estimated", {}),
        ("OASIS AR(2), rise and decay estimated", {"tau_d": None, "tau_r": None}),
    ):
        out: list[np.ndarray] = []

        def once(kw=kw, out=out):
            out[:] = [deconvolve(y, penalty=1, **kw).s for y in dff]
            return out

        t = H.measure(once, repeats=repeats, warmup=1, block=lambda x: x)
        rows.append(
            H.throughput_row(label, hours, "cell-hours/s", t, **quality(spikes, out), peer=True)
        )
        print(f"  {label}: r = {rows[-1]['spikefinder_r_mean']:.3f}", flush=True)
    return rows


def ours_rows(
    train_file: Path, dff, spikes, rate_hz, repeats: int, workdir: Path, *, epoch_size: int
) -> list[dict]:
    """The calcium-rate task: its ``small`` preset trained for one epoch of ``epoch_size``
    windows, then ``task.predict_traces`` on every trace."""
    from neurolearn.tasks import get
    from neurolearn.train import load_run, train_and_evaluate

    task = get("calcium-rate")
    folder = workdir / "calcium-rate-run"
    t0 = time.perf_counter()
    train_and_evaluate(
        task,
        {"epochs": 1, "epoch_size": epoch_size, "baseline_windows": 2000},
        preset="small",
        data=train_file,
        workdir=folder,
        progress=False,
        log=None,
    )
    train_s = time.perf_counter() - t0
    run = load_run(folder)
    traces = [y.reshape(-1, 1).astype(np.float32) for y in dff]
    out: list[np.ndarray] = []

    def once():
        out[:] = [
            np.asarray(p).reshape(-1) for p in task.predict_traces(run, traces, frame_rate=rate_hz)
        ]
        return out

    t = H.measure(once, repeats=repeats, block=lambda x: x)
    hours = dff.shape[0] * dff.shape[1] / rate_hz / 3600
    return [
        H.throughput_row(
            f"neurolearn calcium-rate (small preset, 1 epoch of {epoch_size} windows)",
            hours,
            "cell-hours/s",
            t,
            **quality(spikes, out),
            train_s=train_s,
            peer=False,
        )
    ]


def run(*, quick: bool, peers: bool, files: dict[str, Path], workdir: Path, skipped: list):
    from neurolearn.tasks import all_tasks

    size = "quick" if quick else "full"
    repeats = 2 if quick else 3
    eval_file = workdir / "calcium-eval.h5"
    wall, cmd = sim.generate("calcium", (*EVAL[size], "--noise-level", "2"), eval_file, seed=1)
    dff, spikes, rate = read_traces(eval_file)
    out: dict[str, Any] = {
        "traces": {
            "command": cmd,
            "cells": dff.shape[0],
            "frames": dff.shape[1],
            "frame_rate_hz": rate,
        },
        "rows": [],
    }
    if "calcium-rate" in all_tasks():
        train_file = files.get("calcium")
        if train_file is None:
            train_file = workdir / "calcium.h5"
            sim.generate("calcium", sim.DATASETS["calcium"][size][0], train_file)
        with tempfile.TemporaryDirectory(dir=workdir) as d:
            out["rows"] += ours_rows(
                Path(train_file),
                dff,
                spikes,
                rate,
                repeats,
                Path(d),
                epoch_size=4096 if quick else 20_000,
            )
    else:
        skipped.append(
            {
                "what": "infer: neurolearn calcium-rate",
                "reason": "task not registered in this checkout",
            }
        )
    if peers:
        try:
            import oasis.functions  # noqa: F401

            out["rows"] += oasis_rows(dff, spikes, rate, repeats)
        except ImportError:
            skipped.append({"what": "OASIS", "reason": "oasis-deconv not installed (.[bench])"})
    ours = [r for r in out["rows"] if not r["peer"]]
    for r in out["rows"]:
        if r["peer"] and ours:
            r["ratio_peer_over_ours"] = r["median_s"] / ours[0]["median_s"]
    return out
