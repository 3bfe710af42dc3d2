"""The lfp-spike split comparison figure (docs/tasks/lfp-spike.md, "Split").

Reads pairs of run folders, one trained with ``split=blocks`` and one with ``split=random`` (the
notebook's leaky split) on the same file, each with ``independent.json`` written by
``neurolearn evaluate RUN --data OTHER_FILE --out RUN/independent.json`` on a recording that
neither run saw. Draws, for each pair: the validation ROC AUC the run reported beside its ROC
AUC on the independent file, and both runs' validation ROC AUC and losses per epoch.

    python docs/tasks/lfp_leak_figure.py --pair forecasting RUN_BLOCKS RUN_RANDOM \\
        --pair detection RUN_BLOCKS RUN_RANDOM --out docs/tasks/figures/lfp-spike-leak.png

Only numpy and matplotlib: the numbers come from the run records (metrics.json, history.csv,
split.json, independent.json), so the committed records remake the figure.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np


def auc_se(auc: float, n: int, base_rate: float) -> float:
    """Hanley & McNeil's (1982) standard error of a ROC AUC from ``n`` examples of which a
    share ``base_rate`` is positive. It assumes independent examples; overlapping windows are
    not, so it is a lower bound here. (Its exponential model is close to a bootstrap for ROC
    AUCs up to ~0.7, the range here, and too large above.)"""
    n1 = max(1, round(n * base_rate))
    n0 = max(1, n - n1)
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)
    return float(np.sqrt(max(var, 0.0) / (n1 * n0)))


def read_run(folder: Path) -> dict:
    """The reported validation metrics, the independent-file metrics and the history."""
    folder = Path(folder)
    for name in ("metrics.json", "history.csv", "split.json", "independent.json"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{str(folder)!r} has no {name}"
                + (
                    ": run `neurolearn evaluate RUN --data OTHER_FILE --out RUN/independent.json`"
                    if name == "independent.json"
                    else ": not a finished run folder of `neurolearn train`"
                )
            )
    metrics = json.loads((folder / "metrics.json").read_text())
    indep = json.loads((folder / "independent.json").read_text())
    split = json.loads((folder / "split.json").read_text())
    if indep.get("same_data_as_training", True):
        raise ValueError(
            f"{str(folder)!r}: independent.json was scored on the training file; it must be "
            "another recording (another --seed)"
        )
    with open(folder / "history.csv") as f:
        rows = list(csv.DictReader(f))

    def col(name):
        return np.array([float(r[name]) if r.get(name) not in (None, "") else np.nan for r in rows])

    return {
        "name": folder.name,
        "split": split.get("method", "?"),
        "leaky": bool(split.get("leaky", False)),
        "val": metrics["metrics"]["val"],
        "indep": indep["metrics"]["val"],
        "n_val": int(split["n_val"]),
        "n_indep": int(indep["split"]["n_val"]),
        "indep_data": Path(indep["data"]).name,
        "epoch": col("epoch"),
        "loss": col("loss"),
        "val_loss": col("val_loss"),
        "val_roc_auc": col("val_roc_auc"),
        "best_epoch": metrics.get("best_epoch"),
    }


def draw(pairs: list[tuple[str, dict, dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"blocks": "tab:blue", "random": "tab:red"}
    fig, axes = plt.subplots(len(pairs), 3, figsize=(14, 3.6 * len(pairs)), squeeze=False)
    for i, (label, blocks, leaky) in enumerate(pairs):
        a, b, c = axes[i]
        runs = (("blocks", blocks), ("random", leaky))
        for j, (kind, r) in enumerate(runs):
            vals = [r["val"]["roc_auc"], r["indep"]["roc_auc"]]
            err = [
                auc_se(r["val"]["roc_auc"], r["n_val"], r["val"]["base_rate"]),
                auc_se(r["indep"]["roc_auc"], r["n_indep"], r["indep"]["base_rate"]),
            ]
            x = np.array([0, 1]) + (j - 0.5) * 0.36
            bars = a.bar(x, vals, width=0.34, color=colors[kind], yerr=err, capsize=3)
            bars[1].set_alpha(0.45)
            for xx, v in zip(x, vals, strict=True):
                a.text(xx + 0.02, v + 0.002, f"{v:.3f}", ha="left", va="bottom", fontsize=7)
        a.set_xticks(
            [0, 1], ["validation\n(same file)", f"independent file\n({blocks['indep_data']})"]
        )
        lo = min(min(r["val"]["roc_auc"], r["indep"]["roc_auc"]) for _, r in runs)
        hi = max(max(r["val"]["roc_auc"], r["indep"]["roc_auc"]) for _, r in runs)
        a.set_ylim(max(0.0, min(0.5, lo) - 0.03), hi + 0.06)
        a.axhline(0.5, color="0.5", lw=0.7, ls=":")
        a.set_ylabel("ROC AUC")
        a.set_title(
            f"{label}\nROC AUC of the reported weights (± 1 SE, Hanley–McNeil)",
            fontsize=9,
            loc="left",
        )
        handles = [plt.Rectangle((0, 0), 1, 1, color=colors[k]) for k, _ in runs]
        a.legend(handles, ["split=blocks", "split=random (leaky)"], fontsize=8, frameon=False)
        for kind, r in runs:
            b.plot(r["epoch"], r["val_roc_auc"], color=colors[kind], lw=1.2)
            b.axhline(r["indep"]["roc_auc"], color=colors[kind], lw=0.9, ls="--")
            c.plot(r["epoch"], r["loss"], color=colors[kind], lw=1.2, label=f"{kind}: training")
            c.plot(
                r["epoch"],
                r["val_loss"],
                color=colors[kind],
                lw=1.0,
                ls=":",
                label=f"{kind}: validation",
            )
        b.set_xlabel("epoch")
        b.set_ylabel("validation ROC AUC")
        b.set_title(
            "validation ROC AUC per epoch\n(dashed: the reported weights on the independent file)",
            fontsize=9,
            loc="left",
        )
        c.set_xlabel("epoch")
        c.set_ylabel("BCE (nats)")
        c.set_title("loss per epoch\n(solid: training, dotted: validation)", fontsize=9, loc="left")
        c.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    tmp.replace(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--pair",
        nargs=3,
        action="append",
        required=True,
        metavar=("LABEL", "RUN_BLOCKS", "RUN_RANDOM"),
        help="a label and two run folders: split=blocks and split=random, same file and model",
    )
    p.add_argument("--out", required=True, type=Path, help="the PNG to write")
    args = p.parse_args(argv)
    pairs = []
    for label, rb, rr in args.pair:
        blocks, leaky = read_run(Path(rb)), read_run(Path(rr))
        if blocks["leaky"] or not leaky["leaky"]:
            raise ValueError(
                f"--pair {label}: expected a split=blocks run then a split=random run, got "
                f"{blocks['split']!r} and {leaky['split']!r}"
            )
        pairs.append((label, blocks, leaky))
        for kind, r in (("blocks", blocks), ("random", leaky)):
            se = auc_se(r["val"]["roc_auc"], r["n_val"], r["val"]["base_rate"])
            print(
                f"{label}, {kind}: val ROC AUC {r['val']['roc_auc']:.4f} (SE {se:.3f}, "
                f"{r['n_val']} windows), independent {r['indep']['roc_auc']:.4f} "
                f"({r['n_indep']} windows); val − independent "
                f"{r['val']['roc_auc'] - r['indep']['roc_auc']:+.4f}  [{r['name']}]"
            )
    draw(pairs, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
