"""Spike inference on a recording with a model trained only on matched simulations
(``neurolearn infer-spikes``).

CASCADE's approach (Rupprecht et al. 2021), for an arbitrary indicator and frame rate and with no
ground truth: measure the recording, simulate cells recorded the same way, train on them, predict.

1. Read the recording (Spikefinder layout: one column per cell, NaN-padded; 100 Hz unless
   ``frame_rate`` says otherwise; traces at another rate are Fourier-resampled to 100 Hz).
2. Its native frame rate: the Spikefinder files were acquired at 7.8–60 Hz and Fourier-resampled
   to 100 Hz, which leaves no power above the native Nyquist frequency
   (:func:`neurosim.observe.realism.native_frame_rate`); ``native_rate`` overrides it.
3. Its noise: the files are normalised, not ΔF/F, so ν in ΔF/F units cannot be read off them.
   What can be matched is scale-free: the median over cells of ν of the 5th/80th-percentile
   normalised 100 Hz trace (noise relative to the size of the transients). Synthetic cells of
   the chosen indicator, recorded at the native rate, resampled and normalised the same way, have
   that statistic increasing with their ΔF/F noise ν: bisection on log ν finds the ν whose
   synthetic cells match the recording (:func:`match_noise`).
4. A training set at ν × ``noise_factors`` (a mixture, so the model sees the recording's noise
   level and its neighbours), at the native rate, from the bursty spike source
   (:func:`neurosim.datasets.calcium.generate_calcium_mixture`), and a calcium-rate model trained
   on it (preset ``config``). Both are cached under ``cache`` by a hash of every parameter: a
   second recording with the same estimates reuses them; an interrupted run resumes.
5. Predictions of every frame (Spikefinder layout, the input's lengths, NaN where it was NaN)
   and a JSON report beside them of every choice, estimate, path and version.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["InferSettings", "infer_spikes", "match_noise", "recording_noise"]

#: 100 Hz: the model's frame rate
MODEL_RATE = 100.0


@dataclass(frozen=True)
class InferSettings:
    """What ``infer-spikes`` chooses when not told (every field is recorded in the report).

    Attributes:
        indicator: indicator preset of the simulated cells (``neurosim generate calcium
            --help`` lists them); the recording's own indicator when known.
        frame_rate: the recording file's frame rate (Hz).
        native_rate: the rate it was acquired at (None: estimated from its spectrum).
        noise_factors: the training set's noise levels, as multiples of the matched ν.
        cells_per_level: simulated cells per noise level.
        duration_s: simulated seconds per cell.
        config: the calcium-rate preset to train (``best``, ``seed``, ``small``).
        overrides: config overrides on top of the preset (``{"epochs": 5}``).
        seed: seed of the simulation and the training.
        match_cells, match_duration_s: size of the simulations that match the noise.
    """

    indicator: str = "gcamp6s"
    frame_rate: float = MODEL_RATE
    native_rate: float | None = None
    noise_factors: tuple[float, ...] = (0.5, 1.0, 2.0)
    cells_per_level: int = 40
    duration_s: float = 300.0
    config: str = "best"
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    match_cells: int = 8
    match_duration_s: float = 120.0

    def check(self) -> None:
        from neurosim.observe.indicators import get_indicator

        get_indicator(self.indicator)
        if not (self.frame_rate > 0 and math.isfinite(self.frame_rate)):
            raise ValueError(f"--frame-rate must be a positive number of Hz, got {self.frame_rate}")
        if self.native_rate is not None and not 0 < self.native_rate <= self.frame_rate * 1.0001:
            raise ValueError(
                f"--native-rate must be in (0, {self.frame_rate:g}] Hz (the file's rate), got "
                f"{self.native_rate}"
            )
        if not self.noise_factors or any(not f > 0 for f in self.noise_factors):
            raise ValueError(f"noise factors must be > 0, got {list(self.noise_factors)}")
        if self.cells_per_level < 2:
            raise ValueError(f"--cells must be >= 2 per noise level, got {self.cells_per_level}")
        if not self.duration_s > 0:
            raise ValueError(f"--duration-s must be > 0, got {self.duration_s}")


def _read(path: Path, frame_rate: float) -> tuple[list[np.ndarray], list[int]]:
    """The recording's traces at 100 Hz (NaN frames kept where they were), and each cell's
    length in the file's frames."""
    from neurosim.spikefinder import read_table, resample_trace

    from .data.readers import is_spikefinder_path

    if not path.exists():
        raise FileNotFoundError(f"recording {str(path)!r} does not exist")
    if not is_spikefinder_path(path):
        raise ValueError(
            f"{str(path)!r} is not a Spikefinder-layout recording (expected a name like "
            "N.test.calcium.csv or N.train.calcium.csv[.gz]: a header 0,1,… and one column per cell)"
        )
    cells = read_table(path, interior_nan=True)
    out, lengths = [], [len(c) for c in cells]
    for i, c in enumerate(cells):
        c = np.asarray(c, np.float64)
        finite = c[np.isfinite(c)]
        if finite.size < 2:
            raise ValueError(f"{str(path)!r}: cell {i} has {finite.size} finite frames")
        if np.ptp(finite) == 0:
            raise ValueError(
                f"{str(path)!r}: cell {i} is constant ({finite[0]:g}): nothing to infer from"
            )
        if not np.isclose(frame_rate, MODEL_RATE):
            ok = np.isfinite(c)
            if not ok.all():
                raise ValueError(
                    f"{str(path)!r}: cell {i} has NaN frames inside it and the file is at "
                    f"{frame_rate:g} Hz; resampling needs whole traces"
                )
            n = int(math.floor(len(c) * MODEL_RATE / frame_rate + 1e-9))
            c = resample_trace(c, frame_rate, MODEL_RATE, method="fourier", n_new=n)
        out.append(c)
    return out, lengths


