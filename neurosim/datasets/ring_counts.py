"""The ring spike-count dataset (spec: shared/spec/ring.md, "The spike-count dataset").

Per trial: spike counts of all 2n cells and their external input in bins of ``bin_ms`` over
``duration_ms``, fresh Poisson input and initial voltages per trial (trial t from
``fold_in(key(seed), t)``, so a trial does not depend on the chunking and an interrupted run
resumes bit for bit).

Arrays: ``counts`` (trials, bins, 2n) int16 spikes per bin; ``external`` (trials, bins, 2n)
float32 external input per bin = event count × f (f_E for E cells, f_I for I cells);
``time_ms`` (bins,) bin start; ``cell_type`` (2n,) 0 = E, 1 = I; ``position`` (2n,) ring position.
Attributes: every ring parameter (``param.<name>``), preset, seed, trials, duration, bin, the
trial seeds' derivation, versions.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, replace
from pathlib import Path

import jax
import numpy as np

from .. import parallel
from ..argtypes import positive_float, positive_int
from ..io import ChunkedH5Writer, read_h5, shard_attrs, shard_output_path, shard_rows
from ..ring import RingParams, ring_params, simulate_ring
from ..ring.connectivity import cell_types, positions
from ..ring.presets import PRESET_DESCRIPTIONS, PRESETS
from ..ring.recording import steps_of
from .options import (
    REQUIRED,
    add_common_output_args,
    add_config_arguments,
    config_from_args,
    option,
)
from .registry import DatasetSpec, register

NAME = "ring-counts"


# RingParams fields that are integers or booleans (the others are numbers).
_INT_FIELDS = tuple(f.name for f in dataclasses.fields(RingParams) if f.type == "int")
_BOOL_FIELDS = tuple(f.name for f in dataclasses.fields(RingParams) if f.type == "bool")


def _parse_param(text: str) -> tuple[str, float | int | bool]:
    """``NAME=VALUE``: a number; an integer for integer fields; 0/1/true/false for booleans."""
    name, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. s_EE=0.02), got {text!r}")
    name, value = name.strip(), value.strip()
    if name in _BOOL_FIELDS:
        flag = {"1": True, "true": True, "0": False, "false": False}.get(value.lower())
        if flag is None:
            raise argparse.ArgumentTypeError(
                f"value of {name!r} must be 0, 1, true or false, got {value!r}"
            )
        return name, flag
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"value of {name!r} must be a number, got {value!r}"
        ) from None
    if name in _INT_FIELDS:
        if not number.is_integer():
            raise argparse.ArgumentTypeError(f"value of {name!r} must be an integer, got {value!r}")
        return name, int(number)
    return name, number


@dataclass(frozen=True)
class RingCountsConfig:
    """Parameters of a ring-counts dataset (defaults: the CLI's).

    Attributes:
        n_trials: number of trials (``--trials``, required).
        duration_ms: trial length (ms), a whole number of bins.
        bin_ms: count bin width (ms), a multiple of the ring's dt.
        preset: ring parameter preset (``fig1``, ``fig2``, ``fig3``).
        ss: fig3's coupling scale (None: the preset's 0.015).
        overrides: ``(name, value)`` pairs replacing ring parameters (``--param NAME=VALUE``).
        batch_size: trials simulated (and written) at a time; does not change the file.
        seed: random seed (trial t uses ``fold_in(jax.random.key(seed), t)``).
    """

    # Fields declared with option() are also the CLI's options (`neurosim generate ring-counts`).
    n_trials: int = option(
        REQUIRED, flag="--trials", type=positive_int, help="number of trials (required)"
    )
    duration_ms: float = option(
        3000.0, type=positive_float, help="trial length in ms (default {default:g})"
    )
    bin_ms: float = option(
        10.0,
        type=positive_float,
        help="count bin width in ms, a multiple of dt (default {default:g})",
    )
    preset: str = option(
        "fig1",
        choices=sorted(PRESETS),
        help="parameter set (default {default}): "
        + "; ".join(f"{k}: {v}" for k, v in PRESET_DESCRIPTIONS.items()),
    )
    ss: float | None = option(
        None, type=float, help="fig3 only: coupling scale ss (default: fig3's 0.015)"
    )
    overrides: tuple[tuple[str, float | int | bool], ...] = option(
        (),
        flag="--param",
        type=_parse_param,
        repeat=True,
        metavar="NAME=VALUE",
        help="override any ring parameter, e.g. --param rho=0.2 --param dt_ms=0.1 "
        "(names: see docs/ring.md; n_per_type an integer, synaptic 0/1/true/false); repeatable",
    )
    batch_size: int = option(
        64, type=positive_int, help="trials simulated at a time (default {default})"
    )
    seed: int = 0

    def check(self) -> None:
        if not isinstance(self.n_trials, (int, np.integer)) or self.n_trials < 1:
            raise ValueError(f"n_trials must be a positive integer, got {self.n_trials!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")

    def ring_params(self) -> RingParams:
        """The preset's parameters with ``ss`` and the overrides applied (validated)."""
        return ring_params(self.preset, ss=self.ss, **dict(self.overrides))


