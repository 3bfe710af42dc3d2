"""The ``neurosim`` command line: generate datasets, list them, inspect and plot them.

Thin: every command calls a library function. ``neurosim --help`` and ``neurosim CMD --help``
describe each option.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__

# the argument types, once defined here, live in the library (re-exported for old imports)
from .argtypes import nonneg_float, nonneg_int, positive_float, positive_int  # noqa: F401


def devices_arg(text: str) -> int | None:
    """``--devices all|N``: None (all local devices) or N >= 1."""
    from .parallel import parse_devices

    try:
        return parse_devices(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'all' or a positive integer, got {text!r}"
        ) from None


def add_devices_arg(p: argparse.ArgumentParser, spec=None) -> None:
    """``--devices all|N`` and ``--distributed`` (every generator has them; the CLI applies them
    before JAX starts). ``spec``: the dataset's :class:`~neurosim.datasets.DatasetSpec`, whose
    ``multiprocess`` decides what ``--distributed`` says it does."""
    p.add_argument(
        "--devices",
        type=devices_arg,
        default=None,
        metavar="all|N",
        help="split each batch across all local devices (default) or the first N; the file is "
        "the same for any number (on CPU, N devices = N XLA host devices)",
    )
    if spec is None or spec.multiprocess:
        help_text = (
            "one of several processes (hosts): start jax.distributed from "
            "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID (or SLURM); each process "
            "writes its own shard OUT-STEM.shard-I-of-N.h5, joined by `neurosim join-shards OUT` "
            "(docs/scaling.md)"
        )
    else:
        why = f": {spec.single_process}" if spec.single_process else ""
        help_text = (
            f"not available for {spec.name}, which one process generates{why} "
            "(docs/scaling.md); given, the command stops with that error"
        )
    p.add_argument("--distributed", action="store_true", help=help_text)


def _cmd_join_shards(args: argparse.Namespace) -> int:
    from .io import join_shards

    out = join_shards(args.out, args.shards or None, overwrite=args.overwrite)
    print(f"wrote {out}")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from .datasets import all_datasets

    specs = all_datasets()
    width = max(len(n) for n in specs)
    for name, spec in specs.items():
        print(f"{name:<{width}}  {spec.description}")
    return 0


def _check_hdf5(path: Path) -> None:
    import h5py

    if not path.exists():
        raise FileNotFoundError(f"file {str(path)!r} does not exist")
    if path.is_dir() or not h5py.is_hdf5(path):
        raise ValueError(
            f"{str(path)!r} is not an HDF5 file: info and plot read neurosim's .h5 datasets "
            "(CSV and Spikefinder-layout outputs are not; generate with --out FILE.h5)"
        )


def _cmd_info(args: argparse.Namespace) -> int:
    import h5py

    from .provenance import read_attrs

    path = Path(args.file)
    _check_hdf5(path)
    with h5py.File(path, "r") as f:
        info = {
            "file": str(path),
            "arrays": {
                k: {"shape": list(v.shape), "dtype": str(v.dtype)}
                for k, v in f.items()
                if isinstance(v, h5py.Dataset)
            },
            "attrs": read_attrs(f),
        }
    print(json.dumps(info, indent=2, sort_keys=False, default=str))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    import h5py

    from .datasets import get

    path = Path(args.file)
    _check_hdf5(path)
    with h5py.File(path, "r") as f:
        name = f.attrs.get("dataset")
    if name is None:
        raise ValueError(
            f"{str(path)!r} has no 'dataset' attribute: it was not written by neurosim"
        )
    spec = get(str(name))
    if spec.plot is None:
        raise ValueError(f"dataset {name!r} has no plot")
    out = Path(args.out) if args.out else path.with_suffix(".png")
    spec.plot(path, out)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .datasets import all_datasets

    parser = argparse.ArgumentParser(
        prog="neurosim",
        description="Simulate neurons and networks with JAX and write datasets for neurolearn.",
    )
    parser.add_argument("--version", action="version", version=f"neurosim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    gen = sub.add_parser(
        "generate",
        help="generate a dataset (see `neurosim datasets`)",
        description="Generate a dataset. Each dataset has its own options: "
        "`neurosim generate NAME --help`.",
    )
    gsub = gen.add_subparsers(dest="dataset", metavar="DATASET")
    gsub.required = True
    for name, spec in all_datasets().items():
        p = gsub.add_parser(name, help=spec.description, description=spec.description)
        spec.add_arguments(p)
        add_devices_arg(p, spec)
        p.set_defaults(
            func=lambda a, _spec=spec: (print(f"wrote {_spec.generate(a)}"), 0)[1], spec=spec
        )

    p = sub.add_parser(
        "datasets",
        help="list the datasets neurosim can generate",
        description="List the datasets neurosim can generate, one line each.",
    )
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser(
        "join-shards",
        help="join the shard files of a multi-process generation into one file",
        description="Join the shards that `neurosim generate ... --distributed` wrote (one per "
        "process) into OUT: the file a single process writes for the same command (row arrays "
        "concatenated in shard order; the other arrays and attributes must agree).",
    )
    p.add_argument("out", help="the joined HDF5 file (the --out given to generate)")
    p.add_argument(
        "shards", nargs="*", help="shard files (default: OUT-STEM.shard-*-of-*.h5 beside OUT)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.set_defaults(func=_cmd_join_shards)

    p = sub.add_parser(
        "info",
        help="print the arrays and parameters of a dataset file",
        description="Print the arrays (shape, dtype) and every attribute of a "
        "neurosim HDF5 file as JSON.",
    )
    p.add_argument("file", help="an HDF5 file written by neurosim")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser(
        "plot",
        help="plot a dataset file to PNG",
        description="Plot a neurosim dataset (the figure depends on the dataset).",
    )
    p.add_argument("file", help="an HDF5 file written by neurosim")
    p.add_argument("--out", help="PNG path (default: the file name with .png)")
    p.set_defaults(func=_cmd_plot)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .parallel import init_distributed, set_devices, use_cpu_cores

    devices = getattr(args, "devices", None)
    use_cpu_cores(devices)  # one XLA CPU device per core (or N): batched simulations use them
    set_devices(devices)
    if getattr(args, "distributed", False):
        spec = args.spec
        if not spec.multiprocess:
            why = f": {spec.single_process}" if spec.single_process else ""
            print(
                f"neurosim: error: {spec.name} cannot be generated by several processes "
                f"(--distributed){why}; generate it in one process, with all its devices "
                "(--devices; see docs/scaling.md)",
                file=sys.stderr,
            )
            return 2
        try:
            index, count = init_distributed()  # before JAX starts a device
        except (ValueError, RuntimeError) as e:
            print(f"neurosim: error: {e}", file=sys.stderr)
            return 2
        print(f"neurosim: process {index} of {count}", file=sys.stderr)
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        print(f"neurosim: warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    try:
        return int(args.func(args))
    except (ValueError, KeyError, OSError, RuntimeError, FloatingPointError) as e:
        # OSError covers missing/existing files and unreadable HDF5; RuntimeError and
        # FloatingPointError are simulations that cannot go on (the message says why)
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"neurosim: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurosim: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `neurosim info FILE | head`: the reader left, not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