def _normalised_nu(x: np.ndarray) -> float:
    """ν (CASCADE's definition at 100 Hz) of the 5th/80th-percentile-normalised trace."""
    from neurosim.observe.noise import noise_level
    from neurosim.spikefinder import normalize_trace

    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return float(noise_level(normalize_trace(x, "percentile"), MODEL_RATE))


def recording_noise(traces: list[np.ndarray]) -> float:
    """The scale-free noise statistic of a recording: median over cells of
    :func:`_normalised_nu` (the 100 Hz traces)."""
    return float(np.median([_normalised_nu(x) for x in traces]))


def _synthetic_cells(nu: float, native_rate: float, s: InferSettings, n: int, duration_s: float):
    """``n`` synthetic cells at ``native_rate`` and noise ``nu`` (ΔF/F), Fourier-resampled to
    100 Hz, as the recording went through."""
    import jax

    from neurosim.datasets.calcium import CalciumDatasetConfig, chunk_spikes
    from neurosim.observe.calcium import simulate_calcium
    from neurosim.spikefinder import resample_trace

    cfg = CalciumDatasetConfig(
        cells=n, duration_s=duration_s, frame_rate_hz=native_rate, noise_level=nu,
        indicator=s.indicator, seed=s.seed,
    )  # fmt: skip
    key = jax.random.key(s.seed)
    k_spk, k_rec = jax.random.split(key)
    spikes = chunk_spikes(cfg, 0, n, k_spk)
    rec = simulate_calcium(spikes, s.indicator, cfg.recording_config(), key=k_rec,
                           n_frames=cfg.n_frames)  # fmt: skip
    m = int(math.floor(cfg.n_frames * MODEL_RATE / native_rate + 1e-9))
    return [resample_trace(x, native_rate, MODEL_RATE, method="fourier", n_new=m) for x in rec.dff]


