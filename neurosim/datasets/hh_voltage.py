"""The subthreshold Hodgkin–Huxley voltage-prediction dataset (spec: shared/spec/hh.md).

X is an Ornstein–Uhlenbeck current (pA) sampled on a 1 ms grid and held for each 1 ms; Y is the
membrane voltage (mV) of a point HH neuron (NEST ``hh_psc_alpha`` parameters) driven by it, one
sample per 1 ms. Alignment (no delay): ``Y[k]`` is the voltage at the *end* of the millisecond
during which ``X[k]`` was applied, so it depends on ``X[0..k]``. Every trace starts at rest with
I(0) = 0. Traces with a spike (an upward crossing of 0 mV, checked at every integration step) are
rejected whole and redrawn: candidate traces are numbered, each has its own random stream, and
the first spike-free candidates in order are kept. The currents X are therefore the same for a
seed whatever the chunk size or number of devices (Y agrees to float32 round-off; the file is
bit-for-bit the same for the same seed and settings), and an interrupted run resumes where it
stopped.
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import rng
from ..argtypes import nonneg_int, positive_float, positive_int
from ..hh import ArrayInput, HHParams, simulate_hh
from ..hh.integrators import MAX_DT
from ..io import ChunkedH5Writer, check_output_path, read_h5
from .options import add_common_output_args, add_config_arguments, config_from_args, option
from .registry import DatasetSpec, register

NAME = "hh-voltage"
_TAG_TRAIN, _TAG_TEST = 101, 202


@dataclass(frozen=True)
class HHVoltageConfig:
    """Parameters of the dataset (defaults: the spec's).

    Attributes:
        n_train, n_test: numbers of training (X, Y) and test (X_test, Y_test) traces.
        duration_ms, test_duration_ms: length of a training / test trace (ms).
        sample_ms: sampling interval of X and Y (ms); the current is held within it.
        dt: integration step (ms).
        method: HH integrator.
        ou_theta: OU rate θ (1/ms).
        ou_mu: OU mean μ (pA).
        ou_sigma: OU noise intensity σ (pA/√ms).
        i0: current at t = 0 (pA).
        seed: random seed.
        chunk: traces simulated per batch (memory ~ chunk × samples × 8 bytes).
    """

    # Fields declared with option() are also the CLI's options (`neurosim generate hh-voltage`).
    n_train: int = option(10_000, type=nonneg_int, help="training traces X, Y (default {default})")
    n_test: int = option(10, type=nonneg_int, help="test traces X_test, Y_test (default {default})")
    duration_ms: float = option(
        1000.0, type=positive_float, help="length of a training trace in ms (default {default:g})"
    )
    test_duration_ms: float = option(
        10_000.0, type=positive_float, help="length of a test trace in ms (default {default:g})"
    )
    sample_ms: float = 1.0
    dt: float = option(
        0.025, type=positive_float, help="integration step in ms (default {default})"
    )
    method: str = option("expeuler", choices=sorted(MAX_DT), help="integrator (default {default})")
    ou_theta: float = option(
        0.01, type=positive_float, help="OU rate θ in 1/ms (default {default:g})"
    )
    ou_mu: float = option(0.0, type=float, help="OU mean in pA (default {default:g})")
    ou_sigma: float = option(
        25.0,
        type=float,
        help="OU noise intensity σ in pA/√ms (default {default:g}; sd = σ/√(2θ))",
    )
    i0: float = 0.0
    seed: int = 0
    chunk: int = option(
        2048,
        type=positive_int,
        help="traces simulated at once (default {default}; memory grows with it)",
    )

    def check(self) -> None:
        for name in ("n_train", "n_test"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {v!r}")
        if self.n_train + self.n_test == 0:
            raise ValueError("n_train and n_test are both 0: nothing to generate")
        if not isinstance(self.chunk, int) or self.chunk < 1:
            raise ValueError(f"chunk must be a positive integer, got {self.chunk!r}")
        for name in ("duration_ms", "test_duration_ms", "sample_ms", "dt", "ou_theta"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        for name in ("ou_mu", "ou_sigma", "i0"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise ValueError(f"{name} must be a finite number, got {v!r}")
        if self.ou_sigma < 0:
            raise ValueError(f"ou_sigma must be >= 0, got {self.ou_sigma}")
        if self.method not in MAX_DT:
            raise ValueError(
                f"unknown integrator {self.method!r}; expected one of {sorted(MAX_DT)}"
            )
        if self.dt > MAX_DT[self.method]:
            raise ValueError(
                f"dt={self.dt} ms exceeds the limit {MAX_DT[self.method]} ms of {self.method!r}"
            )
        for name in ("sample_ms",):
            k = getattr(self, name) / self.dt
            if abs(k - round(k)) > 1e-6:
                raise ValueError(f"{name}={getattr(self, name)} is not a multiple of dt={self.dt}")
        for name in ("duration_ms", "test_duration_ms"):
            k = getattr(self, name) / self.sample_ms
            if abs(k - round(k)) > 1e-6:
                raise ValueError(
                    f"{name}={getattr(self, name)} is not a multiple of sample_ms={self.sample_ms}"
                )

    @property
    def samples(self) -> int:
        return int(round(self.duration_ms / self.sample_ms))

    @property
    def test_samples(self) -> int:
        return int(round(self.test_duration_ms / self.sample_ms))


@partial(jax.jit, static_argnames=("n_samples",))
def ou_currents(key, streams, *, n_samples: int, theta, mu, sigma, i0, sample_ms):
    """OU currents on a grid, sampled exactly: shape (len(streams), n_samples), pA.

    ``X[:, 0] = i0``; ``X[:, k+1] = mu + (X[:, k] − mu)·a + sigma·sqrt((1 − a²)/(2θ))·ξ`` with
    ``a = exp(−θ·sample_ms)``, ξ standard normal from stream ``streams[i]`` at counter k.
    """
    seeds = rng.stream_seeds(key, streams, tag=0)
    a = jnp.exp(-theta * sample_ms)
    kick = sigma * jnp.sqrt((1.0 - a * a) / (2.0 * theta))

    def body(x, k):
        return mu + (x - mu) * a + kick * rng.normal(seeds, k), x

    x0 = jnp.full(streams.shape, i0, jnp.float32)
    _, xs = lax.scan(body, x0, jnp.arange(n_samples, dtype=jnp.uint32))
    return xs.T


def _simulate_chunk(cfg: HHVoltageConfig, key, first: int, count: int, n_samples: int):
    """X, Y and spike-free flags for candidates ``first … first+count−1``."""
    streams = jnp.arange(first, first + count, dtype=jnp.uint32)
    X = ou_currents(
        key,
        streams,
        n_samples=n_samples,
        theta=cfg.ou_theta,
        mu=cfg.ou_mu,
        sigma=cfg.ou_sigma,
        i0=cfg.i0,
        sample_ms=cfg.sample_ms,
    )
    per = int(round(cfg.sample_ms / cfg.dt))
    res = simulate_hh(
        ArrayInput(X, cfg.sample_ms),
        n_samples * cfg.sample_ms,
        dt=cfg.dt,
        params=HHParams.point(),
        method=cfg.method,
        record=("V",),
        record_every=per,
        max_spikes=0,
    )
    return np.asarray(X), np.asarray(res.V), np.asarray(res.spike_counts) == 0


def generate_hh_voltage(
    out: str | os.PathLike,
    cfg: HHVoltageConfig = HHVoltageConfig(),
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write the dataset to ``out`` (HDF5), resuming an interrupted run of the same config.

    Arrays: ``X``, ``Y`` (n_train, samples, 1) and ``X_test``, ``Y_test`` (n_test, test_samples, 1),
    float32, X in pA and Y in mV; ``t_ms`` (samples,) the time of each Y sample. Attributes: every
    field of ``cfg``, the neuron parameters, the alignment, the acceptance rate, versions.
    """
    cfg.check()
    out = check_output_path(out, overwrite=overwrite, suffixes=(".h5", ".hdf5"))
    T, Tt = cfg.samples, cfg.test_samples
    attrs = {
        "dataset": NAME,
        "description": "HH subthreshold voltage (Y, mV) driven by an OU current (X, pA)",
        **{f"config.{k}": v for k, v in asdict(cfg).items()},
        "seed": cfg.seed,
        "neuron": "point HH (NEST hh_psc_alpha parameters)",
        "neuron_params": HHParams.point().values(),
        "units": {"X": "pA", "Y": "mV", "t_ms": "ms"},
        "alignment": "Y[k] = V at the end of sample k, i.e. after X[0..k] (no delay)",
        "spike_rule": "a trace is rejected if V crosses 0 mV upward at any integration step",
    }
    arrays = {
        "X": ((cfg.n_train, T, 1), np.float32),
        "Y": ((cfg.n_train, T, 1), np.float32),
        "X_test": ((cfg.n_test, Tt, 1), np.float32),
        "Y_test": ((cfg.n_test, Tt, 1), np.float32),
    }
    key = jax.random.key(cfg.seed)
    with ChunkedH5Writer(
        out,
        arrays,
        attrs,
        identity_exclude=("config.chunk",),
        extra_arrays={"t_ms": cfg.sample_ms * np.arange(1, T + 1, dtype=np.float32)},
    ) as w:
        from ..progress import progress_bar

        total = cfg.n_train + cfg.n_test
        done = w.rows_done("X") + w.rows_done("X_test")
        bar = progress_bar(
            total=total,
            initial=done,
            unit="trace",
            desc=f"{NAME} → {out.name}",
            disable=not progress,
        )
        for split, n_rows, n_samples, tag in (
            ("", cfg.n_train, T, _TAG_TRAIN),
            ("_test", cfg.n_test, Tt, _TAG_TEST),
        ):
            skey = jax.random.fold_in(key, tag)
            xs, ys = "X" + split, "Y" + split
            rows = w.rows_done(xs)
            cand = int(w.state.get("candidates" + split, 0))
            # a chunk of ~10 s-equivalent for the long test traces keeps memory flat
            chunk = max(1, min(cfg.chunk, cfg.chunk * T // max(n_samples, 1)))
            while rows < n_rows:
                want = n_rows - rows
                count = min(chunk, max(8, int(want * 1.02) + 8))
                X, Y, ok = _simulate_chunk(cfg, skey, cand, count, n_samples)
                take = np.flatnonzero(ok)[:want]
                used = int(take[-1]) + 1 if len(take) == want else count
                cand += used
                w.state["candidates" + split] = cand
                w.state["rejected" + split] = int(w.state.get("rejected" + split, 0)) + int(
                    used - take.size
                )
                if take.size:
                    w.write_rows(rows, {xs: X[take, :, None], ys: Y[take, :, None]})
                else:
                    w.save_state()
                rows += take.size
                bar.update(int(take.size))
                if cand > 100 * max(n_rows, 1) + 1000:
                    raise RuntimeError(
                        f"fewer than 1 % of candidate traces are spike-free ({rows} of {cand}); "
                        "lower ou_sigma/ou_mu or shorten the traces"
                    )
        bar.close()
        stats = {"config.chunk": cfg.chunk}  # the chunk size of the last (resumed) run
        for split, n_rows in (("", cfg.n_train), ("_test", cfg.n_test)):
            c = int(w.state.get("candidates" + split, 0))
            stats["candidates" + split] = c
            stats["acceptance" + split] = (n_rows / c) if c else float("nan")
        return w.finish(stats)


def load_hh_voltage(path: str | os.PathLike):
    """``(arrays, attrs)`` of an hh-voltage file (checks it is one)."""
    arrays, attrs = read_h5(path, ("X", "Y", "X_test", "Y_test", "t_ms"))
    if attrs.get("dataset") != NAME:
        raise ValueError(f"{str(path)!r} is a {attrs.get('dataset')!r} dataset, not {NAME!r}")
    return arrays, attrs


def plot_hh_voltage(path, out_png, n: int = 3):
    """Example traces: current (top) and voltage (bottom), plus the voltage histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arrays, attrs = load_hh_voltage(path)
    X, Y, t = arrays["X"][..., 0], arrays["Y"][..., 0], arrays["t_ms"]
    n = min(n, len(X))
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), constrained_layout=True)
    for i in range(n):
        axes[0].plot(t, X[i], lw=0.8)
        axes[1].plot(t, Y[i], lw=0.8)
    axes[0].set_ylabel("X: current (pA)")
    axes[1].set_ylabel("Y: membrane voltage (mV)")
    axes[1].set_xlabel("time (ms)")
    axes[0].set_title(f"{NAME}: {len(X)} training traces, seed {attrs.get('seed')}")
    if Y.size:
        axes[2].hist(Y.ravel(), bins=100, color="0.3")
    axes[2].set_xlabel("Y (mV), all training samples")
    axes[2].set_ylabel("count")
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return Path(out_png)


def _add_arguments(p: argparse.ArgumentParser) -> None:
    add_config_arguments(p, HHVoltageConfig)
    add_common_output_args(p, out_help="output HDF5 file (.h5)")


def _generate(args: argparse.Namespace) -> Path:
    cfg = config_from_args(HHVoltageConfig, args, seed=args.seed)
    return generate_hh_voltage(
        args.out, cfg, overwrite=args.overwrite, progress=not args.no_progress
    )


register(
    DatasetSpec(
        name=NAME,
        description="HH subthreshold voltage (Y, mV) from an OU input current (X, pA), 1 ms samples",
        add_arguments=_add_arguments,
        generate=_generate,
        plot=plot_hh_voltage,
        single_process="it keeps the first spike-free candidate traces in one global order "
        "(rejection sampling), so a process cannot know which rows are its own without "
        "simulating every candidate before them",
    )
)
