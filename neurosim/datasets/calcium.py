"""Synthetic two-photon calcium imaging with ground-truth spikes (spec: observations.md).

Cells are simulated in chunks (``chunk`` cells at a time, each chunk with its own random stream
``fold_in(seed, chunk index)``): spikes from a source (inhomogeneous Poisson, bursty renewal,
Hodgkin–Huxley neurons or the E/I ring), then the calcium forward model of
:mod:`neurosim.observe.calcium` at the requested frame rate and noise level ν. The same seed and
parameters (chunk included) give the same file, and an interrupted run resumes at the next
chunk.

Formats:
- ``hdf5``: one file with ``dff`` (cells, frames) ΔF/F, ``spikes`` (cells, frames) counts per
  frame, ``spike_times_s`` (cells,) the exact spike times (variable length), per-cell
  ``noise_level`` (achieved ν), ``noise_sigma``, ``amplitude_scale``, ``tau_rise_s``,
  ``tau_decay_s``, ``t_s`` the time of each frame, and every parameter as attributes.
- ``spikefinder``: a folder with ``1.train.calcium.csv`` and ``1.train.spikes.csv`` (the layout
  of the Spikefinder challenge: read them with :func:`neurosim.spikefinder.read_recording`) and
  ``1.train.params.json`` (parameters, achieved ν per cell, versions). ``params.json`` is written
  last and marks the folder complete; until then the simulation is kept in the folder's
  ``.neurosim-calcium.h5``, and an interrupted run is finished by the same command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import jax
import numpy as np

from ..argtypes import nonneg_float, positive_float, positive_int
from ..io import (
    PARTIAL_SUFFIX,
    ChunkedH5Writer,
    Generated,
    atomic_path,
    check_output_path,
    finished_file_matches,
    read_h5,
    shard_attrs,
    shard_output_path,
    shard_rows,
)
from ..observe.calcium import CalciumConfig, n_frames_for, neuropil_trace, simulate_calcium
from ..observe.indicators import PRESETS, get_indicator
from ..observe.sources import (
    SpikeTrains,
    bursty_spike_times,
    poisson_spike_times,
    random_rates,
)
from ..provenance import to_json
from .options import add_common_output_args, add_config_arguments, config_from_args, option
from .registry import DatasetSpec, register

NAME = "calcium"
SOURCES = ("poisson", "bursty", "hh", "ring")
FORMATS = ("hdf5", "spikefinder")
_TAG_NEUROPIL = 7_000_001


@dataclass(frozen=True)
class CalciumDatasetConfig:
    """Parameters of a synthetic calcium dataset (defaults: the CLI's).

    Attributes:
        cells: number of cells.
        duration_s: recording length (s).
        frame_rate_hz: frames per second.
        noise_level: requested CASCADE noise level ν (%·s^-1/2).
        indicator: indicator preset (``ogb1``, ``gcamp5k``, ``gcamp6s``, ``gcamp6f``).
        source: spike source: ``poisson``, ``bursty``, ``hh`` or ``ring``.
        rate_hz: mean firing rate of the population (poisson, bursty).
        rate_spread: standard deviation of the log mean rate across cells.
        rate_modulation: standard deviation of the log rate over time (0: constant rates).
        rate_timescale_s: correlation time of the rate modulation (s).
        burst_size: mean spikes per burst (bursty).
        intra_burst_isi_ms: mean interval inside a burst (ms).
        drift_sd: standard deviation of the slow baseline drift (ΔF/F).
        drift_timescale_s: correlation time of the drift (s).
        neuropil: weight of the shared neuropil trace in each cell (0: none).
        amplitude_cv: cell-to-cell coefficient of variation of the ΔF/F scale.
        spike_amplitude_cv: spike-to-spike coefficient of variation of the calcium influx.
        tau_cv: cell-to-cell coefficient of variation of the time constants.
        hh_dt_ms: integration step of the HH source (ms).
        ring_preset: parameter preset of the ring source (``fig1``, ``fig2``, ``fig3``); cell i
            is cell ``i mod 600`` of ring trial ``i // 600`` (E cells 0-299, I cells 300-599).
        seed: random seed.
        chunk: cells simulated at a time (part of the random stream layout).
    """

    # Fields declared with option() are also the CLI's options (`neurosim generate calcium`).
    cells: int = option(100, type=positive_int, help="number of cells (default {default})")
    duration_s: float = option(
        300.0, type=positive_float, help="recording length in seconds (default {default:g})"
    )
    frame_rate_hz: float = option(
        100.0,
        flag="--frame-rate",
        type=positive_float,
        help="frames per second (default {default:g})",
    )
    noise_level: float = option(
        2.0,
        type=positive_float,
        help="noise level ν as CASCADE defines it, 100·median|ΔF/F(t+1)−ΔF/F(t)|/√f in "
        "%%·s^-1/2: 1 excellent, 3-4 decent, >5 poor (default {default:g})",
    )
    indicator: str = option(
        "gcamp6s",
        choices=sorted(PRESETS),
        help="indicator preset (default {default}; values in docs/calcium.md)",
    )
    source: str = option(
        "bursty",
        choices=SOURCES,
        help="spike source (default {default}): inhomogeneous Poisson, bursty renewal, "
        "Hodgkin-Huxley neurons, or cells of the 600-cell E/I ring (hh and ring simulate the "
        "network: slower, about a second per simulated second per 600 cells)",
    )
    rate_hz: float = option(
        5.0, type=nonneg_float, help="mean firing rate, poisson/bursty (default {default:g})"
    )
    rate_spread: float = option(
        0.5, type=nonneg_float, help="sd of log mean rate across cells (default {default:g})"
    )
    rate_modulation: float = option(
        0.7,
        type=nonneg_float,
        help="sd of log rate over time, 0 = constant (default {default:g})",
    )
    rate_timescale_s: float = option(
        2.0, type=positive_float, help="correlation time of the rate (default {default:g})"
    )
    burst_size: float = option(
        3.0, type=positive_float, help="mean spikes per burst, bursty source (default {default:g})"
    )
    intra_burst_isi_ms: float = option(
        8.0, type=positive_float, help="mean interval inside a burst in ms (default {default:g})"
    )
    drift_sd: float = option(
        0.02, type=nonneg_float, help="sd of the slow baseline drift, ΔF/F (default {default:g})"
    )
    drift_timescale_s: float = option(
        30.0, type=positive_float, help="correlation time of the drift (default {default:g})"
    )
    neuropil: float = option(
        0.0, type=nonneg_float, help="neuropil contamination weight, 0 = none (default {default:g})"
    )
    amplitude_cv: float = option(
        0.2, type=nonneg_float, help="cell-to-cell CV of ΔF/F scale (default {default:g})"
    )
    spike_amplitude_cv: float = option(
        0.1, type=nonneg_float, help="spike-to-spike CV of calcium influx (default {default:g})"
    )
    tau_cv: float = option(
        0.1, type=nonneg_float, help="cell-to-cell CV of the time constants (default {default:g})"
    )
    hh_dt_ms: float = 0.025
    ring_preset: str = option(
        "fig1",
        choices=("fig1", "fig2", "fig3"),
        help="ring parameters for --source ring (default {default})",
    )
    seed: int = 0
    chunk: int = option(
        200,
        type=positive_int,
        help="cells simulated at a time; part of the random stream (default {default})",
    )

    def check(self) -> None:
        if not isinstance(self.cells, int) or self.cells < 1:
            raise ValueError(f"cells must be a positive integer, got {self.cells!r}")
        if not isinstance(self.chunk, int) or self.chunk < 1:
            raise ValueError(f"chunk must be a positive integer, got {self.chunk!r}")
        if self.ring_preset not in ("fig1", "fig2", "fig3"):
            raise ValueError(f"ring_preset {self.ring_preset!r} is not one of fig1, fig2, fig3")
        if self.source not in SOURCES:
            raise ValueError(f"source {self.source!r} is not one of {', '.join(SOURCES)}")
        get_indicator(self.indicator)
        for name in (
            "duration_s",
            "frame_rate_hz",
            "noise_level",
            "rate_timescale_s",
            "drift_timescale_s",
            "hh_dt_ms",
            "intra_burst_isi_ms",
        ):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        for name in (
            "rate_hz",
            "rate_spread",
            "rate_modulation",
            "drift_sd",
            "neuropil",
            "amplitude_cv",
            "spike_amplitude_cv",
            "tau_cv",
        ):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} must be a number >= 0, got {v!r}")
        if self.burst_size < 1:
            raise ValueError(f"burst_size must be >= 1, got {self.burst_size}")
        if self.intra_burst_isi_ms <= 2.0:
            raise ValueError(
                f"intra_burst_isi_ms must exceed the 2 ms refractory period, got "
                f"{self.intra_burst_isi_ms}"
            )
        if self.n_frames < 2:
            raise ValueError(
                f"{self.duration_s} s at {self.frame_rate_hz} Hz is fewer than 2 frames"
            )

    @property
    def n_frames(self) -> int:
        return n_frames_for(self.duration_s, self.frame_rate_hz)

    def recording_config(self) -> CalciumConfig:
        return CalciumConfig(
            frame_rate_hz=self.frame_rate_hz,
            noise_level=self.noise_level,
            drift_sd=self.drift_sd,
            drift_timescale_s=self.drift_timescale_s,
            neuropil_coef=self.neuropil,
            amplitude_cv_cell=self.amplitude_cv,
            amplitude_cv_spike=self.spike_amplitude_cv,
            tau_cv_cell=self.tau_cv,
        )


# ---------------------------------------------------------------------------------- sources


def _hh_spikes(cfg: CalciumDatasetConfig, n: int, key) -> SpikeTrains:
    """``n`` point HH neurons driven by Poisson synapses; excitatory drive varies across cells."""
    from ..hh import PoissonSynapses, simulate_hh

    k_drive, k_sim = jax.random.split(key)
    g = np.asarray(jax.random.normal(k_drive, (n,)), np.float64)
    rate_e = 2000.0 * np.exp(0.08 * g)  # ~10 Hz on average, a spread of rates
    dt = cfg.hh_dt_ms
    steps = int(round(cfg.duration_s * 1000.0 / dt))
    max_spikes = int(cfg.duration_s * 80) + 64
    res = simulate_hh(
        PoissonSynapses(rate_e_hz=rate_e.astype(np.float32)),
        steps * dt,
        dt=dt,
        n=n,
        key=k_sim,
        max_spikes=max_spikes,
    )
    counts = np.asarray(res.spike_counts)
    if np.any(counts > max_spikes) or np.any(np.asarray(res.spikes_lost) > 0):
        raise RuntimeError("HH source fired faster than the spike buffer holds; lower the drive")
    t = np.asarray(res.spike_times, np.float64) / 1000.0
    t = np.where(np.isnan(t), np.inf, t)
    return SpikeTrains(t, cfg.duration_s)


_RING_CACHE: dict = {}
_TAG_RING = 7_000_002
RING_WARMUP_MS = 200.0


def _ring_trial(cfg: CalciumDatasetConfig, trial: int) -> list[np.ndarray]:
    """Spike times (s) of the 600 cells of ring trial ``trial`` (E cells first), after a 200 ms
    warm-up; one trial is cached so consecutive chunks do not simulate it again."""
    from ..ring import ring_params, simulate_ring

    ck = (cfg.seed, cfg.ring_preset, cfg.duration_s, trial)
    if ck in _RING_CACHE:
        return _RING_CACHE[ck]
    p = ring_params(cfg.ring_preset)
    total_ms = math.ceil((cfg.duration_s * 1000.0 + RING_WARMUP_MS) / 10.0) * 10.0
    res = simulate_ring(
        p,
        key=jax.random.fold_in(jax.random.key(cfg.seed), _TAG_RING),
        duration_ms=total_ms,
        n_trials=1,
        trial_offset=trial,
        spikes=True,
    )
    t_ms, ids = res.spike_times_ms(0)
    t = (np.asarray(t_ms, np.float64) - RING_WARMUP_MS) / 1000.0
    keep = (t >= 0) & (t < cfg.duration_s)
    t, ids = t[keep], np.asarray(ids)[keep]
    order = np.argsort(ids, kind="stable")
    per_cell = np.split(t[order], np.cumsum(np.bincount(ids, minlength=p.n_cells))[:-1])
    _RING_CACHE.clear()
    _RING_CACHE[ck] = per_cell
    return per_cell


def _ring_spikes(cfg: CalciumDatasetConfig, first: int, n: int) -> SpikeTrains:
    """Cells ``first … first+n−1`` of consecutive ring trials (600 cells each, E then I)."""
    from ..ring import ring_params

    n_net = int(ring_params(cfg.ring_preset).n_cells)
    rows = []
    for cell in range(first, first + n):
        rows.append(_ring_trial(cfg, cell // n_net)[cell % n_net])
    k = max(1, max(len(r) for r in rows))
    times = np.full((n, k), np.inf)
    for i, r in enumerate(rows):
        times[i, : len(r)] = np.sort(r)
    return SpikeTrains(times, cfg.duration_s)


def chunk_spikes(cfg: CalciumDatasetConfig, first: int, n: int, key) -> SpikeTrains:
    """Spike trains of cells ``first … first+n−1`` (one chunk) from the configured source."""
    if cfg.source in ("poisson", "bursty"):
        k_rate, k_spk = jax.random.split(key)
        rates, _ = random_rates(
            n,
            cfg.duration_s,
            key=k_rate,
            mean_rate_hz=cfg.rate_hz,
            cell_spread=cfg.rate_spread,
            modulation=cfg.rate_modulation,
            timescale_s=cfg.rate_timescale_s,
        )
        if cfg.source == "poisson":
            return poisson_spike_times(rates, cfg.duration_s, key=k_spk)
        return bursty_spike_times(
            rates,
            cfg.duration_s,
            key=k_spk,
            mean_burst_size=cfg.burst_size,
            intra_burst_isi_s=cfg.intra_burst_isi_ms / 1000.0,
            refractory_s=0.002,
        )
    if cfg.source == "hh":
        return _hh_spikes(cfg, n, key)
    return _ring_spikes(cfg, first, n)


# --------------------------------------------------------------------------------- generate


def _attrs(cfg: CalciumDatasetConfig) -> dict:
    ind = get_indicator(cfg.indicator)
    return {
        "dataset": NAME,
        "description": "synthetic calcium imaging (ΔF/F) with ground-truth spikes",
        **{f"config.{k}": v for k, v in asdict(cfg).items()},
        "seed": cfg.seed,
        "indicator": asdict(ind),
        "frame_rate_hz": cfg.frame_rate_hz,
        "units": {
            "dff": "ΔF/F (fraction)",
            "spikes": "spikes per frame",
            "spike_times_s": "s",
            "noise_level": "%·s^-1/2 (CASCADE ν)",
            "t_s": "s",
        },
        "frame_convention": "frame n covers [n/f, (n+1)/f); dff[n] is sampled at (n+1)/f",
    }


def generate_calcium(
    out: str | os.PathLike,
    cfg: CalciumDatasetConfig = CalciumDatasetConfig(),
    *,
    fmt: str = "hdf5",
    overwrite: bool = False,
    progress: bool = True,
    process: tuple[int, int] | None = None,
) -> Generated:
    """Write a synthetic calcium dataset (see the module docstring for the formats).

    Args:
        out: an ``.h5`` file (``fmt="hdf5"``) or a folder (``fmt="spikefinder"``).
        cfg: the parameters.
        fmt: ``"hdf5"`` or ``"spikefinder"``.
        overwrite: replace an existing output.
        progress: show a progress bar.
        process: ``(index, count)``: write only shard ``index`` of ``count`` to
            :func:`neurosim.io.shard_path` ``(out)``: a contiguous run of whole chunks of cells
            (:func:`neurosim.io.shard_rows` with ``block=cfg.chunk``, so that every chunk keeps
            its random stream ``fold_in(key(seed), chunk index)``); ``neurosim join-shards``
            joins the shards into the file one process writes, array for array, and computes
            the summary attributes again over all cells. Default: ``(jax.process_index(),
            jax.process_count())``, one whole file unless JAX runs several processes. Only
            ``fmt="hdf5"`` can be sharded.

    Returns:
        ``(path, summary)``: the path written, and the achieved noise levels and firing rate
        (``noise_level_median``, ``noise_level_min``, ``noise_level_max``,
        ``cells_noise_unreachable``, ``spikes_total``, ``mean_rate_hz``; also stored in the
        file's attributes or ``1.train.params.json``). :func:`summary_lines` words them. For
        a shard: those of its own cells (empty for a shard without cells).

    Raises:
        ValueError: bad parameters or output path, or ``spikefinder`` with several processes;
        FileExistsError: output exists.
    """
    from .. import parallel

    cfg.check()
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    index, count = parallel.process_shard() if process is None else process
    shard_rows(cfg.cells, index, count, block=cfg.chunk)  # checks index and count
    if fmt == "hdf5":
        path = shard_output_path(out, index, count, overwrite=overwrite)
        return Generated(*_generate_h5(path, cfg, progress=progress, shard=(index, count)))
    if count > 1:
        raise ValueError(
            f"--format spikefinder is one folder of CSV tables and cannot be written by "
            f"{count} processes; write it in one process, or write --format hdf5 shards and "
            "join them (neurosim join-shards)"
        )
    return _generate_spikefinder(Path(out), cfg, overwrite=overwrite, progress=progress)


#: The simulation behind a Spikefinder folder, kept in the folder until the CSV files and
#: ``1.train.params.json`` are written.
WORK_FILE = ".neurosim-calcium.h5"
STATS = (
    "noise_level_median",
    "noise_level_min",
    "noise_level_max",
    "cells_noise_unreachable",
    "spikes_total",
    "mean_rate_hz",
)


def _generate_spikefinder(
    folder: Path, cfg: CalciumDatasetConfig, *, overwrite: bool, progress: bool
) -> Generated:
    """The Spikefinder layout, written so that a folder is either complete or visibly unfinished.

    The cells are simulated into the work file ``WORK_FILE`` in the folder (resumable like any
    HDF5 dataset); then ``1.train.calcium.csv`` and ``1.train.spikes.csv`` are written, and
    ``1.train.params.json`` last: it marks the set complete. A folder with CSV files but no
    ``params.json`` and a neurosim work file is an interrupted run: the same command finishes it
    (reusing a finished work file of the same parameters, so nothing is simulated again).
    """
    from ..spikefinder import write_table

    if folder.suffix.lower() in (".h5", ".hdf5", ".csv"):
        raise ValueError(
            f"--format spikefinder writes a folder, got {str(folder)!r}; give a folder name "
            "(or use --format hdf5 for a .h5 file)"
        )
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{str(folder)!r} exists and is not a folder")
    cal, spk, params = (
        folder / f"1.train.{n}" for n in ("calcium.csv", "spikes.csv", "params.json")
    )
    work = folder / WORK_FILE
    started = work.exists() or work.with_name(work.name + PARTIAL_SUFFIX).exists()
    if params.exists() and not overwrite:
        raise FileExistsError(
            f"{str(folder)!r} already holds a Spikefinder dataset; pass --overwrite to replace it "
            "(nothing was written)"
        )
    if (cal.exists() or spk.exists()) and not params.exists() and not started and not overwrite:
        raise FileExistsError(
            f"{str(folder)!r} holds {cal.name} or {spk.name} but neither {params.name} nor a "
            f"neurosim work file ({WORK_FILE}): not a neurosim dataset; pass --overwrite to "
            "replace them (nothing was written)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    if not finished_file_matches(work, _attrs(cfg)):  # else: reuse a finished simulation
        _generate_h5(work, cfg, progress=progress)
    arrays, attrs = read_h5(work, ("dff", "spikes", "noise_level"))
    stats = {k: attrs[k] for k in STATS}
    # from here on the folder is unfinished until params.json is back
    params.unlink(missing_ok=True)
    write_table(cal, list(arrays["dff"].astype(np.float64)))
    write_table(spk, list(arrays["spikes"].astype(np.float64)))
    meta = dict(attrs)
    meta["noise_level_achieved"] = arrays["noise_level"].tolist()
    meta["layout"] = (
        "Spikefinder: header 0,1,…; one column per cell; one row per frame at "
        f"{cfg.frame_rate_hz:g} Hz; spikes are counts per frame"
    )
    with atomic_path(params) as tmp:
        tmp.write_text(json.dumps(json.loads(to_json(meta)), indent=1))
    work.unlink()
    return Generated(folder, stats)


def summary_lines(cfg: CalciumDatasetConfig, summary: dict, cells: int | None = None) -> list[str]:
    """The achieved noise level and rate in words (what the CLI prints after generating) of
    ``cells`` cells (default ``cfg.cells``; fewer for a shard)."""
    cells = cfg.cells if cells is None else cells
    if not summary:
        return [f"no cells in this shard ({cfg.cells} cells in chunks of {cfg.chunk})"]
    lines = [
        f"noise level ν: requested {cfg.noise_level:g}, achieved median "
        f"{summary['noise_level_median']:.3g} (range {summary['noise_level_min']:.3g}–"
        f"{summary['noise_level_max']:.3g}); mean rate {summary['mean_rate_hz']:.2f} Hz"
    ]
    unreachable = summary["cells_noise_unreachable"]
    if unreachable:
        lines.append(
            f"warning: in {unreachable} of {cells} cells the signal alone is noisier than "
            f"ν = {cfg.noise_level:g}; no noise was added there (their ν is reported in "
            "'noise_level')"
        )
    return lines


#: the arrays with one row per cell (split between the shards of several processes)
ROW_ARRAYS = ("dff", "spikes", "noise_level", "noise_sigma", "amplitude_scale", "tau_rise_s",
              "tau_decay_s", "spike_times_s")  # fmt: skip


def summarise(f: h5py.File) -> dict:
    """The summary attributes (:data:`STATS`) over every cell of an open calcium file: what
    ``neurosim join-shards`` writes into a joined file (each shard holds its own cells')."""
    from ..provenance import read_attrs

    n, T = f["dff"].shape
    nu, sigma = f["noise_level"][()], f["noise_sigma"][()]
    spikes_total = int(np.asarray(f["spikes"][()], np.int64).sum())
    rate = float(read_attrs(f)["frame_rate_hz"])
    return {
        "noise_level_median": float(np.median(nu)),
        "noise_level_min": float(nu.min()),
        "noise_level_max": float(nu.max()),
        "cells_noise_unreachable": int(np.sum(sigma == 0)),
        "spikes_total": spikes_total,
        "mean_rate_hz": spikes_total / (n * T / rate),
    }


def _generate_h5(
    path: Path, cfg: CalciumDatasetConfig, *, progress: bool, shard: tuple[int, int] = (0, 1)
) -> tuple[Path, dict]:
    """Cells of shard ``shard = (index, count)`` (all of them for ``(0, 1)``) into ``path``."""
    from ..progress import progress_bar

    ind = get_indicator(cfg.indicator)
    rcfg = cfg.recording_config()
    index, count = shard
    lo, hi = shard_rows(cfg.cells, index, count, block=cfg.chunk)  # lo: a chunk boundary
    n, T = hi - lo, cfg.n_frames
    f = cfg.frame_rate_hz
    key = jax.random.key(cfg.seed)
    arrays = {
        "dff": ((n, T), np.float32),
        "spikes": ((n, T), np.uint16),
        "noise_level": ((n,), np.float64),
        "noise_sigma": ((n,), np.float64),
        "amplitude_scale": ((n,), np.float64),
        "tau_rise_s": ((n,), np.float64),
        "tau_decay_s": ((n,), np.float64),
    }
    attrs = _attrs(cfg)
    if count > 1:
        attrs.update(
            shard_attrs(cfg.cells, index, count, ROW_ARRAYS, block=cfg.chunk, summary=STATS)
        )
    neuropil = None
    extra = {"t_s": ((np.arange(T) + 1) / f).astype(np.float64)}
    if cfg.neuropil > 0:
        neuropil = neuropil_trace(T, ind, rcfg, key=jax.random.fold_in(key, _TAG_NEUROPIL))
        extra["neuropil"] = neuropil
    with ChunkedH5Writer(path, arrays, attrs, extra_arrays=extra) as w:
        if "spike_times_s" not in w.f:
            w.f.create_dataset("spike_times_s", shape=(n,), dtype=h5py.vlen_dtype(np.float64))
        done = w.rows_done("dff")
        bar = progress_bar(
            total=n, initial=done, unit="cell", desc=f"{NAME} → {path.name}", disable=not progress
        )
        for start in range(lo, hi, cfg.chunk):
            stop = min(start + cfg.chunk, hi)
            row = start - lo  # the chunk's first row in this file
            if stop - lo <= done:
                continue
            ckey = jax.random.fold_in(key, start // cfg.chunk)
            k_spk, k_rec = jax.random.split(ckey)
            spikes = chunk_spikes(cfg, start, stop - start, k_spk)
            rec = simulate_calcium(spikes, ind, rcfg, key=k_rec, n_frames=T, neuropil=neuropil)
            if rec.spike_counts.max(initial=0) > np.iinfo(np.uint16).max:
                raise RuntimeError("more than 65535 spikes in one frame: the source is unphysical")
            st = w.f["spike_times_s"]
            for i in range(stop - start):
                times = rec.spike_times_s[i]
                st[row + i] = times[np.isfinite(times) & (times < T / f)]
            w.write_rows(
                row,
                {
                    "dff": rec.dff,
                    "spikes": rec.spike_counts.astype(np.uint16),
                    "noise_level": rec.noise_level,
                    "noise_sigma": rec.noise_sigma,
                    "amplitude_scale": rec.amplitude_scale,
                    "tau_rise_s": rec.tau_rise_s,
                    "tau_decay_s": rec.tau_decay_s,
                },
            )
            bar.update(stop - start)
        bar.close()
        stats = summarise(w.f) if n > 0 else {}  # a shard without cells has no statistics
        out = w.finish(stats)
    return out, stats


# ------------------------------------------------------------------------------ load, plot


def load_calcium(path: str | os.PathLike):
    """``(arrays, attrs)`` of a calcium HDF5 file (checks it is one)."""
    arrays, attrs = read_h5(path)
    if attrs.get("dataset") != NAME:
        raise ValueError(f"{str(path)!r} is a {attrs.get('dataset')!r} dataset, not {NAME!r}")
    return arrays, attrs


def plot_calcium(path, out_png, n: int = 5, seconds: float = 30.0):
    """A few cells: ΔF/F with their spikes, and the distribution of achieved ν."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arrays, attrs = load_calcium(path)
    dff, spikes, t = arrays["dff"], arrays["spikes"], arrays["t_s"]
    f = float(attrs["frame_rate_hz"])
    k = min(len(t), int(seconds * f))
    n = min(n, len(dff))
    fig, axes = plt.subplots(n + 1, 1, figsize=(10, 1.6 * n + 2.2), constrained_layout=True)
    for i in range(n):
        ax = axes[i]
        ax.plot(t[:k], dff[i, :k], lw=0.7, color="#1b9e77")
        sp = np.flatnonzero(spikes[i, :k])
        lo = float(np.min(dff[i, :k]))
        ax.plot(t[sp], np.full(sp.size, lo), "|", color="k", ms=8)
        ax.set_ylabel(f"cell {i}\nΔF/F")
    axes[n - 1].set_xlabel("time (s)")
    axes[0].set_title(
        f"{NAME}: {attrs.get('config.indicator')}, source {attrs.get('config.source')}, "
        f"{f:g} Hz, requested ν = {attrs.get('config.noise_level')}"
    )
    axes[n].hist(arrays["noise_level"], bins=30, color="0.4")
    axes[n].set_xlabel("achieved noise level ν (%·s^-1/2) per cell")
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return Path(out_png)


# ------------------------------------------------------------------------------------ CLI


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, CalciumDatasetConfig)
    p.add_argument(
        "--format",
        default="hdf5",
        choices=FORMATS,
        help="hdf5: one .h5 file (or one shard per process with --distributed); spikefinder: "
        "a folder with 1.train.calcium.csv, 1.train.spikes.csv, 1.train.params.json, written "
        "by one process (default hdf5)",
    )
    add_common_output_args(
        p, out_help="output: FILE.h5 (--format hdf5) or a folder (--format spikefinder)"
    )


def _generate(args: argparse.Namespace) -> Path:
    from .. import parallel

    cfg = config_from_args(CalciumDatasetConfig, args, seed=args.seed)
    index, count = parallel.process_shard()
    path, summary = generate_calcium(
        args.out,
        cfg,
        fmt=args.format,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        process=(index, count),
    )
    lo, hi = shard_rows(cfg.cells, index, count, block=cfg.chunk)
    prefix = f"shard {index} of {count} (cells {lo}-{hi - 1}): " if count > 1 else ""
    for line in summary_lines(cfg, summary, cells=hi - lo):
        print(prefix + line)
    return path


register(
    DatasetSpec(
        name=NAME,
        description="calcium imaging ΔF/F + ground-truth spikes (Poisson/bursty/HH/ring sources, "
        "OGB-1/GCaMP presets, noise level ν), HDF5 or Spikefinder CSV",
        add_arguments=_add_arguments,
        generate=_generate,
        plot=plot_calcium,
        multiprocess=True,
        summarise=summarise,
    )
)

__all__ = [
    "CalciumDatasetConfig",
    "chunk_spikes",
    "generate_calcium",
    "load_calcium",
    "plot_calcium",
    "summary_lines",
]


# ------------------------------------------------------------------------------ mixtures


def generate_calcium_mixture(
    out: str | os.PathLike,
    cfgs: list[CalciumDatasetConfig],
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> Generated:
    """One HDF5 calcium file whose cells come from several configs (e.g. noise levels ν or
    indicators): each part is generated as :func:`generate_calcium` would (same seed, same
    cells), then the cells are laid end to end.

    All parts must share the frame rate and duration. Besides the arrays of a calcium file it
    holds ``part`` (cells,) the index of each cell's config, and ``noise_level_requested``
    (cells,); its attributes are those of the first part plus ``parts`` (every part's
    parameters). The parts are kept beside ``out`` while it is made, so an interrupted run
    resumes part by part; the file appears only when complete.
    """
    if not cfgs:
        raise ValueError("a mixture needs at least one config")
    for c in cfgs:
        c.check()
    rates = {c.frame_rate_hz for c in cfgs}
    durations = {c.duration_s for c in cfgs}
    if len(rates) > 1 or len(durations) > 1:
        raise ValueError(
            f"the parts of a mixture need one frame rate and one duration, got frame rates "
            f"{sorted(rates)} and durations {sorted(durations)}"
        )
    path = check_output_path(out, overwrite=overwrite, suffixes=(".h5", ".hdf5"))
    parts = []
    for i, c in enumerate(cfgs):
        part = path.with_name(f".{path.stem}.part{i}.h5")
        if not finished_file_matches(part, _attrs(c)):
            _generate_h5(part, c, progress=progress)
        parts.append(part)
    keys = ("dff", "spikes", "noise_level", "noise_sigma", "amplitude_scale", "tau_rise_s",
            "tau_decay_s")  # fmt: skip
    arrays = {k: [] for k in keys}
    times, part_of, requested = [], [], []
    for i, (c, p) in enumerate(zip(cfgs, parts, strict=True)):
        a, _ = read_h5(p, keys)
        for k in keys:
            arrays[k].append(a[k])
        with h5py.File(p, "r") as f:
            times.extend(np.asarray(t, np.float64) for t in f["spike_times_s"][()])
            t_s = np.asarray(f["t_s"][()])
        part_of.append(np.full(c.cells, i, np.int32))
        requested.append(np.full(c.cells, c.noise_level, np.float64))
    from ..provenance import package_versions, utc_now, write_attrs

    attrs = _attrs(cfgs[0])
    attrs["versions"] = package_versions()
    attrs["created_utc"] = utc_now()
    attrs["parts"] = [asdict(c) for c in cfgs]
    attrs["config.cells"] = int(sum(c.cells for c in cfgs))
    attrs["description"] = "synthetic calcium imaging (ΔF/F) with ground-truth spikes: a mixture"
    nu = np.concatenate(arrays["noise_level"])
    spikes = np.concatenate(arrays["spikes"])
    n = len(nu)
    stats = {
        "noise_level_median": float(np.median(nu)),
        "noise_level_min": float(nu.min()),
        "noise_level_max": float(nu.max()),
        "cells_noise_unreachable": int(np.sum(np.concatenate(arrays["noise_sigma"]) == 0)),
        "spikes_total": int(spikes.astype(np.int64).sum()),
        "mean_rate_hz": float(
            spikes.astype(np.int64).sum() / (n * len(t_s) / cfgs[0].frame_rate_hz)
        ),
    }
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for k in keys:
                f.create_dataset(k, data=np.concatenate(arrays[k]))
            st = f.create_dataset("spike_times_s", shape=(n,), dtype=h5py.vlen_dtype(np.float64))
            for i, t in enumerate(times):
                st[i] = t
            f.create_dataset("t_s", data=t_s)
            f.create_dataset("part", data=np.concatenate(part_of))
            f.create_dataset("noise_level_requested", data=np.concatenate(requested))
            write_attrs(f, {**attrs, **stats})
    for p in parts:
        p.unlink(missing_ok=True)
    return Generated(path, stats)