def match_noise(
    target: float, native_rate: float, settings: InferSettings, *, iterations: int = 12
) -> dict[str, float]:
    """The ΔF/F noise level ν of synthetic cells (``settings``' indicator, recorded at
    ``native_rate``) whose normalised 100 Hz statistic (:func:`recording_noise`) equals
    ``target``: bisection on log ν in [0.01, 100].

    Returns:
        ``{"nu": ν, "achieved": the statistic at ν, "target": target, "clipped": 0 or 1}``;
        ``clipped`` is 1 when even the bracket's end does not reach the target (ν is then that
        end: the recording is cleaner than noise-free synthetic cells, or noisier than pure
        noise).
    """

    def stat(log_nu):
        cells = _synthetic_cells(
            math.exp(log_nu), native_rate, settings, settings.match_cells, settings.match_duration_s
        )
        return recording_noise(cells)

    lo, hi = math.log(0.01), math.log(100.0)
    s_lo, s_hi = stat(lo), stat(hi)
    if target <= s_lo:
        return {"nu": math.exp(lo), "achieved": s_lo, "target": target, "clipped": 1.0}
    if target >= s_hi:
        return {"nu": math.exp(hi), "achieved": s_hi, "target": target, "clipped": 1.0}
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        if stat(mid) < target:
            lo = mid
        else:
            hi = mid
    nu = math.exp(0.5 * (lo + hi))
    return {"nu": nu, "achieved": stat(math.log(nu)), "target": target, "clipped": 0.0}


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def infer_spikes(
    recording: str | os.PathLike,
    out: str | os.PathLike,
    settings: InferSettings = InferSettings(),
    *,
    cache: str | os.PathLike = "runs/infer-cache",
    overwrite: bool = False,
    progress: bool = True,
    log=print,
) -> dict[str, Any]:
    """Infer spikes in ``recording`` (see the module docstring); writes ``out`` (Spikefinder
    layout) and ``out`` + ``.json`` (the report). Returns the report.

    Raises:
        FileNotFoundError, FileExistsError, ValueError: with what was expected.
    """
    from neurosim.datasets.calcium import CalciumDatasetConfig, generate_calcium_mixture
    from neurosim.io import atomic_path, check_output_path
    from neurosim.observe.realism import native_frame_rate
    from neurosim.provenance import cpu_model, package_versions, utc_now
    from neurosim.spikefinder import write_table

    from .data.readers import is_spikefinder_path
    from .reload import load_run
    from .tasks import get
    from .train import train_and_evaluate

    settings.check()
    log = log or (lambda *_: None)
    recording, out, cache = Path(recording), Path(out), Path(cache)
    if not is_spikefinder_path(out):
        raise ValueError(
            f"output {str(out)!r} should end in .csv or .csv.gz (the Spikefinder layout)"
        )
    check_output_path(out, overwrite=overwrite, suffixes=())
    task = get("calcium-rate")
    task.preset(settings.config)  # an unknown preset: its message, before any work
    traces, lengths = _read(recording, settings.frame_rate)
    log(f"read {len(traces)} cells from {recording} ({settings.frame_rate:g} Hz)")

    if settings.native_rate is not None:
        native, native_how = float(settings.native_rate), "given"
    else:
        native = native_frame_rate([x[np.isfinite(x)] for x in traces], MODEL_RATE)
        native_how = "estimated from the spectrum"
    native = min(native, MODEL_RATE)
    log(f"native frame rate: {native:.1f} Hz ({native_how})")
    target = recording_noise(traces)
    match = match_noise(target, native, settings)
    log(
        f"noise: normalised ν {target:.3f}; synthetic {settings.indicator} cells match it at "
        f"ΔF/F ν = {match['nu']:.3g}"
        + (" (clipped at the search range: the match is poor)" if match["clipped"] else "")
    )
    nus = [round(match["nu"] * f, 4) for f in settings.noise_factors]
    cfgs = [
        CalciumDatasetConfig(
            cells=settings.cells_per_level,
            duration_s=settings.duration_s,
            frame_rate_hz=round(native, 3),
            noise_level=nu,
            indicator=settings.indicator,
            seed=settings.seed + i,
        )  # fmt: skip
        for i, nu in enumerate(nus)
    ]
    data_key = _digest([asdict(c) for c in cfgs])
    data_path = cache / f"train-{data_key}.h5"
    if data_path.exists():
        log(f"training set: {data_path} (cached)")
    else:
        log(
            f"training set: {len(cfgs)} × {settings.cells_per_level} cells at ν = {nus} → {data_path}"
        )
        generate_calcium_mixture(data_path, cfgs, progress=progress)
    overrides = {"seed": settings.seed, **settings.overrides}
    run_key = _digest({"data": data_key, "preset": settings.config, "overrides": overrides})
    run_dir = cache / f"run-{run_key}"
    run_json = run_dir / "run.json"
    status = json.loads(run_json.read_text()).get("status") if run_json.exists() else None
    if status == "done":
        log(f"model: {run_dir} (cached)")
    else:
        log(f"model: training calcium-rate --config {settings.config} → {run_dir}")
        train_and_evaluate(
            task, overrides, data=data_path, workdir=run_dir, preset=settings.config,
            resume=run_dir.exists(), progress=progress, log=log,
        )  # fmt: skip
    run = load_run(run_dir)
    preds = task.predict_traces(run, [x[:, None] for x in traces], frame_rate=MODEL_RATE)
    cols = [np.asarray(p).reshape(-1) for p in preds]
    if not np.isclose(settings.frame_rate, MODEL_RATE):  # back to the file's frames
        from neurosim.spikefinder import resample_trace

        cols = [
            resample_trace(p, MODEL_RATE, settings.frame_rate, method="mean", n_new=n)
            * (MODEL_RATE / settings.frame_rate)
            for p, n in zip(cols, lengths, strict=True)
        ]
    mpath = run_dir / "metrics.json"
    metrics = json.loads(mpath.read_text()) if mpath.exists() else {}
    report = {
        "recording": str(recording.absolute()),
        "output": str(out.absolute()),
        "n_cells": len(traces),
        "settings": {**asdict(settings), "noise_factors": list(settings.noise_factors)},
        "native_rate_hz": native,
        "native_rate_source": native_how,
        "noise_match": match,
        "training_noise_levels": nus,
        "training_set": str(data_path.absolute()),
        "run": str(run_dir.absolute()),
        "synthetic_test": {
            k: v
            for k, v in (metrics.get("metrics", {}).get("test") or {}).items()
            if k.startswith("corr_") or k.startswith("cascade")
        },
        "unit": "spikes per frame of the output (the input's frames)",
        "created_utc": utc_now(),
        "cpu": cpu_model(),
        "versions": package_versions(),
    }
    write_table(out, cols, allow_nan=True)
    rep = out.with_name(out.name + ".json")
    with atomic_path(rep) as tmp:
        tmp.write_text(json.dumps(report, indent=1, default=str))
    log(f"wrote {out} and {rep}")
    return report


def settings_from_args(args) -> InferSettings:
    """The CLI's options as :class:`InferSettings`."""
    from .config import parse_config_args

    preset, overrides = parse_config_args(args.config or [])
    s = InferSettings(
        indicator=args.indicator,
        frame_rate=args.frame_rate,
        native_rate=args.native_rate,
        cells_per_level=args.cells,
        duration_s=args.duration_s,
        config=preset or "best",
        overrides=dict(overrides),
        seed=args.seed,
    )
    if args.noise_factors:
        s = replace(s, noise_factors=tuple(args.noise_factors))
    return s
