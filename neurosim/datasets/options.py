"""A dataset's config dataclass as the one source of its command-line options.

A field declared with :func:`option` is also a ``neurosim generate NAME`` option: its flag, type,
help and default are written once, in the config. :func:`add_config_arguments` adds them to a
parser, :func:`config_from_args` builds the config back from the parsed arguments::

    @dataclass(frozen=True)
    class MyConfig:
        cells: int = option(100, type=positive_int, help="number of cells (default {default})")
        seed: int = 0  # not an option of its own: --seed is one of the common output options
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from ..argtypes import nonneg_int

_KEY = "neurosim.option"


def option(
    default: Any,
    *,
    help: str,
    type: Callable[[str], Any] | None = None,
    choices: Sequence[Any] | None = None,
    flag: str | None = None,
):
    """A dataclass field with a default that is also a CLI option.

    Args:
        default: the field's default (and the option's).
        help: the option's help; ``{default}`` (with any format spec, e.g. ``{default:g}``) is
            replaced by the default.
        type: the ``argparse`` type (e.g. :func:`neurosim.argtypes.positive_float`).
        choices: allowed values.
        flag: the option's name (default ``--`` + the field name with ``-`` for ``_``).
    """
    meta = {_KEY: {"help": help, "type": type, "choices": choices, "flag": flag}}
    return dataclasses.field(default=default, metadata=meta)


def _options(cls):
    return [(f, f.metadata[_KEY]) for f in dataclasses.fields(cls) if _KEY in f.metadata]


def add_config_arguments(p: argparse.ArgumentParser, cls) -> None:
    """Add one option per :func:`option` field of the dataclass ``cls``, in field order."""
    for f, o in _options(cls):
        kw: dict[str, Any] = {
            "dest": f.name,
            "default": f.default,
            "help": o["help"].format(default=f.default),
        }
        if o["type"] is not None:
            kw["type"] = o["type"]
        if o["choices"] is not None:
            kw["choices"] = o["choices"]
        p.add_argument(o["flag"] or "--" + f.name.replace("_", "-"), **kw)


def config_from_args(cls, args: argparse.Namespace, **fields: Any):
    """The config of the parsed ``args``: every option field, plus ``fields`` (e.g. ``seed``)."""
    return cls(**{f.name: getattr(args, f.name) for f, _ in _options(cls)}, **fields)


def add_common_output_args(p: argparse.ArgumentParser, *, out_help: str) -> None:
    """Options every generator shares: --out, --seed, --overwrite, --no-progress."""
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument(
        "--seed", type=nonneg_int, default=0, help="random seed (default 0); same seed, same file"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
