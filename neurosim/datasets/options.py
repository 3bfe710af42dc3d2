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


#: the ``default`` of an option that must be given (a field without default, a required flag)
REQUIRED = dataclasses.MISSING


def option(
    default: Any,
    *,
    help: str,
    type: Callable[[str], Any] | None = None,
    choices: Sequence[Any] | None = None,
    flag: str | None = None,
    repeat: bool = False,
    metavar: str | None = None,
):
    """A dataclass field with a default that is also a CLI option.

    Args:
        default: the field's default (and the option's); :data:`REQUIRED`: no default, the
            flag must be given (such fields come first in the dataclass).
        help: the option's help; ``{default}`` (with any format spec, e.g. ``{default:g}``) is
            replaced by the default.
        type: the ``argparse`` type (e.g. :func:`neurosim.argtypes.positive_float`).
        choices: allowed values.
        flag: the option's name (default ``--`` + the field name with ``-`` for ``_``).
        repeat: the flag may be given several times; the field is the tuple of the values
            (default ``()``).
        metavar: the value's name in ``--help``.
    """
    meta = {
        _KEY: {
            "help": help,
            "type": type,
            "choices": choices,
            "flag": flag,
            "repeat": repeat,
            "metavar": metavar,
        }
    }
    if default is REQUIRED:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _options(cls):
    return [(f, f.metadata[_KEY]) for f in dataclasses.fields(cls) if _KEY in f.metadata]


def add_config_arguments(p: argparse.ArgumentParser, cls) -> None:
    """Add one option per :func:`option` field of the dataclass ``cls``, in field order."""
    for f, o in _options(cls):
        kw: dict[str, Any] = {"dest": f.name}
        if f.default is REQUIRED:
            kw.update(required=True, help=o["help"])
        else:
            kw.update(default=f.default, help=o["help"].format(default=f.default))
        if o["repeat"]:  # argparse appends to a list: start from none (config_from_args: ())
            kw.update(action="append", default=None)
        for name in ("type", "choices", "metavar"):
            if o[name] is not None:
                kw[name] = o[name]
        p.add_argument(o["flag"] or "--" + f.name.replace("_", "-"), **kw)


def config_from_args(cls, args: argparse.Namespace, **fields: Any):
    """The config of the parsed ``args``: every option field, plus ``fields`` (e.g. ``seed``).

    A repeatable option's values become a tuple (``()`` when the flag was not given)."""
    values = {}
    for f, o in _options(cls):
        v = getattr(args, f.name)
        if o["repeat"]:
            v = tuple(v) if v is not None else f.default
        values[f.name] = v
    return cls(**values, **fields)


def add_common_output_args(p: argparse.ArgumentParser, *, out_help: str) -> None:
    """Options every generator shares: --out, --seed, --overwrite, --no-progress."""
    p.add_argument("--out", required=True, help=out_help)
    p.add_argument(
        "--seed", type=nonneg_int, default=0, help="random seed (default 0); same seed, same file"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