def generate_ring_counts(
    out: str | os.PathLike,
    params: RingParams | None = None,
    *,
    config: RingCountsConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
    process: tuple[int, int] | None = None,
    **fields,
) -> Path:
    """Write ``n_trials`` trials of binned spike counts and external input to an HDF5 file.

    Args:
        out: output file (``.h5``/``.hdf5``); written atomically, resumable.
        params: ring parameters (scalars); default: ``config.ring_params()`` (the preset's,
            with ``ss`` and ``overrides``). When given, ``preset`` is only recorded, and
            ``ss``/``overrides`` must be left unset.
        config: the dataset's parameters (:class:`RingCountsConfig`).
        overwrite: replace an existing file.
        progress: show a progress bar.
        process: ``(index, count)``: write only shard ``index`` of ``count`` (contiguous
            trials, :func:`neurosim.io.shard_rows`) to :func:`neurosim.io.shard_path` ``(out)``;
            ``neurosim join-shards`` joins the shards into the file one process writes. Default:
            ``(jax.process_index(), jax.process_count())``, i.e. one whole file unless JAX runs
            several processes (:func:`neurosim.parallel.init_distributed`).
        **fields: :class:`RingCountsConfig` fields (``n_trials``, ``duration_ms``, ``bin_ms``,
            ``preset``, ``batch_size``, ``seed`` …), replacing those of ``config``.

    Returns:
        The path written (the shard's, when there are several processes).

    Raises:
        ValueError: bad parameters or output path; FileExistsError: the output exists.
    """
    try:
        cfg = RingCountsConfig(**fields) if config is None else replace(config, **fields)
    except TypeError as e:  # an unknown field or no n_trials: name them
        raise ValueError(f"generate_ring_counts: {e}") from None
    cfg.check()
    if params is not None and (cfg.ss is not None or cfg.overrides):
        raise ValueError("give either params or ss/overrides, not both")
    n_trials, duration_ms, bin_ms = cfg.n_trials, cfg.duration_ms, cfg.bin_ms
    seed, preset, batch_size = cfg.seed, cfg.preset, cfg.batch_size
    p = cfg.ring_params() if params is None else params.validate()
    if p.n_sets is not None:
        raise ValueError("ring-counts needs one parameter set (scalar parameters), not a sweep")
    n_steps = steps_of(duration_ms, p.dt_ms, "duration_ms")
    bin_steps = steps_of(bin_ms, p.dt_ms, "bin_ms")
    if n_steps % bin_steps:
        raise ValueError(
            f"duration_ms = {duration_ms} must be a whole number of bins of {bin_ms} ms"
        )
    index, count = parallel.process_shard() if process is None else process
    lo, hi = shard_rows(n_trials, index, count)
    out = shard_output_path(out, index, count, overwrite=overwrite)
    n_bins, n_cells = n_steps // bin_steps, p.n_cells
    attrs = {
        "dataset": NAME,
        "description": "spike counts and external input of the E/I integrate-and-fire ring per bin",
        "preset": preset,
        "seed": int(seed),
        "n_trials": int(n_trials),
        "duration_ms": float(duration_ms),
        "bin_ms": float(bin_ms),
        "dt_ms": float(p.dt_ms),
        "n_cells": int(n_cells),
        "refractory_steps": int(p.refractory_steps),
        **{f"param.{k}": v for k, v in p.to_dict().items()},
        "trial_seeds": "trial t: jax.random.bits(fold_in(jax.random.key(seed), t), (4,), uint32)",
        "external_definition": "external[t, b, c] = (external events of cell c in bin b) × f_c",
        "time_axis": "time_ms[b] = start of bin b; the spike of step j (time j·dt) is in bin "
        "j // (bin_ms / dt_ms)",
        "cell_order": "E cells 0..n-1 then I cells n..2n-1; cell c at ring position c % n",
        "model": "Xiao & Lin, J Comput Neurosci 50(1) 2022; spec/ring.md",
    }
    if count > 1:
        attrs.update(shard_attrs(n_trials, index, count, ("counts", "external")))
    arrays = {
        "counts": ((hi - lo, n_bins, n_cells), np.int16),
        "external": ((hi - lo, n_bins, n_cells), np.float32),
    }
    extra = {
        "time_ms": (np.arange(n_bins) * float(bin_ms)).astype(np.float64),
        "cell_type": cell_types(p.n_per_type),
        "position": positions(p.n_per_type),
    }
    key = jax.random.key(int(seed))
    with ChunkedH5Writer(out, arrays, attrs, extra_arrays=extra) as w:
        from ..progress import progress_bar

        done = min(w.rows_done("counts"), w.rows_done("external"))
        bar = progress_bar(
            total=hi - lo,
            initial=done,
            unit="trial",
            desc=f"{NAME} → {out.name}",
            disable=not progress,
        )
        while done < hi - lo:
            # batch_size trials per device (simulate_ring splits a batch of >= 64 per device)
            b = min(batch_size * len(parallel.local_devices()), hi - lo - done)
            r = simulate_ring(
                p,
                key=key,
                n_trials=b,
                trial_offset=lo + done,
                duration_ms=duration_ms,
                bin_ms=bin_ms,
                external=True,
                batch_size=batch_size,
            )
            # one call: progress is recorded only once both arrays hold these trials
            w.write_rows(done, {"counts": r.counts.astype(np.int16), "external": r.external})
            done += b
            bar.update(b)
        bar.close()
        return w.finish()


