"""``neurolearn quickstart``: small datasets, every task's ``small`` config, one report.

What a new user runs first (the README's first command): it generates a small dataset for each
task with ``neurosim generate`` (the same commands a user would type, printed as they run),
trains each task's ``small`` preset with ``neurolearn train``, and writes ``OUT/report.md``
linking every task's own report, with each one's headline metrics beside its baselines.

Interrupted, it picks up where it stopped: finished datasets and finished runs are kept, an
interrupted run is resumed (``--resume``).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from .checkpoints import RunFolder, write_text_atomic

__all__ = ["QUICKSTART", "run_quickstart"]


@dataclass(frozen=True)
class Step:
    """One task of the quickstart: the data it generates and the metric it headlines."""

    task: str
    data: str  # file name under OUT/data
    generate: tuple[str, ...]  # `neurosim generate` arguments (without --out and --seed)
    headline: str  # the metric shown in the summary table (val split)


QUICKSTART: tuple[Step, ...] = (
    Step(
        "hh-voltage",
        "hh.h5",
        ("hh-voltage", "--n-train", "1000", "--n-test", "2"),
        "rmse",
    ),
    Step(
        "lfp-spike",
        "lfp.h5",
        ("lfp", "--duration-s", "60"),
        "roc_auc",
    ),
    Step(
        "ring-counts",
        "ring.h5",
        ("ring-counts", "--trials", "30", "--duration-ms", "1000", "--bin-ms", "10"),
        "poisson_deviance",
    ),
    Step(
        "calcium-detect",
        "calcium.h5",
        ("calcium", "--cells", "20", "--duration-s", "60", "--noise-level", "2"),
        "roc_auc",
    ),
    Step(
        "calcium-rate",
        "calcium.h5",  # the same synthetic cells as calcium-detect
        ("calcium", "--cells", "20", "--duration-s", "60", "--noise-level", "2"),
        "corr_25hz_mean",
    ),
)


def _generate(step: Step, path: Path, seed: int, say) -> None:
    from neurosim.cli import main as neurosim_main

    argv = ["generate", *step.generate, "--out", str(path), "--seed", str(seed)]
    if path.exists():
        say(f"[{step.task}] data: {path} exists, reused")
        return
    say(f"[{step.task}] $ neurosim {shlex.join(argv)}")
    code = neurosim_main(argv)
    if code != 0:
        raise RuntimeError(f"neurosim {shlex.join(argv)} failed (exit {code})")


def _train(step: Step, data: Path, run: Path, seed: int, say, progress: bool) -> float:
    from .tasks import get
    from .train import train_and_evaluate

    folder = RunFolder(run)
    if folder.is_run() and folder.read_run().get("status") == "done":
        say(f"[{step.task}] run: {run} is finished, kept")
        return 0.0
    resume = folder.is_run()
    argv = ["train", step.task, "--data", str(data), "--config", "small", "--out", str(run)]
    argv += ["--seed", str(seed)] + (["--resume"] if resume else [])
    say(f"[{step.task}] $ neurolearn {shlex.join(argv)}")
    t0 = time.perf_counter()
    train_and_evaluate(
        get(step.task),
        {"seed": seed} if not resume else {},
        data=data,
        workdir=run,
        resume=resume,
        progress=progress,
        log=say,
        preset="small",
    )
    return time.perf_counter() - t0


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.4g}"


def _summary(out: Path, steps, seconds: dict[str, float]) -> str:
    lines = [
        "# neurolearn quickstart",
        "",
        "Small datasets and each task's `small` config: a first look, not the documented",
        "results (those are in `docs/tasks/`). Each task's own report has its figures, the",
        "split, the timing and the full config.",
        "",
        "| task | headline metric (validation) | model | best baseline | report |",
        "|---|---|---|---|---|",
    ]
    for step in steps:
        folder = RunFolder(out / step.task)
        m = json.loads(folder.metrics_json.read_text())
        value = m["metrics"]["val"].get(step.headline)
        base = {
            k.removeprefix("val_"): v.get(step.headline)
            for k, v in m.get("baselines", {}).items()
            if k.startswith("val_") and v.get(step.headline) is not None
        }
        lower = m.get("monitor_mode", "min") == "min"
        best = None
        if base:
            name = (min if lower else max)(base, key=base.get)
            best = f"{name}: {_fmt(base[name])}"
        lines.append(
            f"| {step.task} | {step.headline} | {_fmt(value)} | {best or '–'} | "
            f"[{step.task}/report.md]({step.task}/report.md) |"
        )
    lines += ["", "Figures:", ""]
    for step in steps:
        lines += [f"![{step.task}]({step.task}/examples.png)", ""]
    total = sum(seconds.values())
    lines += [f"Training time in this invocation: {total:.0f} s.", ""]
    return "\n".join(lines)


def run_quickstart(
    out: str | Path = "runs/quickstart",
    *,
    seed: int = 0,
    tasks: list[str] | None = None,
    progress: bool = True,
    log=print,
) -> Path:
    """Generate the small datasets, train every task's ``small`` config, write the report.

    Args:
        out: the folder for ``data/``, one run folder per task and ``report.md``.
        seed: the seed of every dataset and run.
        tasks: only these tasks (default: all of :data:`QUICKSTART`).
        progress: show progress bars.
        log: where progress lines go.

    Returns:
        The path of ``report.md``.
    """
    say = log or (lambda s: None)
    steps = [s for s in QUICKSTART if tasks is None or s.task in tasks]
    unknown = sorted(set(tasks or []) - {s.task for s in QUICKSTART})
    if unknown:
        raise ValueError(
            f"quickstart has no task(s) {unknown}; it runs {[s.task for s in QUICKSTART]}"
        )
    out = Path(out)
    (out / "data").mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    for step in steps:
        data = out / "data" / step.data
        _generate(step, data, seed, say)
        seconds[step.task] = _train(step, data, out / step.task, seed, say, progress)
    report = write_text_atomic(out / "report.md", _summary(out, steps, seconds))
    say(f"quickstart report: {report}")
    return report
