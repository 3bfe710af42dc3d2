"""``neurolearn results``: the documented results tables, made from run folders.

Every finished run folder under the given roots is read (``run.json``, ``metrics.json``);
runs of one task with the same preset, overrides and data file but other seeds are one *variant*
(named with its data file when a task has runs on several),
summarised as mean ± sd over seeds (and the number of seeds). For each task it writes, between
the markers ``<!-- results:begin -->`` and ``<!-- results:end -->`` of ``DOCS/TASK.md``
(appended when the page has none), a table of every variant's validation and test metrics beside
the baselines on the same examples, the command of each variant, the data it was trained on,
the CPU and versions, and the figures of its first seed (copied to ``DOCS/figures/``). With
``--readme``, the README's table between ``<!-- results-table:begin -->`` and
``<!-- results-table:end -->`` gets one row per task: its ``best`` variant with the fewest
overrides, and of those the one with the most seeds (else its first variant).

Nothing here is typed by hand: rerun the command after training to refresh the pages. The
run records behind the committed pages (run.json, metrics.json, config.json, split.json,
history.csv, report.md; no checkpoints) go in ``docs/tasks/runs/`` (so far: calcium-rate's),
so that ``neurolearn results docs/tasks/runs`` remakes those pages from them.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoints import RunFolder, write_text_atomic

__all__ = ["collect_runs", "write_results"]

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
TABLE_BEGIN, TABLE_END = "<!-- results-table:begin -->", "<!-- results-table:end -->"


@dataclass
class Variant:
    """Runs of one task on one data file that differ only in their seed.

    ``show_data``: name the data file in the label (set when a task's variants were trained
    on several files, e.g. synthetic and real recordings)."""

    task: str
    preset: str | None
    overrides: dict[str, Any]
    runs: list[Path] = field(default_factory=list)
    infos: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)
    data: str = ""
    show_data: bool = False

    @property
    def label(self) -> str:
        extra = " ".join(_pairs(self.overrides))
        label = " ".join(x for x in (self.preset or "defaults", extra) if x)
        return f"{label} · {self.data}" if self.show_data and self.data else label

    @property
    def slug(self) -> str:
        return self.runs[0].name


def _pairs(overrides: dict[str, Any]) -> list[str]:
    """``KEY=VALUE`` as typed on the command line (text unquoted, the rest as JSON)."""
    return [
        f"{k}={v if isinstance(v, str) else json.dumps(v, separators=(',', ':'))}"
        for k, v in sorted(overrides.items())
    ]


def collect_runs(roots: list[str | Path]) -> dict[str, list[Variant]]:
    """Finished runs under ``roots`` (each a run folder or a folder of them), by task and
    variant (preset + overrides without the seed), in name order."""
    folders: list[Path] = []
    for root in map(Path, roots):
        if not root.exists():
            raise FileNotFoundError(f"{str(root)!r} does not exist")
        if (root / "run.json").exists():
            folders.append(root)
        else:
            folders += sorted(p.parent for p in root.glob("*/run.json"))
    out: dict[str, dict[str, Variant]] = {}
    for f in folders:
        rf = RunFolder(f)
        info = rf.read_run()
        if info.get("status") != "done" or not rf.metrics_json.exists():
            continue
        over = {k: v for k, v in (info.get("overrides") or {}).items() if k != "seed"}
        data = info.get("data") or {}
        key = json.dumps([info.get("preset"), over, data.get("sha256")], sort_keys=True)
        v = out.setdefault(info["task"], {}).setdefault(
            key,
            Variant(info["task"], info.get("preset"), over, data=Path(data.get("path", "")).name),
        )
        v.runs.append(f)
        v.infos.append(info)
        v.metrics.append(json.loads(rf.metrics_json.read_text()))
    for variants in out.values():
        several = len({v.infos[0].get("data", {}).get("sha256") for v in variants.values()}) > 1
        for v in variants.values():
            v.show_data = several
    from .tasks import get

    def order(task: str, v: Variant):
        presets = list(get(task).presets)
        rank = presets.index(v.preset) if v.preset in presets else len(presets)
        return (rank, len(v.overrides), v.label)

    return {t: sorted(vs.values(), key=lambda v: order(t, v)) for t, vs in sorted(out.items())}


def _stat(values: list[float | None]) -> str:
    vals = np.array([np.nan if v is None else float(v) for v in values])
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return "–"
    if vals.size == 1:
        return f"{vals[0]:.4g}"
    return f"{vals.mean():.4g} ± {vals.std(ddof=1):.2g}"


def _columns(variants: list[Variant], metric_names: list[str] | None) -> list[str]:
    names: list[str] = []
    for v in variants:
        for m in v.metrics:
            for split in m["metrics"].values():
                names += [k for k in split if k not in names]
    skip = {"loss", "n_trials", "n_blocks"}
    names = [n for n in names if n not in skip and not n.endswith("_threshold")]
    return [n for n in (metric_names or names) if n in names]


def _table(variants: list[Variant], columns: list[str], units: dict[str, str]) -> list[str]:
    head = "| variant | split | seeds | " + " | ".join(
        f"{c} ({units[c]})" if units.get(c) else c for c in columns
    )
    lines = [head + " |", "|---" * (len(columns) + 3) + "|"]
    for v in variants:
        for split in ("val", "test"):
            if not all(split in m["metrics"] for m in v.metrics):
                continue
            row = [_stat([m["metrics"][split].get(c) for m in v.metrics]) for c in columns]
            lines.append(f"| {v.label} | {split} | {len(v.metrics)} | " + " | ".join(row) + " |")
            names = sorted({b for m in v.metrics for b in m.get("baselines", {})})
            for b in names:
                if not b.startswith(f"{split}_"):
                    continue
                row = [
                    _stat([m.get("baselines", {}).get(b, {}).get(c) for m in v.metrics])
                    for c in columns
                ]
                what = b.removeprefix(f"{split}_").replace("_", " ")
                lines.append(
                    f"| ↳ baseline: {what} | {split} | {len(v.metrics)} | " + " | ".join(row) + " |"
                )
    return lines


def _command(v: Variant) -> str:
    info = v.infos[0]
    data = Path(info["data"]["path"]).name
    args = ["neurolearn", "train", v.task, "--data", data]
    conf = ([v.preset] if v.preset else []) + _pairs(v.overrides)
    if conf:
        args += ["--config", *conf]
    seeds = sorted(int(i.get("seed", 0)) for i in v.infos)
    out = re.sub(r"s\d+$", "sS", v.slug) if re.search(r"s\d+$", v.slug) else v.slug + "-sS"
    args += ["--seed", "S", "--out", f"runs/{out}"]
    return shlex.join(args) + f"   # S in {seeds}"


def _section(task: str, variants: list[Variant], docs: Path, metric_names) -> str:
    from .tasks import get

    t = get(task)
    columns = _columns(variants, metric_names)
    fig_dir = docs / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        BEGIN,
        "",
        "## Results",
        "",
        "Made by `neurolearn results` from the run folders below (mean ± sd over seeds where "
        "there are several); the baselines are scored on the same held-out examples. Seconds "
        "per epoch are as measured, on a shared machine that was running other jobs.",
        "",
    ]
    lines += _table(variants, columns, t.units)
    lines += ["", "### How each variant was trained", ""]
    for v in variants:
        info = v.infos[0]
        dev = info.get("device", {})
        timing = [m.get("timing", {}).get("median_epoch_s") for m in v.metrics]
        attrs = info.get("data", {}).get("attrs", {})
        lines += [
            f"- **{v.label}** ({len(v.runs)} seed(s); {info.get('n_params')} parameters; "
            f"model `{info.get('model')}`; {_stat(timing)} s per epoch on "
            f"{dev.get('cpu_model') or dev.get('device', '?')}, jax "
            f"{info.get('versions', {}).get('jax')}):",
            "",
            "  ```",
            f"  {_command(v)}",
            "  ```",
            "",
            f"  data: `{Path(info['data']['path']).name}` (dataset "
            f"`{info['data'].get('dataset')}`, seed {attrs.get('seed')}, sha256 "
            f"`{str(info['data'].get('sha256'))[:12]}…`)",
            "",
        ]
    lines += ["### Figures (first seed of each variant)", ""]
    for v in variants:
        for name in ("examples.png", "curves.png", "metrics.png"):
            src = v.runs[0] / name
            stem = v.slug if v.slug.startswith(task) else f"{task}-{v.slug}"
            dest = fig_dir / f"{stem}-{name}"
            if src.exists():
                shutil.copyfile(src, dest)
            if dest.exists():  # also from run records kept without their figures
                lines += [f"![{v.label}: {name}](figures/{dest.name})", ""]
    lines += [END]
    return "\n".join(lines)


def _replace(text: str, begin: str, end: str, new: str) -> str:
    if begin in text and end in text:
        a, b = text.index(begin), text.index(end) + len(end)
        return text[:a] + new + text[b:]
    return text.rstrip() + "\n\n" + new + "\n"


def _readme_table(by_task: dict[str, list[Variant]], docs: Path, readme: Path) -> str:
    from .tasks import get

    rel = docs.relative_to(readme.parent) if docs.is_relative_to(readme.parent) else docs
    lines = [
        TABLE_BEGIN,
        "| task | variant | seeds | validation | test | best baseline (test) | page |",
        "|---|---|---|---|---|---|---|",
    ]
    for task, variants in by_task.items():
        t = get(task)
        best = [x for x in variants if x.preset == "best"]
        # the plain `best` (fewest overrides), on the file it has the most seeds on
        v = min(best, key=lambda x: (len(x.overrides), -len(x.runs))) if best else variants[0]
        metric = t.monitor[0].removeprefix("val_")
        lower = t.monitor[1] == "min"
        val = _stat([m["metrics"]["val"].get(metric) for m in v.metrics])
        test = _stat([m["metrics"].get("test", {}).get(metric) for m in v.metrics])
        base = {}
        for m in v.metrics:
            for b, vals in m.get("baselines", {}).items():
                if b.startswith("test_") and vals.get(metric) is not None:
                    base.setdefault(b.removeprefix("test_"), []).append(vals[metric])
        best = "–"
        if base:
            means = {k: float(np.mean(x)) for k, x in base.items()}
            name = (min if lower else max)(means, key=means.get)
            best = f"{name.replace('_', ' ')}: {_stat(base[name])}"
        lines.append(
            f"| {task} | {v.label} | {len(v.metrics)} | {metric} {val} | {test} | {best} | "
            f"[{rel}/{task}.md]({rel}/{task}.md) |"
        )
    lines.append(TABLE_END)
    return "\n".join(lines)


def write_results(
    roots: list[str | Path],
    *,
    docs: str | Path = "docs/tasks",
    readme: str | Path | None = None,
    metrics: list[str] | None = None,
) -> list[Path]:
    """Write each task's results section (and the README's table); returns the files written.

    Raises:
        FileNotFoundError: a root that does not exist; ValueError: no finished run under them.
    """
    by_task = collect_runs(roots)
    if not by_task:
        raise ValueError(f"no finished run folder (run.json status 'done') under {roots}")
    docs = Path(docs)
    docs.mkdir(parents=True, exist_ok=True)
    written = []
    for task, variants in by_task.items():
        page = docs / f"{task}.md"
        text = page.read_text() if page.exists() else f"# {task}\n"
        text = _replace(text, BEGIN, END, _section(task, variants, docs, metrics))
        written.append(write_text_atomic(page, text))
    if readme is not None:
        readme = Path(readme)
        text = readme.read_text()
        if TABLE_BEGIN not in text:
            raise ValueError(
                f"{str(readme)!r} has no {TABLE_BEGIN} … {TABLE_END} markers for the table"
            )
        written.append(
            write_text_atomic(
                readme, _replace(text, TABLE_BEGIN, TABLE_END, _readme_table(by_task, docs, readme))
            )
        )
    return written