# ------------------------------------------------------------------------------------ CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, RingCountsConfig)
    add_common_output_args(p, out_help="output HDF5 file (.h5)")


def generate(args: argparse.Namespace) -> Path:
    cfg = config_from_args(RingCountsConfig, args, seed=args.seed)
    return generate_ring_counts(
        args.out, config=cfg, overwrite=args.overwrite, progress=not args.no_progress
    )


def _params_from_attrs(attrs: dict) -> RingParams:
    fields = {k[len("param.") :]: v for k, v in attrs.items() if k.startswith("param.")}
    return RingParams(**fields).validate()


def plot(
    path: str | os.PathLike, out_png: str | os.PathLike, *, trial: int = 0, t_max_ms: float = 1000.0
) -> Path:
    """Raster (re-simulated from the stored seed, checked against the stored counts) and rates.

    The file holds binned counts; the exact spike times of ``trial`` are recomputed from its seed
    and parameters. If they reproduce the stored counts, the raster shows every spike; otherwise
    (another neurosim version, another machine's float rounding) the binned counts are shown.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arrays, attrs = read_h5(path, ("counts", "time_ms"))
    counts = arrays["counts"]
    if not 0 <= trial < counts.shape[0]:
        raise ValueError(f"trial {trial} is not in the file (0..{counts.shape[0] - 1})")
    p = _params_from_attrs(attrs)
    n, bin_ms, dur = p.n_per_type, float(attrs["bin_ms"]), float(attrs["duration_ms"])
    c = counts[trial]
    t_max = min(float(t_max_ms), dur)
    exact = False
    try:
        r = simulate_ring(
            p,
            key=jax.random.key(int(attrs["seed"])),
            n_trials=1,
            trial_offset=trial,
            duration_ms=dur,
            bin_ms=bin_ms,
            spikes=True,
        )
        exact = np.array_equal(r.counts[0], c)
    except Exception:  # noqa: BLE001 - any failure falls back to the stored counts
        exact = False
    fig, (ax0, ax1) = plt.subplots(
        2, 1, figsize=(10, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]}
    )
    if exact:
        times, ids = r.spike_times_ms(0)
        keep = times < t_max
        e = keep & (ids < n)
        i = keep & (ids >= n)
        ax0.scatter(times[e], ids[e], s=1.5, c="tab:red", marker=".", linewidths=0, label="E")
        ax0.scatter(times[i], ids[i], s=1.5, c="tab:blue", marker=".", linewidths=0, label="I")
        ax0.set_title(
            f"{Path(path).name}: trial {trial} (spikes re-simulated from the seed; they "
            f"reproduce the stored counts)",
            fontsize=9,
        )
    else:
        nb = int(round(t_max / bin_ms))
        ax0.imshow(
            c[:nb].T,
            aspect="auto",
            origin="lower",
            cmap="Greys",
            interpolation="nearest",
            extent=(0, nb * bin_ms, -0.5, 2 * n - 0.5),
        )
        ax0.set_title(
            f"{Path(path).name}: trial {trial}, spike counts per {bin_ms:g} ms bin", fontsize=9
        )
    ax0.axhline(n - 0.5, color="k", lw=0.5)
    ax0.set_ylabel(f"cell (E: 0..{n - 1}, I: {n}..{2 * n - 1})")
    ax0.set_ylim(-0.5, 2 * n - 0.5)
    t = arrays["time_ms"] + bin_ms / 2
    rate_e = c[:, :n].sum(1) / (n * bin_ms * 1e-3)
    rate_i = c[:, n:].sum(1) / (n * bin_ms * 1e-3)
    sel = t < t_max
    ax1.plot(t[sel], rate_e[sel], color="tab:red", lw=1, label=f"E (mean {rate_e.mean():.1f} Hz)")
    ax1.plot(t[sel], rate_i[sel], color="tab:blue", lw=1, label=f"I (mean {rate_i.mean():.1f} Hz)")
    ax1.set_ylabel(f"population rate (Hz, {bin_ms:g} ms bins)")
    ax1.set_xlabel("time (ms)")
    ax1.set_xlim(0, t_max)
    ax1.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=130)
    plt.close(fig)
    return out_png


register(
    DatasetSpec(
        name=NAME,
        description="spike counts + external input of the 600-cell E/I ring per bin (LSTM task)",
        add_arguments=add_arguments,
        generate=generate,
        plot=plot,
        multiprocess=True,
    )
)
