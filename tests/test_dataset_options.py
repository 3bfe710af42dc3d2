"""Each dataset's config dataclass is the one source of its CLI options, defaults and help."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from neurosim.cli import build_parser
from neurosim.datasets.calcium import CalciumDatasetConfig
from neurosim.datasets.hh_voltage import HHVoltageConfig
from neurosim.datasets.lfp import LFPDatasetConfig
from neurosim.datasets.options import _KEY, config_from_args

CONFIGS = {"hh-voltage": HHVoltageConfig, "lfp": LFPDatasetConfig, "calcium": CalciumDatasetConfig}


def _generate_parser(name):
    gen = build_parser()._subparsers._group_actions[0].choices["generate"]
    return gen._subparsers._group_actions[0].choices[name]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_cli_defaults_are_the_config_defaults(name):
    cls = CONFIGS[name]
    args = build_parser().parse_args(["generate", name, "--out", "x.h5"])
    assert config_from_args(cls, args, seed=args.seed) == cls()
    # and a value given on the command line reaches its field, whatever the flag is called
    p = _generate_parser(name)
    for f in dataclasses.fields(cls):
        if _KEY not in f.metadata:
            continue
        (action,) = [a for a in p._actions if a.dest == f.name]
        assert action.default == f.default
        shown = format(f.default, "g") if isinstance(f.default, float) else str(f.default)
        assert f"default {shown}" in action.help, (f.name, action.help)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_help_lists_every_option_field(name):
    cls = CONFIGS[name]
    text = _generate_parser(name).format_help()
    for f in dataclasses.fields(cls):
        if _KEY in f.metadata:
            flag = f.metadata[_KEY]["flag"] or "--" + f.name.replace("_", "-")
            assert flag in text, flag
    for common in ("--out", "--seed", "--overwrite", "--no-progress"):
        assert common in text


def test_a_flag_reaches_its_field():
    args = build_parser().parse_args(
        ["generate", "calcium", "--out", "x.h5", "--frame-rate", "30", "--cells", "7"]
    )
    cfg = config_from_args(CalciumDatasetConfig, args, seed=args.seed)
    assert (cfg.frame_rate_hz, cfg.cells) == (30.0, 7)
    args = build_parser().parse_args(["generate", "lfp", "--out", "x.h5", "--electrode", "12"])
    assert config_from_args(LFPDatasetConfig, args, seed=0).electrode_position == 12.0


def test_the_library_does_not_import_its_cli():
    code = (
        "import sys, neurosim, neurosim.datasets, neurolearn.cli; "
        "print('neurosim.cli' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
