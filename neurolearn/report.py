"""Figures and the Markdown report of a run folder."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import RunFolder, write_text_atomic
from .config import config_to_dict

__all__ = ["plot_curves", "write_report"]


def _num(v) -> float:
    return float("nan") if v is None or v == "" else float(v)


def plot_curves(
    history: list[dict[str, Any]],
    path: str | Path,
    *,
    monitor: str,
    units: dict[str, str],
    best_epoch: int | None = None,
    title: str = "",
    references: dict[str, float] | None = None,
) -> None:
    """Loss (train objective, validation loss; log scale) and the monitored metric per epoch,
    with ``references`` (e.g. baselines' values of the same metric) as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = np.array([r["epoch"] for r in history])
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    for key, label, style in (
        ("loss", "training objective (incl. penalty)", "-o"),
        ("train_data_loss", "training loss", "-"),
        ("val_loss", "validation loss", "-s"),
    ):
        y = np.array([_num(r.get(key)) for r in history])
        ok = np.isfinite(y) & (y > 0)
        if ok.any():
            a.plot(ep[ok], y[ok], style, ms=3, lw=1.2, label=label)
    a.set_yscale("log")
    a.set_xlabel("epoch")
    a.set_ylabel(f"loss ({units.get('loss', '')})" if units.get("loss") else "loss")
    a.legend(fontsize=8)
    a.grid(alpha=0.3, which="both")
    y = np.array([_num(r.get(monitor)) for r in history])
    metric = monitor.removeprefix("val_")
    b.plot(ep, y, "-o", ms=3, color="tab:green", label=monitor)
    if best_epoch:
        sel = ep == best_epoch
        if sel.any():
            b.plot(
                ep[sel],
                y[sel],
                "*",
                ms=14,
                color="tab:red",
                label=f"best: epoch {best_epoch}, {y[sel][0]:.4g}",
            )
    for (label, value), ls in zip(
        (references or {}).items(), ("--", ":", "-.", "--"), strict=False
    ):
        if value is not None and np.isfinite(value):
            b.axhline(value, color="0.4", ls=ls, lw=1.0, label=f"{label}: {value:.4g}")
    unit = units.get(metric, "")
    b.set_xlabel("epoch")
    b.set_ylabel(f"{monitor} ({unit})" if unit else monitor)
    finite = y[np.isfinite(y)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
        b.set_yscale("log")
    b.legend(fontsize=8, loc="best")
    b.grid(alpha=0.3, which="both")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.4g}"
    return str(v)


def _metric_table(rows: dict[str, dict[str, float]], units: dict[str, str]) -> str:
    names: list[str] = []
    for m in rows.values():
        names += [k for k in m if k not in names]
    head = "| | " + " | ".join(f"{n} ({units[n]})" if units.get(n) else n for n in names) + " |"
    sep = "|---" * (len(names) + 1) + "|"
    body = "\n".join(
        f"| {label} | " + " | ".join(_fmt(m.get(n)) for n in names) + " |"
        for label, m in rows.items()
    )
    return "\n".join([head, sep, body])


def _device(info: dict[str, Any]) -> str:
    d = info.get("device", {})
    n = d.get("device_count", "?")
    return f"{d.get('device', '?')} ({d.get('backend', '?')}, {n} device(s))"


def _normalisation_text(folder: RunFolder) -> str:
    import json

    try:
        d = json.loads(folder.normalisation_json.read_text())
    except (OSError, ValueError):
        return "unknown"
    parts = []
    for k in ("x", "y"):
        if d.get(k):
            mean = ", ".join(f"{v:.4g}" for v in d[k]["mean"])
            std = ", ".join(f"{v:.4g}" for v in d[k]["std"])
            parts.append(f"{k}: mean {mean}, sd {std} {d[k].get('unit', '')}".rstrip())
    return "; ".join(parts + [d.get("fitted_on", "")]) if parts else d.get("fitted_on", "none")


def write_report(
    folder: RunFolder,
    *,
    task,
    cfg,
    info: dict[str, Any],
    metrics: dict[str, Any],
    split: dict[str, Any],
    test_source: str | None = None,
) -> Path:
    """``report.md``: what was trained on what, final metrics beside baselines, figures.

    ``test_source`` says where the test metrics come from when they are not rows of the split
    (e.g. the dataset's ``X_test`` arrays)."""
    units = metrics.get("units", {})
    m = metrics["metrics"]
    data = info.get("data", {})
    timing = metrics.get("timing", {})
    lines = [f"# {task.name} — run `{folder.path.name}`", ""]
    lines += [f"{task.description}", ""]
    rows = {f"model, {k}": v for k, v in m.items()}
    for name, v in metrics.get("baselines", {}).items():
        split_name, _, what = name.partition("_")
        rows[f"baseline: {what.replace('_', ' ')}, {split_name}"] = v
    ordered = {}
    for s in ("val", "test"):
        ordered.update({k: v for k, v in rows.items() if k.endswith(f", {s}")})
    lines += [
        "## Final metrics",
        "",
        f"Weights: the **{metrics['final_checkpoint']}** checkpoint"
        + (f", epoch {metrics['final_epoch']}" if metrics.get("final_epoch") is not None else "")
        + f" (best epoch {metrics['best_epoch']} by `{metrics['monitor']}`"
        + (", stopped early" if metrics.get("stopped_early") else "")
        + ").",
        "",
        _metric_table(ordered, units),
        "",
    ]
    lines += [
        "![predictions vs truth](examples.png)",
        "",
        "## Training curves",
        "",
        "![loss and metric per epoch](curves.png)",
        "",
    ]
    lines += [
        "## Data and split",
        "",
        f"- data: `{data.get('path')}` (dataset `{data.get('dataset')}`, sha256 "
        f"`{str(data.get('sha256'))[:16]}…`, seed {data.get('attrs', {}).get('seed')})",
        "- split: "
        + ", ".join(
            f"{k} = {_fmt(v)}"
            for k, v in split.items()
            # an empty test part of the split is not where the test metrics come from
            if not isinstance(v, (list, dict))
            and not (k.startswith("n_test") and test_source and not v)
        ),
    ]
    if "test" in m:
        lines.append(
            f"- test: {test_source}"
            if test_source
            else f"- test: {split.get('n_test', '?')} rows of the split"
        )
    lines += [
        f"- normalisation: {_normalisation_text(folder)} (`normalisation.json`)",
        "",
    ]
    lines += [
        "## Model and training",
        "",
        f"- parameters: {info.get('n_params')}; receptive field: "
        f"{info.get('receptive_field')} steps",
        f"- epochs run: {timing.get('epochs_run')}; median "
        f"{_fmt(timing.get('median_epoch_s'))} s per epoch, "
        f"{_fmt(timing.get('median_steps_per_s'))} steps/s (compile "
        f"{_fmt(info.get('compile_s'))} s, not included) on {_device(info)}",
        "- versions: "
        + ", ".join(f"{k} {info.get('versions', {}).get(k)}" for k in ("jax", "flax", "optax")),
    ]
    for r in info.get("resumes") or []:
        changed = ", ".join(f"{k} {_fmt(a)} → {_fmt(b)}" for k, (a, b) in r["changes"].items())
        lines.append(
            f"- resumed after epoch {r['after_epoch']} ({r['action']}"
            + (f"; changed {changed}" if changed else "")
            + "); see `resumes` in run.json"
        )
    lines += [
        "",
        "<details><summary>config</summary>",
        "",
        "| key | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in config_to_dict(cfg).items()]
    lines += [
        "",
        "</details>",
        "",
        "## Reuse",
        "",
        "```",
        f"neurolearn evaluate {folder.path} --data {data.get('path')}",
        f"neurolearn predict {folder.path} --input INPUT --out OUTPUT",
        "```",
        "",
    ]
    return write_text_atomic(folder.report_md, "\n".join(lines))


def plot_inference(
    path,
    truth: list[np.ndarray],
    pred: list[np.ndarray],
    r_cells,
    *,
    calcium: list[np.ndarray] | None = None,
    seconds: float = 30.0,
    frame_rate: float = 100.0,
    title: str = "",
) -> None:
    """Spike inference on a recording: the Spikefinder r of every cell, and the cell with the
    median r over ``seconds`` (its calcium trace when given, true spikes, inferred rate)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = np.asarray(r_cells, np.float64)
    ok = np.flatnonzero(np.isfinite(r))
    cell = int(ok[np.argsort(r[ok])[len(ok) // 2]]) if ok.size else 0
    n = min(len(truth[cell]), len(pred[cell]), int(seconds * frame_rate))
    # the stretch with the most spikes
    s = np.nan_to_num(np.asarray(truth[cell], np.float64))
    c = np.concatenate([[0.0], np.cumsum(s)])
    start = int(np.argmax(c[n:] - c[: len(c) - n])) if len(s) > n else 0
    t = (start + np.arange(n)) / frame_rate
    rows = 3 if calcium is not None else 2
    fig = plt.figure(figsize=(12, 2.0 * rows + 1.5))
    gs = fig.add_gridspec(rows, 4)
    ax_r = fig.add_subplot(gs[:, 0])
    ax_r.barh(np.arange(len(r)), np.nan_to_num(r), color="tab:blue")
    ax_r.barh([cell], [np.nan_to_num(r[cell])], color="tab:orange")
    ax_r.set_yticks(np.arange(len(r)))
    ax_r.set_ylabel("cell")
    ax_r.set_xlabel("Spikefinder r (25 Hz)")
    ax_r.invert_yaxis()
    axes = [fig.add_subplot(gs[i, 1:]) for i in range(rows)]
    k = 0
    if calcium is not None:
        axes[0].plot(t, np.asarray(calcium[cell])[start : start + n], color="k", lw=0.7)
        axes[0].set_ylabel("fluorescence")
        k = 1
    axes[k].vlines(t[s[start : start + n] > 0], 0, s[start : start + n][s[start : start + n] > 0],
                   color="k", lw=1.0)  # fmt: skip
    axes[k].set_ylabel("true spikes")
    axes[k + 1].plot(t, np.asarray(pred[cell], np.float64)[start : start + n], color="tab:orange",
                     lw=0.9)  # fmt: skip
    axes[k + 1].set_ylabel("inferred rate\n(spikes/frame)")
    axes[-1].set_xlabel(f"time (s), cell {cell} (median r = {r[cell]:.3f})")
    for a in axes[:-1]:
        a.sharex(axes[-1])
    fig.suptitle(title, fontsize=11, x=0.02, ha="left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
