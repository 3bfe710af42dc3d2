"""LFP with a multi-unit spike label, from the E/I ring (spec: observations.md, ring.md).

The ring network runs in its synaptic-current variant; every cell's excitatory and inhibitory
synaptic currents are averaged over each sample interval (1 ms at the default 1 kHz) and turned
into an LFP by the Mazzoni et al. (2015) weighted-sum proxy, weighted by distance on the ring
from the electrode (:mod:`neurosim.observe.lfp`). The label is multi-unit activity of the k
cells nearest the electrode.

Long recordings are made of independent segments of at most ``segment_s`` seconds (each a new
ring trial with fresh input and initial state, after its own warm-up), so that memory stays flat;
``segment`` in the HDF5 file says which segment each sample belongs to. The proxy is z-scored per
segment (docs/lfp.md says what that means for joined recordings). The same seed gives the
same recording, and an interrupted run resumes at the next segment.

Formats: ``FILE.csv`` with columns ``time`` (s), ``lfp``, ``spike`` (the layout the public
LFP→spike BiLSTM notebook read), or ``FILE.h5`` with the same arrays, the noise-free proxy, the
recorded cells' own summed synaptic input (``mua_current``: I_E, I_I per sample, the input that the
LFP cannot isolate, for a ceiling on what an LFP model can reach; :func:`load_mua_current`), every
spike of the network (``spike_times_s``, ``spike_cells`` per segment), the recorded cells, the
weights, and every parameter.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import jax
import numpy as np

from ..argtypes import nonneg_float, positive_float, positive_int
from ..io import (
    ChunkedH5Writer,
    Generated,
    atomic_path,
    check_output_path,
    finished_file_matches,
    read_h5,
)
from ..observe.lfp import LFPConfig, simulate_lfp
from .options import add_common_output_args, add_config_arguments, config_from_args, option
from .registry import DatasetSpec, register

NAME = "lfp"


@dataclass(frozen=True)
class LFPDatasetConfig:
    """Parameters of the LFP dataset (defaults: the CLI's).

    Attributes:
        duration_s: recorded time (s), after the warm-up.
        ring_preset: ring parameter preset (``fig1``, ``fig2``, ``fig3``), synaptic variant.
        sample_rate_hz: samples per second (the sample interval must be a whole number of ring
            steps).
        warmup_ms: simulated and discarded at the start of each segment (ms).
        segment_s: longest stretch simulated as one ring trial (s).
        electrode_position, space_constant, ampa_delay_ms, gaba_weight, noise_sd,
            noise_exponent, line_noise_sd, line_frequency_hz, mua_cells: see
            :class:`neurosim.observe.lfp.LFPConfig`.
        batch_segments: segments simulated at once (one batch of ring trials; a segment is
            trial ``index`` whatever the batch, so this does not change the file and is not
            recorded in it).
        seed: random seed.
    """

    # Fields declared with option() are also the CLI's options (`neurosim generate lfp`).
    duration_s: float = option(
        10.0,
        type=positive_float,
        help="recorded time in s (default {default:g}: 10,000 rows at 1 kHz)",
    )
    ring_preset: str = option(
        "fig1",
        choices=("fig1", "fig2", "fig3"),
        help="ring parameters, synaptic-current variant (default {default})",
    )
    sample_rate_hz: float = option(
        1000.0, type=positive_float, help="samples per second (default {default:g})"
    )
    warmup_ms: float = option(
        200.0,
        type=nonneg_float,
        help="discarded start of each ring segment (default {default:g})",
    )
    segment_s: float = option(
        30.0,
        type=positive_float,
        help="longest stretch simulated as one ring trial; the LFP is z-scored per segment "
        "(default {default:g})",
    )
    # the LFP forward model's defaults are LFPConfig's, defined there only
    electrode_position: float = option(
        LFPConfig.electrode_position,
        flag="--electrode",
        type=nonneg_float,
        help="electrode position on the ring, in cells, in [0, 300) (default {default:g})",
    )
    space_constant: float = option(
        LFPConfig.space_constant,
        type=positive_float,
        help="distance weighting exp(-d/λ), λ in cells (default {default:g})",
    )
    ampa_delay_ms: float = LFPConfig.ampa_delay_ms
    gaba_weight: float = LFPConfig.gaba_weight
    noise_sd: float = option(
        LFPConfig.noise_sd,
        type=nonneg_float,
        help="1/f background noise, in proxy sd (default {default:g})",
    )
    noise_exponent: float = LFPConfig.noise_exponent
    line_noise_sd: float = option(
        LFPConfig.line_noise_sd,
        type=nonneg_float,
        help="mains hum, in proxy sd; 0 = none (default {default:g})",
    )
    line_frequency_hz: float = option(
        LFPConfig.line_frequency_hz,
        type=positive_float,
        help="mains frequency (default {default:g})",
    )
    mua_cells: int = option(
        LFPConfig.mua_cells,
        type=positive_int,
        help="cells nearest the electrode in the spike label (default {default})",
    )
    batch_segments: int = option(
        8,
        type=positive_int,
        help="segments of equal length simulated at once as a batch of ring trials, split "
        "across the local devices from 64 per device on; does not change the file; memory: "
        "about 6 MB per simulated second of each (default {default})",
    )
    seed: int = 0

    def ring(self):
        from ..ring import ring_params

        return ring_params(self.ring_preset, synaptic=True)

    def lfp_config(self) -> LFPConfig:
        return LFPConfig(
            sample_rate_hz=self.sample_rate_hz,
            electrode_position=self.electrode_position,
            ring_size=int(self.ring().n_per_type),
            space_constant=self.space_constant,
            ampa_delay_ms=self.ampa_delay_ms,
            gaba_weight=self.gaba_weight,
            noise_sd=self.noise_sd,
            noise_exponent=self.noise_exponent,
            line_noise_sd=self.line_noise_sd,
            line_frequency_hz=self.line_frequency_hz,
            mua_cells=self.mua_cells,
        )

    @property
    def sample_ms(self) -> float:
        return 1000.0 / self.sample_rate_hz

    @property
    def n_samples(self) -> int:
        return int(round(self.duration_s * self.sample_rate_hz))

    def segments(self) -> list[tuple[int, int]]:
        """``(first sample, number of samples)`` of each segment."""
        per = int(round(self.segment_s * self.sample_rate_hz))
        return [(s, min(per, self.n_samples - s)) for s in range(0, self.n_samples, per)]

    def check(self) -> None:
        if not isinstance(self.batch_segments, int) or self.batch_segments < 1:
            raise ValueError(
                f"batch_segments must be a positive integer, got {self.batch_segments!r}"
            )
        for name in ("duration_s", "sample_rate_hz", "segment_s"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if not (math.isfinite(self.warmup_ms) and self.warmup_ms >= 0):
            raise ValueError(f"warmup_ms must be >= 0, got {self.warmup_ms}")
        dt = float(self.ring().dt_ms)
        k = self.sample_ms / dt
        if abs(k - round(k)) > 1e-6 or round(k) < 1:
            raise ValueError(
                f"the sample interval {self.sample_ms:g} ms (sample_rate_hz={self.sample_rate_hz:g}) "
                f"must be a whole number of ring steps of {dt:g} ms"
            )
        for name, v in (
            ("duration_s", self.duration_s * 1000.0),
            ("segment_s", self.segment_s * 1000.0),
            ("warmup_ms", self.warmup_ms),
        ):
            n = v / self.sample_ms
            if abs(n - round(n)) > 1e-6:
                raise ValueError(
                    f"{name} must be a whole number of samples of {self.sample_ms:g} ms"
                )
        if self.n_samples < 2 * max(1, int(round(self.ampa_delay_ms / self.sample_ms))):
            raise ValueError(f"duration_s={self.duration_s} is too short for an LFP")
        self.lfp_config()  # validates the LFP parameters


def _segments(cfg: LFPDatasetConfig, first: int, count: int, n: int, key):
    """Simulate segments ``first … first+count−1`` of ``n`` samples each: ring trials ``first …``
    (after their warm-up) as one batch, each turned into an LFP recording with its spikes.

    A segment is ring trial ``index`` (``fold_in(key, 1)``, trial ``index``) and LFP noise
    ``fold_in(fold_in(key, 2), index)`` whatever batch it is simulated in.

    Yields, per segment: ``(recording, spike times (s, from the segment's start), their cells,
    per-cell rates (Hz), mua_current)``, the last ``(n, 2)``: I_E and I_I summed over the
    recorded cells.
    """
    from ..ring import ring_synaptic_currents

    p = cfg.ring()
    warm = int(round(cfg.warmup_ms / cfg.sample_ms))
    sc = ring_synaptic_currents(
        p,
        key=jax.random.fold_in(key, 1),
        duration_ms=(warm + n) * cfg.sample_ms,
        every_ms=cfg.sample_ms,
        n_trials=count,
        mode="mean",
        trial_offset=first,
    )
    n_cells = len(sc.positions)
    for j in range(count):
        i_e, i_i = sc.i_e[j, warm:], sc.i_i[j, warm:]
        t = np.asarray(sc.spike_times_ms[j], np.float64) / 1000.0 - warm * cfg.sample_ms / 1000.0
        keep = t >= 0
        t, cells = t[keep], np.asarray(sc.spike_ids[j])[keep]
        # spike of step s is at s·dt; +dt/2 keeps float rounding from moving it across a sample
        # edge
        rec = simulate_lfp(
            i_e,
            i_i,
            t + 0.5 * float(p.dt_ms) / 1000.0,
            cells,
            np.asarray(sc.positions),
            cfg.lfp_config(),
            key=jax.random.fold_in(jax.random.fold_in(key, 2), first + j),
            pyramidal=np.asarray(sc.cell_types) == 0,
        )
        rates = np.bincount(cells, minlength=n_cells) / (n * cfg.sample_ms / 1000.0)
        # the recorded cells' own synaptic input (indices into all 2n cells, E and I)
        mua_current = np.stack(
            [
                np.asarray(i_e, np.float64)[:, rec.mua_cells].sum(axis=1),
                np.asarray(i_i, np.float64)[:, rec.mua_cells].sum(axis=1),
            ],
            axis=1,
        )
        yield rec, t, cells, rates, mua_current


def _batches(segs: list[tuple[int, int]], start: int, size: int) -> list[tuple[int, int, int]]:
    """``(first segment, count, samples each)``: segments ``start …`` in runs of at most
    ``size`` consecutive segments of the same length (the last segment may be shorter)."""
    out: list[tuple[int, int, int]] = []
    for index in range(start, len(segs)):
        n = segs[index][1]
        if out and out[-1][2] == n and out[-1][1] < size:
            first, count, _ = out[-1]
            out[-1] = (first, count + 1, n)
        else:
            out.append((index, 1, n))
    return out


def _attrs(cfg: LFPDatasetConfig) -> dict:
    return {
        "dataset": NAME,
        "description": "LFP (Mazzoni et al. 2015 proxy) of the E/I ring with a multi-unit label",
        # batch_segments does not change the data: not recorded
        **{f"config.{k}": v for k, v in asdict(cfg).items() if k != "batch_segments"},
        "seed": cfg.seed,
        "ring_params": asdict(cfg.ring()),
        "lfp_params": asdict(cfg.lfp_config()),
        "units": {
            "time_s": "s (start of each sample)",
            "lfp": "proxy z-scored per segment + noise (a.u.)",
            "spike": "1 if a recorded cell fired in the sample",
            "spike_times_s": "s",
            "mua_current": "V_T/ms (dV/dt of the ring's dimensionless voltage, threshold V_T = 1): "
            "columns I_E, I_I, the excitatory and inhibitory synaptic currents averaged over the "
            "sample and summed over the mua_cells (the label's cells' own input, not in the LFP)",
        },
    }


def _generate_h5(path: Path, cfg: LFPDatasetConfig, *, progress: bool) -> tuple[Path, dict]:
    from ..progress import progress_bar

    T = cfg.n_samples
    segs = cfg.segments()
    key = jax.random.key(cfg.seed)
    arrays = {
        "time_s": ((T,), np.float64),
        "lfp": ((T,), np.float32),
        "spike": ((T,), np.uint8),
        "proxy": ((T,), np.float32),
        "mua_current": ((T, 2), np.float32),
        "segment": ((T,), np.uint16),
        "rates_hz": ((len(segs), 2 * int(cfg.ring().n_per_type)), np.float32),
    }
    # mua_current is per sample like lfp: contiguous, not one 8-byte chunk per sample
    with ChunkedH5Writer(path, arrays, _attrs(cfg), chunks={"mua_current": None}) as w:
        for name, dt in (("spike_times_s", np.float64), ("spike_cells", np.int16)):
            if name not in w.f:
                w.f.create_dataset(name, shape=(len(segs),), dtype=h5py.vlen_dtype(dt))
        done = w.rows_done("rates_hz")
        bar = progress_bar(
            total=T,
            initial=sum(n for _, n in segs[:done]),
            unit="sample",
            unit_scale=True,
            desc=f"{NAME} → {path.name}",
            disable=not progress,
        )
        for first_seg, count, n in _batches(segs, done, cfg.batch_segments):
            batch = _segments(cfg, first_seg, count, n, key)
            for index, (rec, t, cells, rates, mua_current) in enumerate(batch, first_seg):
                first = segs[index][0]
                w.f["spike_times_s"][index] = t + first / cfg.sample_rate_hz
                w.f["spike_cells"][index] = cells.astype(np.int16)
                if "mua_cells" not in w.f:
                    w.f.create_dataset("mua_cells", data=rec.mua_cells)
                    w.f.create_dataset("weights", data=rec.weights)
                w.write_rows(
                    first,
                    {
                        "time_s": (first + np.arange(n)) / cfg.sample_rate_hz,
                        "lfp": rec.lfp.astype(np.float32),
                        "spike": rec.spike,
                        "proxy": rec.proxy.astype(np.float32),
                        "mua_current": mua_current.astype(np.float32),
                        "segment": np.full(n, index, np.uint16),
                    },
                )
                w.write_rows(index, {"rates_hz": rates[None].astype(np.float32)})
                bar.update(n)
        bar.close()
        spike = np.asarray(w.f["spike"][()])
        rates = np.asarray(w.f["rates_hz"][()])
        n_type = rates.shape[1] // 2
        stats = {
            "label_rate": float(spike.mean()),
            "rate_E_hz": float(rates[:, :n_type].mean()),
            "rate_I_hz": float(rates[:, n_type:].mean()),
            "segments": len(segs),
        }
        out = w.finish(stats)
    return out, stats


def summary_lines(summary: dict) -> list[str]:
    """The label rate and ring rates in words (what the CLI prints after generating)."""
    return [
        f"label positive rate {summary['label_rate']:.3f}; ring rates E "
        f"{summary['rate_E_hz']:.1f} Hz, I {summary['rate_I_hz']:.1f} Hz"
    ]


def write_lfp_csv(path: str | os.PathLike, time_s, lfp, spike) -> Path:
    """Write ``time, lfp, spike`` columns to a CSV file, atomically.

    ``time`` keeps 15 significant digits (as many as a float64 holds: times of long recordings
    stay distinct and exact, and ``k/1000`` s is written as the short decimal), ``lfp`` 7 (about
    its float32 precision), ``spike`` is 0/1.
    """
    import pandas as pd

    df = pd.DataFrame(
        {
            "time": np.char.mod("%.15g", np.asarray(time_s, np.float64)),
            "lfp": np.asarray(lfp, np.float64),
            "spike": np.asarray(spike).astype(np.int64),
        }
    )
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.7g")
    return path


def generate_lfp(
    out: str | os.PathLike,
    cfg: LFPDatasetConfig = LFPDatasetConfig(),
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> Generated:
    """Write the LFP dataset to ``FILE.csv`` or ``FILE.h5`` (see the module docstring).

    A CSV is made from a work file ``.FILE.csv.h5`` beside it (resumable like any HDF5 dataset;
    a finished work file of the same parameters is reused), deleted once the CSV is in place.

    Returns:
        ``(path, summary)``: the path written and ``label_rate``, ``rate_E_hz``, ``rate_I_hz``,
        ``segments`` (:func:`summary_lines` words them).

    Raises:
        ValueError: bad parameters or suffix; FileExistsError: the output exists.
    """
    cfg.check()
    path = check_output_path(out, overwrite=overwrite, suffixes=(".csv", ".h5", ".hdf5"))
    if path.suffix.lower() in (".h5", ".hdf5"):
        return Generated(*_generate_h5(path, cfg, progress=progress))
    work = path.with_name(f".{path.name}.h5")
    if not finished_file_matches(work, _attrs(cfg)):  # else: reuse the finished simulation
        _generate_h5(work, cfg, progress=progress)
    arrays, attrs = read_h5(work, ("time_s", "lfp", "spike"))
    write_lfp_csv(path, arrays["time_s"], arrays["lfp"], arrays["spike"])
    work.unlink()
    return Generated(
        path, {k: attrs[k] for k in ("label_rate", "rate_E_hz", "rate_I_hz", "segments")}
    )


def load_lfp_csv(path: str | os.PathLike):
    """``(time, lfp, spike)`` arrays of an LFP CSV (columns ``time, lfp, spike``).

    Raises:
        FileNotFoundError, ValueError: missing file, other columns, non-binary labels.
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"LFP file {str(path)!r} does not exist")
    df = pd.read_csv(path)
    if list(df.columns) != ["time", "lfp", "spike"]:
        raise ValueError(f"{str(path)!r} has columns {list(df.columns)}, expected time, lfp, spike")
    spike = df["spike"].to_numpy()
    if not np.isin(spike, (0, 1)).all():
        raise ValueError(f"{str(path)!r}: column 'spike' must be 0 or 1")
    return df["time"].to_numpy(), df["lfp"].to_numpy(), spike.astype(np.uint8)


def load_mua_current(path: str | os.PathLike) -> np.ndarray:
    """The ``(T, 2)`` float32 ``mua_current`` of an LFP HDF5 file: I_E and I_I of the recorded cells.

    Per sample, the excitatory and inhibitory synaptic currents of the ``mua_cells`` (averaged
    over the sample, summed over the cells): the input that drives the label, which the LFP sees
    only blurred by every other cell. The lfp-spike task's ceiling model reads it.

    Raises:
        FileNotFoundError; ValueError: not an LFP dataset; KeyError: a file made before the array
        was added (make it again with the same command).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"LFP file {str(path)!r} does not exist")
    with h5py.File(path, "r") as f:
        kind = f.attrs.get("dataset")
        if kind != NAME:
            raise ValueError(f"{str(path)!r} is a {kind!r} dataset, not {NAME!r}")
        if "mua_current" not in f:
            raise KeyError(
                f"{str(path)!r} has no 'mua_current' (the recorded cells' synaptic input): it was "
                "made by an older neurosim; run `neurosim generate lfp` again with the same "
                "parameters to get it"
            )
        return np.asarray(f["mua_current"][()], np.float32)


def plot_lfp(path, out_png, seconds: float = 2.0):
    """LFP with the label, the proxy, and the power spectrum."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scipy.signal import welch

    arrays, attrs = read_h5(path, ("time_s", "lfp", "spike", "proxy"))
    if attrs.get("dataset") != NAME:
        raise ValueError(f"{str(path)!r} is a {attrs.get('dataset')!r} dataset, not {NAME!r}")
    fs = float(attrs["config.sample_rate_hz"])
    k = min(len(arrays["lfp"]), int(seconds * fs))
    t = arrays["time_s"][:k]
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), constrained_layout=True)
    axes[0].plot(t, arrays["lfp"][:k], lw=0.7, color="0.2", label="LFP")
    axes[0].plot(t, arrays["proxy"][:k], lw=0.7, color="#1b9e77", label="proxy (no noise)")
    sp = np.flatnonzero(arrays["spike"][:k])
    axes[0].plot(
        t[sp],
        np.full(sp.size, arrays["lfp"][:k].min() - 0.5),
        "|",
        color="#d95f02",
        ms=8,
        label="multi-unit spike",
    )
    axes[0].set_xlabel("time (s)")
    axes[0].legend(fontsize=8, loc="upper right")
    axes[0].set_title(
        f"{NAME}: label rate {float(np.mean(arrays['spike'])):.3f}, seed {attrs.get('seed')}"
    )
    f, p = welch(arrays["lfp"], fs=fs, nperseg=min(2048, len(arrays["lfp"])))
    axes[1].loglog(f[1:], p[1:], color="0.2")
    axes[1].set_xlabel("frequency (Hz)")
    axes[1].set_ylabel("power")
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return Path(out_png)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, LFPDatasetConfig)
    add_common_output_args(p, out_help="FILE.csv (columns time, lfp, spike) or FILE.h5")


def _generate(args: argparse.Namespace) -> Path:
    cfg = config_from_args(LFPDatasetConfig, args, seed=args.seed)
    path, summary = generate_lfp(
        args.out, cfg, overwrite=args.overwrite, progress=not args.no_progress
    )
    for line in summary_lines(summary):
        print(line)
    return path


register(
    DatasetSpec(
        name=NAME,
        description="LFP (Mazzoni weighted-sum proxy) of the E/I ring + multi-unit spike label, "
        "1 kHz, CSV (time,lfp,spike) or HDF5",
        add_arguments=_add_arguments,
        generate=_generate,
        plot=plot_lfp,
        single_process="it is one recording of consecutive segments (per-sample arrays beside "
        "per-segment ones), for which no shard layout is written yet",
    )
)

__all__ = [
    "LFPDatasetConfig",
    "generate_lfp",
    "load_lfp_csv",
    "load_mua_current",
    "plot_lfp",
    "summary_lines",
    "write_lfp_csv",
]
