"""The calcium tutorial's latent analysis of a trained calcium-detect LSTM-VAE run.

The tutorial (``shared/seeds/001_…``) encoded 1,000 balanced windows with its VAE, looked at
the PCA of the latent vectors (22 % and 15 % of the variance in the first two components), fitted
a linear SVM on the latents and scored it on the same windows (0.83), then fed the SVM's weight
vector (and its negative) to the decoder as a "spiking" ("non-spiking") trace. Here, on a run of
``neurolearn train calcium-detect --config seed-vae``:

- the run's held-out windows (its own split, remade exactly and checked against ``split.json``:
  all windows of the validation and test cells) and every window of each extra file (real
  Spikefinder sets: all their cells are held out) are encoded to the latent means;
- PCA of the held-out latent means (:func:`pca`): explained-variance ratios, a PC1/PC2 scatter
  coloured spike / no spike (the extra files projected on the same components), and how well PC1
  alone separates the classes (ROC AUC);
- L2 logistic regression (:func:`neurolearn.baselines.fit_logistic`, class-balanced weights, the
  run's ``logreg_l2``) on the standardised latent means of **training-cell windows only**, scored
  (balanced accuracy at 0.5, ROC AUC, per-cell spread) on the held-out cells and on the extra
  files; beside it the same regression on the window features [x, Δx, x²] themselves (the task's
  baseline) fitted on the same training windows, so the latents' worth is measured, not assumed;
- the classifier's weight vector decoded into a trace: with ``u`` the direction in latent space
  that raises the classifier's logit fastest (its weights over the latents' training sd,
  normalised), the decoder's output at ``z̄ ± α·u`` (``z̄`` the mean training latent, ``α`` in
  units of the training latents' sd along ``u``), and the classifier's P(spike) when each
  decoded trace is encoded again;
- windows decoded from latents drawn from the prior N(0, I) (:meth:`LSTMVAE.sample`), their
  spread against the data's and the share the classifier calls spiking;
- the reconstruction error (decoding the latent mean, as the run's evaluation does) of every set.

Everything is written to ``latents.json`` (with the run's data sha256, seed, checkpoint, versions
and CPU) and the figures ``pca.png``, ``decoded.png``, ``samples.png``.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["LatentAnalysis", "analyse_latents", "pca"]

#: held-out windows encoded per call of the jitted encoder
BATCH = 1024


@dataclass
class LatentAnalysis:
    """What :func:`analyse_latents` computed.

    Attributes:
        report: everything ``latents.json`` holds.
        latents: ``{set: (n, latent) latent means}`` (``train`` holds the classifier's windows).
        labels: ``{set: (n,) 0/1}`` spike in the window's label frames.
        cells: ``{set: (n,) cell id}`` of each window (the file's column / row).
        decoded: the decoded traces along the classifier's direction, (2·len(alphas) + 1,
            window), from ``z̄ − α_max·u`` to ``z̄ + α_max·u``.
        samples: windows decoded from prior samples, (n_samples, window).
        files: the files written.
    """

    report: dict[str, Any]
    latents: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    cells: dict[str, np.ndarray]
    decoded: np.ndarray
    samples: np.ndarray
    files: list[Path] = field(default_factory=list)


def pca(z: np.ndarray, n_components: int | None = None):
    """Principal components of the rows of ``z`` (centred on their mean).

    Returns:
        ``(mean, components (k, d), explained_variance_ratio (k,))``, components sorted by
        decreasing variance, each row of unit length; the ratios of all ``d`` components sum to
        1 (0 variance: all ratios 0).
    """
    z = np.asarray(z, np.float64)
    if z.ndim != 2 or len(z) < 2:
        raise ValueError(f"pca needs an (n >= 2, d) array, got shape {z.shape}")
    mu = z.mean(axis=0)
    zc = z - mu
    cov = zc.T @ zc / (len(z) - 1)
    var, vec = np.linalg.eigh(cov)
    order = np.argsort(var)[::-1]
    var, vec = np.clip(var[order], 0.0, None), vec[:, order].T
    total = var.sum()
    ratio = var / total if total > 0 else np.zeros_like(var)
    k = len(var) if n_components is None else min(n_components, len(var))
    # a deterministic sign: the largest loading of each component is positive
    signs = np.sign(vec[np.arange(len(vec)), np.argmax(np.abs(vec), axis=1)])
    vec = vec * np.where(signs == 0, 1.0, signs)[:, None]
    return mu, vec[:k], ratio[:k]


# ---------------------------------------------------------------------------- helpers


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


class _Model:
    """Jitted encode / decode of a loaded VAE run on normalised windows (B, T, 1)."""

    def __init__(self, run):
        import jax
        from flax import nnx

        task, cfg = run.task, run.config
        graphdef, state = nnx.split(run.model)
        self.state = state
        self.window = cfg.window

        def enc(state, x):
            m = nnx.merge(graphdef, state)
            f = task._features(x, cfg)
            mean, logvar = m.encode(f)
            recon = m.decode(mean, x.shape[1])[..., 0]
            return mean, logvar, recon, f[..., 0]

        def dec(state, z):
            return nnx.merge(graphdef, state).decode(z, cfg.window)[..., 0]

        def sample(state, key, n):
            return nnx.merge(graphdef, state).sample(n, cfg.window, key=key)[..., 0]

        self._enc = jax.jit(enc)
        self._dec = jax.jit(dec)
        self._sample = jax.jit(sample, static_argnums=2)

    def encode(self, x: np.ndarray, bar=None) -> dict[str, np.ndarray]:
        """Latent means and log-variances, reconstructions and targets of windows ``x``."""
        out = {"mean": [], "logvar": [], "recon": [], "target": []}
        for i in range(0, len(x), BATCH):
            xb = np.asarray(x[i : i + BATCH], np.float32)
            n = len(xb)
            if n < BATCH:  # one compiled shape
                xb = np.concatenate([xb, np.zeros((BATCH - n, *xb.shape[1:]), np.float32)])
            for k, v in zip(out, self._enc(self.state, xb), strict=True):
                out[k].append(np.asarray(v)[:n])
            if bar is not None:
                bar.update(n)
        return {k: np.concatenate(v) if v else np.zeros((0,)) for k, v in out.items()}

    def decode(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(self._dec(self.state, np.asarray(z, np.float32)))

    def sample(self, n: int, seed: int) -> np.ndarray:
        import jax

        return np.asarray(self._sample(self.state, jax.random.key(seed), n))


def _windows(source, groups) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = source.fetch(source.arrays, np.arange(len(source)))
    return np.asarray(b["x"], np.float32), np.asarray(b["y"]).astype(np.int64), np.asarray(groups)


def _set_info(y, g) -> dict[str, Any]:
    return {
        "n_windows": int(len(y)),
        "n_cells": int(len(np.unique(g))),
        "cells": [int(c) for c in np.unique(g)],
        "positive_fraction": float(y.mean()) if len(y) else float("nan"),
    }


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {str(out)!r} is a file; the latent analysis writes a folder")


def _atomic(path: Path, write) -> None:
    """``write(tmp_path)`` then rename onto ``path`` (no half-written file under its name)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------- the analysis


def analyse_latents(
    run_dir: str | Path,
    *,
    data: list[str | Path] | tuple = (),
    out: str | Path | None = None,
    train_data: str | Path | None = None,
    which: str | None = None,
    n_components: int = 10,
    alphas: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0),
    n_samples: int = 16,
    sample_seed: int = 0,
    max_train_windows: int | None = None,
    progress: bool = True,
    log=None,
) -> LatentAnalysis:
    """Encode a calcium-detect VAE run's held-out windows (and ``data`` files) and analyse the
    latents (see the module's docstring).

    Args:
        run_dir: a run folder of ``neurolearn train calcium-detect`` with ``model=lstm_vae``.
        data: extra files scored whole (every cell held out): Spikefinder-layout
            ``N.train.calcium.csv`` with the spikes beside it, or calcium HDF5 files.
        out: folder for ``latents.json`` and the figures (default ``RUN_DIR/latents``); its
            files of these names are replaced.
        train_data: the run's training file, if it moved (default: the path in run.json; its
            sha256 must be the recorded one either way).
        which: ``"best"`` / ``"latest"`` checkpoint (default: the one the run reported with).
        n_components: explained-variance ratios reported.
        alphas: steps along the classifier's direction, in training-latent sd units.
        n_samples: windows decoded from the prior.
        sample_seed: seed of the prior samples.
        max_train_windows: training windows the classifier is fitted on, a random subset
            (seeded by the run's seed; default: the run's ``baseline_windows``).
        progress: a progress bar over the encoded windows.
        log: ``print``-like function for a summary (None: silent).

    Raises:
        FileNotFoundError: no run folder, no checkpoint, a missing data file.
        ValueError: not a calcium-detect VAE run; a file of another kind; the training file
            given as ``data``; bad arguments.
    """
    import jax

    from . import metrics as M
    from .baselines import balanced_weights, fit_logistic
    from .checkpoints import RunFolder, write_json_atomic
    from .reload import load_run, read_for_run
    from .runs import sha256

    run_dir = Path(run_dir)
    out = run_dir / "latents" if out is None else Path(out)
    _check_out(out)
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if not alphas or any(not a > 0 for a in alphas):
        raise ValueError(f"alphas must be positive numbers, got {list(alphas)}")
    if max_train_windows is not None and max_train_windows < 10:
        raise ValueError(f"max_train_windows must be >= 10, got {max_train_windows}")

    info = RunFolder(run_dir).read_run()  # FileNotFoundError: no run folder
    if info.get("task") != "calcium-detect":
        raise ValueError(
            f"run folder {str(run_dir)!r} holds a {info.get('task')!r} run; the latent analysis "
            "needs a calcium-detect VAE run (neurolearn train calcium-detect --config seed-vae)"
        )
    run = load_run(run_dir, which=which, task="calcium-detect")
    task, cfg = run.task, run.config
    if cfg.objective != "vae":
        raise ValueError(
            f"run folder {str(run_dir)!r} holds a calcium-detect classifier (objective "
            f"{cfg.objective!r}, model {run.info.get('model')!r}), not a VAE; the latent "
            "analysis needs a run of --config seed-vae (model=lstm_vae)"
        )

    # ---------------------------------------------------------------- the run's own split
    rec = run.info.get("data", {})
    tpath = Path(train_data) if train_data is not None else Path(rec.get("path", ""))
    if not tpath.is_file():
        raise FileNotFoundError(
            f"the training file of run {str(run_dir)!r} ({str(tpath)!r}) does not exist; pass "
            "its new path with --train-data"
        )
    if rec.get("sha256") and sha256(tpath) != rec["sha256"]:
        raise ValueError(
            f"{str(tpath)!r} is not the file run {str(run_dir)!r} was trained on (its sha256 "
            f"differs from the recorded {rec['sha256'][:12]}…)"
        )
    extra = [Path(p) for p in data]
    for p in extra:
        if not p.is_file():
            raise FileNotFoundError(f"data file {str(p)!r} does not exist")
        if rec.get("sha256") and sha256(p) == rec["sha256"]:
            raise ValueError(
                f"{str(p)!r} is the run's training file; its held-out cells are analysed "
                "already (pass other files with --data)"
            )
    key = jax.random.fold_in(jax.random.key(cfg.seed), 1)
    prepared = task.prepare(read_for_run(run, tpath), cfg, key=key, normalisation=run.normalisation)
    saved = RunFolder(run_dir).split_json
    if saved.exists():
        import json

        s = json.loads(saved.read_text())
        for k in ("val_groups", "test_groups"):
            if k in s and list(s[k]) != list(prepared.split.get(k, [])):
                raise RuntimeError(
                    f"the remade split of {str(run_dir)!r} differs from its split.json ({k}); "
                    "the held-out cells cannot be identified"
                )
    others = []
    for p in extra:
        ds = read_for_run(run, p)  # ValueError: another kind of file
        others.append(
            (p, task.prepare(ds, cfg, key=key, normalisation=run.normalisation, whole=True))
        )

    # ---------------------------------------------------------------- windows
    sets: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    xt, yt, gt = _windows(prepared.sources["train"], prepared.groups["train"])
    n_fit = cfg.baseline_windows if max_train_windows is None else max_train_windows
    rng = np.random.default_rng(cfg.seed)
    if len(yt) > n_fit:
        idx = np.sort(rng.choice(len(yt), n_fit, replace=False))
        xt, yt, gt = xt[idx], yt[idx], gt[idx]
    sets["train"] = (xt, yt, gt)
    for name in ("val", "test"):
        if name in prepared.sources:
            sets[name] = _windows(prepared.sources[name], prepared.groups[name])
    names = {}
    for p, prep in others:
        name = p.name
        for suffix in (".gz", ".csv", ".h5", ".hdf5", ".calcium", ".train", ".test"):
            name = name.removesuffix(suffix)
        name = f"file:{name}"
        while name in sets:
            name += "'"
        names[name] = p
        sets[name] = _windows(prep.sources["val"], prep.groups["val"])  # whole: all in val
    heldout = [n for n in ("val", "test") if n in sets]
    if not heldout:
        raise ValueError(f"run {str(run_dir)!r} holds out no cells (val_fraction is 0?)")

    model = _Model(run)
    total = sum(len(v[1]) for v in sets.values())
    bar = None
    if progress:
        from neurosim.progress import progress_bar

        bar = progress_bar(total=total, desc="encoding windows", unit="win", leave=False)
    try:
        enc = {name: model.encode(x, bar) for name, (x, _, _) in sets.items()}
    finally:
        if bar is not None:
            bar.close()
    latents = {n: e["mean"].astype(np.float64) for n, e in enc.items()}
    labels = {n: v[1] for n, v in sets.items()}
    cells = {n: v[2] for n, v in sets.items()}
    held_z = np.concatenate([latents[n] for n in heldout])
    held_y = np.concatenate([labels[n] for n in heldout])
    held_g = np.concatenate([cells[n] for n in heldout])
    scored = [*heldout, "held_out", *names]

    def get(name):
        if name == "held_out":
            return held_z, held_y, held_g
        return latents[name], labels[name], cells[name]

    # ---------------------------------------------------------------- reconstruction
    recon = {}
    for name in [*heldout, *names]:
        e = enc[name]
        recon[name] = task._recon_scores(e["target"], e["recon"], labels[name], cells[name])
        recon[name]["kl"] = float(
            np.mean(-0.5 * np.sum(1 + e["logvar"] - e["mean"] ** 2 - np.exp(e["logvar"]), -1))
        )
    tgt = np.concatenate([enc[n]["target"] for n in heldout])
    rec_all = np.concatenate([enc[n]["recon"] for n in heldout])
    recon["held_out"] = task._recon_scores(tgt, rec_all, held_y, held_g)

    # ---------------------------------------------------------------- PCA
    mu_p, comps, ratio = pca(held_z, n_components)
    proj = {n: (get(n)[0] - mu_p) @ comps[:2].T for n in scored}
    pc1_auc = {}
    for n in scored:
        y = get(n)[1]
        pc1_auc[n] = float(M.roc_auc(y, proj[n][:, 0])) if 0 < y.sum() < len(y) else float("nan")

    # ---------------------------------------------------------------- classifiers
    zt = latents["train"]
    zmu, zsd = zt.mean(axis=0), zt.std(axis=0)
    zsd = np.where(zsd > 0, zsd, 1.0)
    if yt.min() == yt.max():
        raise ValueError(
            f"the training windows of run {str(run_dir)!r} hold one class only; no classifier "
            "can be fitted"
        )
    sw = balanced_weights(yt)
    w, b0 = fit_logistic((zt - zmu) / zsd, yt, l2=cfg.logreg_l2, sample_weight=sw, solver="newton")

    def p_latent(z):
        return _sigmoid(((z - zmu) / zsd) @ w + b0)

    feats = {
        n: task._features(np.asarray(x, np.float64), cfg).reshape(len(x), -1)
        for n, (x, _, _) in sets.items()
    }
    ft = feats["train"]
    fmu, fsd = ft.mean(axis=0), ft.std(axis=0)
    fsd = np.where(fsd > 0, fsd, 1.0)
    wf, bf = fit_logistic((ft - fmu) / fsd, yt, l2=cfg.logreg_l2, sample_weight=sw, solver="newton")
    feats["held_out"] = np.concatenate([feats[n] for n in heldout])
    clf, base = {}, {}
    for n in scored:
        z, y, g = get(n)
        clf[n] = task._scores(y, p_latent(z), g, cfg)
        base[n] = task._scores(y, _sigmoid(((feats[n] - fmu) / fsd) @ wf + bf), g, cfg)
    clf["train (its own fit data, for reference)"] = task._scores(yt, p_latent(zt), gt, cfg)

    # ---------------------------------------------------------------- decoded weight vector
    u = w / zsd
    u = u / np.linalg.norm(u)
    zbar = zt.mean(axis=0)
    sd_u = float(np.std((zt - zbar) @ u))
    steps = np.array(sorted({0.0, *(-a for a in alphas), *alphas}))
    zs = zbar[None, :] + (steps * sd_u)[:, None] * u[None, :]
    # and the decoder's picture of each class: its output at the class's mean training latent
    zc = np.stack([zt[yt == 0].mean(axis=0), zt[yt == 1].mean(axis=0)])
    both = model.decode(np.concatenate([zs, zc]))  # one call: one compiled shape
    p_both = p_latent(model.encode(both[..., None])["mean"].astype(np.float64))
    decoded, dec_c = both[: len(zs)], both[len(zs) :]
    p_re, p_c = p_both[: len(zs)], p_both[len(zs) :]
    dist_c = float(np.linalg.norm(zc[1] - zc[0]))

    # ---------------------------------------------------------------- prior samples
    samples = model.sample(n_samples, sample_seed)
    rs = model.encode(samples[..., None])
    p_samples = p_latent(rs["mean"].astype(np.float64))
    held_target = tgt

    # ---------------------------------------------------------------- the report
    from neurosim.provenance import cpu_model, device_info, package_versions, utc_now

    from .models.registry import describe_model

    train_cells = sorted(int(c) for c in np.unique(prepared.groups["train"]))
    report = {
        "what": "latent analysis of a calcium-detect LSTM-VAE run (neurolearn latents)",
        "created_utc": utc_now(),
        "run": {
            "folder": str(run_dir),
            "checkpoint": list(run.checkpoint),
            "seed": cfg.seed,
            "preset": run.info.get("preset"),
            "model": describe_model(cfg.model),
            "latent": cfg.model.latent,
            "hidden": cfg.model.hidden,
            "kl_weight": cfg.kl_weight,
            "normalise": cfg.normalise,
            "window": cfg.window,
            "label_frames": cfg.label_frames,
            "training_data": {"path": str(tpath), "sha256": rec.get("sha256")},
            "run_versions": run.info.get("versions"),
        },
        "parameters": {
            "n_components": n_components,
            "alphas_sd": list(alphas),
            "n_samples": n_samples,
            "sample_seed": sample_seed,
            "classifier_fit_windows": int(len(yt)),
            "logreg_l2": cfg.logreg_l2,
            "threshold": cfg.threshold,
            "data": {n: str(p) for n, p in names.items()},
        },
        "split": {
            "train_cells": train_cells,
            "val_cells": [int(c) for c in prepared.split.get("val_groups", [])],
            "test_cells": [int(c) for c in prepared.split.get("test_groups", [])],
        },
        "sets": {n: _set_info(*get(n)[1:]) for n in ["train", *scored]},
        "reconstruction": recon,
        "pca": {
            "fitted_on": "latent means of the held-out windows (val and test cells)",
            "n_windows": int(len(held_z)),
            "explained_variance_ratio": [float(r) for r in ratio],
            "cumulative": [float(c) for c in np.cumsum(ratio)],
            "pc1_roc_auc": pc1_auc,
        },
        "classifier": {
            "what": "L2 logistic regression on the standardised latent means, class-balanced "
            "weights, fitted on training-cell windows only",
            "fit_cells": sorted(int(c) for c in np.unique(gt)),
            "n_fit_windows": int(len(yt)),
            "scores": clf,
            "window_features_baseline": base,
        },
        "decoded": {
            "what": "decoder output at z̄ + s·sd_u·u: u the classifier's direction in latent "
            "space (weights / latent sd, unit length), z̄ the mean training latent, sd_u the "
            "training latents' sd along u; p_spike: the classifier on the decoded trace "
            "encoded again",
            "steps_sd": [float(s) for s in steps],
            "sd_u": sd_u,
            "p_spike_classifier": [float(p) for p in p_latent(zs)],
            "p_spike_reencoded": [float(p) for p in p_re],
            "traces": decoded.tolist(),
            "class_mean_latents": {
                "what": "decoder output at the mean training latent of each class; p_spike: "
                "the classifier on it encoded again",
                "distance": dist_c,
                "distance_sd_u": dist_c / sd_u if sd_u > 0 else float("inf"),
                "no_spike": {"trace": dec_c[0].tolist(), "p_spike_reencoded": float(p_c[0])},
                "spike": {"trace": dec_c[1].tolist(), "p_spike_reencoded": float(p_c[1])},
            },
            "held_out_mean_window": {
                "spike": held_target[held_y == 1].mean(axis=0).tolist()
                if (held_y == 1).any()
                else None,
                "no_spike": held_target[held_y == 0].mean(axis=0).tolist()
                if (held_y == 0).any()
                else None,
            },
        },
        "samples": {
            "n": n_samples,
            "window_sd_mean": float(samples.std(axis=1).mean()),
            "held_out_window_sd_mean": float(held_target.std(axis=1).mean()),
            "window_mean_sd": float(samples.mean(axis=1).std()),
            "held_out_window_mean_sd": float(held_target.mean(axis=1).std()),
            "p_spike_fraction": float(np.mean(p_samples >= cfg.threshold)),
            "held_out_positive_fraction": float(held_y.mean()),
        },
        "versions": package_versions(),
        "cpu": cpu_model(),
        "device": device_info(),
    }
    result = LatentAnalysis(report, latents, labels, cells, decoded, samples)

    # ---------------------------------------------------------------- files (all computed)
    out.mkdir(parents=True, exist_ok=True)
    for fname, fn in (
        ("pca.png", lambda p: _plot_pca(p, proj, get, heldout, names, ratio, pc1_auc)),
        ("decoded.png", lambda p: _plot_decoded(p, report, cfg)),
        ("samples.png", lambda p: _plot_samples(p, samples, held_target, held_y, cfg)),
    ):
        path = out / fname
        _atomic(path, fn)
        result.files.append(path)
    write_json_atomic(out / "latents.json", report)
    result.files.append(out / "latents.json")
    if log is not None:
        _summary(report, log)
    return result


