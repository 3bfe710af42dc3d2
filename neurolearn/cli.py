"""The ``neurolearn`` command line: train, evaluate, predict, score, list tasks.

Thin: every command calls a library function (:func:`neurolearn.train.train_and_evaluate`,
:func:`~neurolearn.train.evaluate_run`, :func:`~neurolearn.predict.predict_file`,
:func:`neurolearn.metrics.spikefinder_scores`). ``neurolearn CMD --help`` describes each option.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from neurosim.cli import nonneg_int as _nonneg_int
from neurosim.cli import positive_float as _positive_float
from neurosim.cli import positive_int as _positive_int

from . import __version__


def _print_metrics(metrics: dict, units: dict) -> None:
    for split, values in metrics.items():
        parts = []
        for k, v in values.items():
            u = units.get(k, "")
            parts.append(f"{k} {v:.4g}{' ' + u if u and k != 'loss' else ''}")
        print(f"{split:>5}: " + ", ".join(parts))


def _cmd_tasks(args) -> int:
    from .config import config_to_dict
    from .tasks import all_tasks, get

    if args.name:
        from .models import model_names

        task = get(args.name)
        defaults = config_to_dict(task.Config())
        if args.json:
            print(
                json.dumps(
                    {
                        "name": task.name,
                        "description": task.description,
                        "dataset": task.dataset,
                        "config": defaults,
                        "presets": task.presets,
                        "models": model_names(),
                    },
                    indent=2,
                )
            )
            return 0
        print(f"{task.name}: {task.description}")
        print(f"data: a {task.dataset!r} dataset (neurosim generate {task.dataset} --help)")
        print(f"monitor: {task.monitor[0]} ({task.monitor[1]})")
        print("presets (--config NAME [KEY=VALUE ...]):")
        pw = max(6, *(len(n) for n in task.presets))
        for name, over in task.presets.items():
            shown = " ".join(f"{k}={json.dumps(v)}" for k, v in over.items()) or "the defaults"
            print(f"  {name:<{pw}}  {shown}")
        flat = {}
        for k, v in defaults.items():
            if k == "model":
                flat["model"] = v["name"]
                flat.update({f"model.{mk}": mv for mk, mv in v.items() if mk != "name"})
            else:
                flat[k] = v
        print(f"config keys (--config KEY=VALUE) and defaults (model= one of {model_names()}):")
        width = max(len(k) for k in flat)
        for k, v in flat.items():
            print(f"  {k:<{width}}  {json.dumps(v)}")
        return 0
    tasks = all_tasks()
    if args.json:
        print(
            json.dumps(
                {n: {"description": t.description, "dataset": t.dataset} for n, t in tasks.items()},
                indent=2,
            )
        )
        return 0
    width = max(len(n) for n in tasks)
    for name, t in tasks.items():
        print(f"{name:<{width}}  {t.description}  [data: neurosim generate {t.dataset}]")
    return 0


def _cmd_train(args) -> int:
    from .config import parse_config_args
    from .tasks import get
    from .train import train_and_evaluate

    task = get(args.task)
    preset, overrides = parse_config_args(args.config)
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if args.seed is not None:
        overrides["seed"] = args.seed
    result = train_and_evaluate(
        task,
        overrides,
        data=args.data,
        workdir=args.out,
        resume=args.resume,
        progress=not (args.no_progress or args.quiet),
        log=None if args.quiet else print,
        preset=preset,
    )
    if not args.quiet:
        print(
            f"final metrics ({result.final_checkpoint} checkpoint, epoch {result.final_epoch}; "
            f"best epoch {result.best_epoch}):"
        )
        _print_metrics(result.metrics, task.units)
        print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def _cmd_evaluate(args) -> int:
    from .checkpoints import json_ready, write_json_atomic
    from .train import evaluate_run

    out = evaluate_run(args.run, args.data, which=args.checkpoint)
    if args.out:
        from neurosim.io import check_output_path

        check_output_path(args.out, overwrite=True, suffixes=(".json",))
        write_json_atomic(args.out, out)
    if args.json:
        print(json.dumps(json_ready(out), indent=2, allow_nan=False))
    else:
        which, epoch = out["checkpoint"]
        print(f"{out['run']} ({which} checkpoint, epoch {epoch}) on {out['data']}:")
        _print_metrics(out["metrics"], out["units"])
        if out.get("baselines"):
            print("baselines on the same examples:")
            _print_metrics(out["baselines"], out["units"])
    return 0


def _cmd_predict(args) -> int:
    from .predict import predict_file

    out = predict_file(
        args.run,
        args.input,
        args.out,
        key=args.key,
        frame_rate=args.frame_rate,
        overwrite=args.overwrite,
        which=args.checkpoint,
    )
    print(f"wrote {out}")
    return 0


def _cmd_score(args) -> int:
    from neurosim.spikefinder import read_table

    from .metrics import spikefinder_scores

    # empty cells inside a column are NaN frames, dropped by the Spikefinder definition
    truth = read_table(args.truth, interior_nan=True)
    pred = read_table(args.prediction, interior_nan=True)
    if len(truth) != len(pred):
        raise ValueError(
            f"{args.truth!r} has {len(truth)} cells (columns) but "
            f"{args.prediction!r} has {len(pred)}; score needs the same cells"
        )
    scores = spikefinder_scores(truth, pred, downsample=args.downsample)
    if args.json:
        from .checkpoints import json_ready

        d = scores.to_json()
        print(json.dumps(json_ready({"cells": d["cells"], "mean": d["mean"]}), allow_nan=False))
        return 0
    hz = 100.0 / args.downsample
    print(f"Spikefinder correlation ({args.downsample}-frame bins, {hz:g} Hz at 100 Hz frames)")
    for i, r in enumerate(scores.cells):
        print(f"cell {i}: {r:.4f}")
    undefined = (
        f"; {scores.n_undefined} undefined (a constant trace), left out"
        if scores.n_undefined
        else ""
    )
    print(
        f"mean: {scores.mean:.4f}   median: {scores.median:.4f}   ({len(scores.cells)} cells"
        f"{undefined})"
    )
    return 0


def _cmd_infer_spikes(args) -> int:
    from .infer import infer_spikes, settings_from_args

    infer_spikes(
        args.recording,
        args.out,
        settings_from_args(args),
        cache=args.cache,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    return 0


def _cmd_quickstart(args) -> int:
    from .quickstart import run_quickstart

    run_quickstart(
        args.out,
        seed=args.seed,
        tasks=args.tasks,
        progress=not args.no_progress,
        log=print,
    )
    return 0


def _cmd_results(args) -> int:
    from .results import write_results

    for path in write_results(args.runs, docs=args.docs, readme=args.readme, metrics=args.metrics):
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurolearn",
        description="Train, evaluate and apply neural-network models to neurosim datasets and "
        "real recordings; score spike-rate predictions.",
    )
    parser.add_argument("--version", action="version", version=f"neurolearn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "tasks",
        help="list the learning tasks, or show one task's config",
        description="List the learning tasks and the dataset each one needs; "
        "with a NAME, show that task's config keys and defaults.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="a task to describe")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_tasks)

    p = sub.add_parser(
        "train",
        help="train a task's model on a dataset, writing a run folder",
        description="Train TASK's model on a dataset file. Writes RUN_DIR: config, "
        "normalisation, orbax checkpoints (latest and best), metrics history (CSV/JSONL), "
        "curves.png, examples.png, report.md. An interrupted run keeps its last checkpoint: "
        "continue it with --resume (it also finishes a run interrupted in its final "
        "evaluation). A diverged run (NaN loss) keeps its last good checkpoint; train again "
        "with a lower learning rate in a new RUN_DIR. `neurolearn tasks` lists the tasks.",
        epilog="example: neurolearn train hh-voltage --data hh.h5 --epochs 20 --out runs/hh",
    )
    p.add_argument("task", metavar="TASK", help="task name (see `neurolearn tasks`)")
    p.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="dataset file (.h5, or a Spikefinder-layout N.train.calcium.csv for calcium tasks)",
    )
    p.add_argument(
        "--out",
        required=True,
        metavar="RUN_DIR",
        help="run folder to create (must be new or empty unless --resume)",
    )
    p.add_argument(
        "--config",
        nargs="+",
        action="extend",
        metavar="KEY=VALUE",
        help="a preset (seed: the notebook's model and training; best: this package's; "
        "small: seconds, for the quickstart) and/or config changes: KEY=VALUE pairs "
        "(values are JSON: 3, 1e-3, true, [4,8]; model=lstm switches the model family, "
        "model.hidden=[64] changes one of its settings), a JSON object, or a .json file; "
        "`neurolearn tasks TASK` lists the presets, keys and defaults",
    )
    p.add_argument("--epochs", type=_positive_int, help="number of epochs (overrides --config)")
    p.add_argument("--seed", type=_nonneg_int, help="random seed (overrides --config; default 0)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in RUN_DIR from its latest checkpoint (only epochs, "
        "patience and other run-length settings may change; epochs not with a cosine "
        "schedule; the result is bit-identical to an uninterrupted run unless "
        "steps_per_call, eval_batch_size or device_budget_mb change); run.json records each "
        "resume",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument(
        "--quiet", action="store_true", help="print nothing but errors (no progress bars either)"
    )
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser(
        "quickstart",
        help="small datasets, every task's small config, one report (a few minutes)",
        description="Generate a small dataset for every task (neurosim generate), train each "
        "task's `small` preset (neurolearn train --config small) and write OUT/report.md, "
        "which links every task's report with its headline metric beside the baselines. The "
        "commands it runs are printed as it runs them. Run again after an interruption: "
        "finished datasets and runs are kept, an interrupted run is resumed.",
        epilog="example: neurolearn quickstart --out runs/quickstart",
    )
    p.add_argument(
        "--out", default="runs/quickstart", metavar="DIR", help="default: runs/quickstart"
    )
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed of data and runs")
    p.add_argument("--tasks", nargs="+", metavar="TASK", help="only these tasks")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=_cmd_quickstart)

    p = sub.add_parser(
        "results",
        help="write the docs' results tables and figures from run folders",
        description="Read every finished run folder under RUN_DIR... and write each task's "
        "results section in DOCS/TASK.md (between <!-- results:begin --> and "
        "<!-- results:end -->; appended when absent): the metrics of every variant (runs "
        "that differ only in their seed: mean ± sd) beside its baselines, the commands, the "
        "data, CPU and versions, and the figures (copied to DOCS/figures/). With --readme, "
        "also the README's summary table (between <!-- results-table:begin --> and "
        "<!-- results-table:end -->).",
        epilog="example: neurolearn results runs/results --docs docs/tasks --readme README.md",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders or folders of them")
    p.add_argument("--docs", default="docs/tasks", metavar="DIR", help="default: docs/tasks")
    p.add_argument("--readme", metavar="FILE", help="also update this README's table")
    p.add_argument("--metrics", nargs="+", metavar="NAME", help="only these metric columns")
    p.set_defaults(func=_cmd_results)

    p = sub.add_parser(
        "evaluate",
        help="metrics of a trained run on a dataset file",
        description="Reload RUN_DIR's model and report its metrics on FILE, beside the "
        "task's baselines on the same examples. On the training file (same sha256): the "
        "validation split (made exactly as in training) and the test arrays; on any other "
        "file: all of it. Inputs are normalised with the run's saved normalisation. FILE must "
        "be the kind of dataset the run's task uses.",
    )
    p.add_argument("run", metavar="RUN_DIR", help="a run folder written by `neurolearn train`")
    p.add_argument("--data", required=True, metavar="FILE", help="dataset file")
    p.add_argument(
        "--checkpoint",
        choices=("best", "latest"),
        help="which weights (default: those the run reported with)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--out", metavar="FILE.json", help="also write the metrics to this JSON file")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "predict",
        help="apply a trained run to new inputs",
        description="Predict with RUN_DIR's model. HDF5 in (an (N, T, C) array, default key "
        "from the task, e.g. X) gives HDF5 out (Y_pred). A Spikefinder-layout CSV in (header "
        "0,1,…, one column per trace) gives the same layout out, one value per input frame.",
    )
    p.add_argument("run", metavar="RUN_DIR", help="a run folder written by `neurolearn train`")
    p.add_argument("--input", required=True, metavar="FILE", help=".h5 or .csv/.csv.gz")
    p.add_argument("--out", required=True, metavar="FILE", help="output file (same family)")
    p.add_argument("--key", help="HDF5 array to read (default: the task's input, e.g. X)")
    p.add_argument(
        "--frame-rate",
        type=_positive_float,
        metavar="HZ",
        help="the input's frame rate, checked against the model's",
    )
    p.add_argument(
        "--checkpoint",
        choices=("best", "latest"),
        help="which weights (default: those the run reported with)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser(
        "score",
        help="Spikefinder correlation of predicted vs true spikes",
        description="Score a prediction against ground truth, both in the Spikefinder layout "
        "(header 0,1,…; one column per cell; 100 Hz frames): per cell, cut both to the shorter "
        "length, drop frames where either is empty/NaN (trailing and interior empty cells), sum "
        "non-overlapping bins of 4 frames (25 Hz), Pearson r. Prints each cell's r and the "
        "mean (the paper's summary) and median (the leaderboard's).",
    )
    p.add_argument("truth", metavar="TRUTH.csv", help="true spike counts (.csv or .csv.gz)")
    p.add_argument("prediction", metavar="PRED.csv", help="predicted rates, same cells")
    p.add_argument(
        "--downsample",
        type=_positive_int,
        default=4,
        metavar="K",
        help="frames per bin (4 → 25 Hz, 8 → 12.5 Hz, 16 → 6.25 Hz; default 4)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help='print exactly {"cells": [r per cell, in column order], "mean": r} '
        "(an undefined r is null)",
    )
    p.set_defaults(func=_cmd_score)

    p = sub.add_parser(
        "infer-spikes",
        help="spike rates of a recording from a model trained on matched simulations",
        description="Infer the spike rate of every frame of every cell of RECORDING "
        "(Spikefinder layout) with a calcium-rate model trained only on simulated cells recorded "
        "like it: estimate the recording's native frame rate (from its spectrum) and its noise "
        "(the normalised noise level, matched by simulated cells of --indicator), generate a "
        "synthetic training set at that rate and at noise levels around the match, train "
        "calcium-rate (--config, default best), predict. The training set and model are cached "
        "in --cache by their parameters and reused; an interrupted run resumes. Writes OUT "
        "(the same layout: one column per cell, the input's lengths, empty where the input was "
        "empty) and OUT.json (what was chosen, estimated and measured).",
        epilog="example: neurolearn infer-spikes 5.test.calcium.csv --out 5.pred.csv "
        "--indicator gcamp6s",
    )
    p.add_argument("recording", metavar="RECORDING.calcium.csv", help="Spikefinder-layout CSV")
    p.add_argument("--out", required=True, metavar="PRED.csv", help="predictions (.csv)")
    p.add_argument(
        "--indicator",
        default="gcamp6s",
        choices=("gcamp5k", "gcamp6f", "gcamp6s", "ogb1"),
        help="indicator of the simulated cells (default gcamp6s; use the recording's)",
    )
    p.add_argument(
        "--frame-rate",
        type=_positive_float,
        default=100.0,
        metavar="HZ",
        help="the file's frame rate (default 100, the Spikefinder files'); other rates are "
        "resampled to 100 Hz and the output back",
    )
    p.add_argument(
        "--native-rate",
        type=_positive_float,
        metavar="HZ",
        help="the rate the recording was acquired at (default: estimated from its spectrum)",
    )
    p.add_argument(
        "--noise-factors",
        type=_positive_float,
        nargs="+",
        metavar="F",
        help="training noise levels as multiples of the matched one (default 0.5 1 2)",
    )
    p.add_argument(
        "--cells", type=_positive_int, default=40, help="simulated cells per noise level (40)"
    )
    p.add_argument(
        "--duration-s", type=_positive_float, default=300.0, help="simulated s per cell (300)"
    )
    p.add_argument(
        "--config",
        nargs="+",
        metavar="ITEM",
        help="calcium-rate preset and overrides, as for train (default: best)",
    )
    p.add_argument(
        "--cache", default="runs/infer-cache", metavar="DIR", help="default: runs/infer-cache"
    )
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed of simulation and training")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=_cmd_infer_spikes)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # e.g. `neurolearn tasks | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, KeyError, OSError, RuntimeError) as e:
        # OSError: FileExistsError, FileNotFoundError, and what the file system or HDF5 says
        # about a path (not a folder, permission denied, not an HDF5 file)
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"neurolearn: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "neurolearn: interrupted; the last checkpoint is kept (train: run the same command "
            "with --resume to continue)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