def _summary(r: dict, log) -> None:
    ev = r["pca"]["explained_variance_ratio"]
    log(
        "PCA of held-out latents: explained variance "
        + ", ".join(f"{v:.3f}" for v in ev[:5])
        + f" (first {min(5, len(ev))})"
    )
    log("latent classifier (fitted on training cells) | window-features logistic:")
    for n, s in r["classifier"]["scores"].items():
        if n.startswith("train"):
            continue
        b = r["classifier"]["window_features_baseline"][n]
        log(
            f"  {n:>14}: balanced acc {s['balanced_accuracy']:.3f}, ROC AUC {s['roc_auc']:.3f}"
            f" | {b['balanced_accuracy']:.3f}, {b['roc_auc']:.3f}"
        )
    for n, s in r["reconstruction"].items():
        log(f"  recon MSE {n:>14}: {s['recon_mse']:.4f}")


# ---------------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _subsample(y, n_per_class, seed=0):
    rng = np.random.default_rng(seed)
    pick = []
    for c in (0, 1):
        idx = np.flatnonzero(y == c)
        if len(idx) > n_per_class:
            idx = rng.choice(idx, n_per_class, replace=False)
        pick.append(idx)
    return pick


def _plot_pca(path, proj, get, heldout, names, ratio, pc1_auc):
    plt = _plt()
    panels = [("held_out", "synthetic held-out cells")] + [(n, n[5:]) for n in names]
    if len(panels) > 1:  # all real files in one panel
        panels = [panels[0], ("__files__", "extra files: " + ", ".join(n[5:] for n in names))]
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(5 * (len(panels) + 1), 4.4))
    for ax, (n, title) in zip(axes, panels, strict=False):
        if n == "__files__":
            xy = np.concatenate([proj[m] for m in names])
            y = np.concatenate([get(m)[1] for m in names])
        else:
            xy, y = proj[n], get(n)[1]
        no, yes = _subsample(y, 1500)
        ax.scatter(*xy[no].T, s=4, c="tab:blue", alpha=0.4, label=f"no spike ({(y == 0).sum()})")
        ax.scatter(*xy[yes].T, s=4, c="tab:red", alpha=0.4, label=f"spike ({(y == 1).sum()})")
        ax.set_xlabel(f"PC1 ({ratio[0]:.1%})")
        ax.set_ylabel(f"PC2 ({ratio[1]:.1%})" if len(ratio) > 1 else "PC2")
        ax.set_title(title + " (≤1,500 per class shown)", fontsize=9)
        ax.legend(fontsize=7, markerscale=3)
    ax = axes[-1]
    y, x0 = get("held_out")[1], proj["held_out"][:, 0]
    bins = np.linspace(np.percentile(x0, 0.5), np.percentile(x0, 99.5), 40)
    for c, col, lab in ((0, "tab:blue", "no spike"), (1, "tab:red", "spike")):
        if (y == c).any():
            ax.hist(x0[y == c], bins, density=True, histtype="step", color=col, label=lab)
    ax.set_xlabel("PC1 (held-out cells)")
    ax.set_ylabel("density")
    ax.set_title(f"PC1 alone: ROC AUC {pc1_auc['held_out']:.3f}", fontsize=9)
    ax.legend(fontsize=7)
    fig.suptitle("calcium-detect VAE: PCA of the latent means (fitted on held-out cells)",
                 fontsize=11, x=0.02, ha="left")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def _shade(ax, cfg):
    c0 = -(cfg.label_frames // 2)
    ax.axvspan(c0 - 0.5, c0 + cfg.label_frames - 0.5, color="0.92")


def _plot_decoded(path, report, cfg):
    plt = _plt()
    d = report["decoded"]
    t = np.arange(cfg.window) - cfg.window // 2
    steps, traces = np.array(d["steps_sd"]), np.array(d["traces"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    cmap = plt.get_cmap("coolwarm")
    smax = np.abs(steps).max()
    for s, tr, pc, p in zip(
        steps, traces, d["p_spike_classifier"], d["p_spike_reencoded"], strict=True
    ):
        axes[0].plot(t, tr, color=cmap(0.5 + 0.5 * s / smax), lw=1.4,
                     label=f"z̄ {'+' if s >= 0 else '−'} {abs(s):g}·sd·u: P {pc:.2f}, "
                     f"re-encoded {p:.2f}")  # fmt: skip
    _shade(axes[0], cfg)
    axes[0].set_title("the latent classifier's direction decoded (red: 'spiking')", fontsize=9)
    axes[0].legend(fontsize=6.5)
    m = d["held_out_mean_window"]
    for k, col in (("no_spike", "tab:blue"), ("spike", "tab:red")):
        if m[k] is not None:
            axes[1].plot(t, m[k], color=col, lw=1.4, label=f"mean held-out window: {k}")
    cm = d["class_mean_latents"]
    for k, col in (("no_spike", "tab:blue"), ("spike", "tab:red")):
        axes[1].plot(t, cm[k]["trace"], color=col, lw=1.2, ls="--",
                     label=f"decoded mean {k} latent (P = {cm[k]['p_spike_reencoded']:.2f})")  # fmt: skip
    _shade(axes[1], cfg)
    axes[1].set_title(
        "class means: the data (solid), the decoder at the mean latent (dashed)", fontsize=9
    )
    axes[1].legend(fontsize=7)
    unit = "z-scored window" if cfg.normalise == "window" else "normalised trace"
    axes[0].set_ylabel(f"{unit} (as the model sees it)")
    for a in axes:
        a.set_xlabel("frame from the centre (10 ms); label frames shaded")
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def _plot_samples(path, samples, held, held_y, cfg):
    plt = _plt()
    t = np.arange(cfg.window) - cfg.window // 2
    n = min(len(samples), 16)
    cols = 4
    rows = -(-n // cols) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(11, 2.0 * rows), sharex=True, sharey=True,
                             squeeze=False)  # fmt: skip
    for a, s in zip(axes[:-1].ravel(), samples[:n], strict=False):
        a.plot(t, s, color="tab:purple", lw=1.0)
        _shade(a, cfg)
    for a in axes[:-1].ravel()[n:]:
        a.axis("off")
    rng = np.random.default_rng(1)
    for a, c in zip(axes[-1], (1, 1, 0, 0), strict=False):
        idx = np.flatnonzero(held_y == c)
        if len(idx):
            a.plot(t, held[rng.choice(idx)], color="k", lw=1.0)
            a.set_title(f"data (held out): {'spike' if c else 'no spike'}", fontsize=8)
        _shade(a, cfg)
    axes[0, 0].set_title("decoded from z ~ N(0, I)", fontsize=8)
    fig.suptitle("calcium-detect VAE: samples from the decoder (purple) and held-out windows "
                 "(black)", fontsize=10, x=0.02, ha="left")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
