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
from neurosim.datasets.options import _KEY, REQUIRED, config_from_args
from neurosim.datasets.ring_counts import RingCountsConfig

CONFIGS = {
    "hh-voltage": HHVoltageConfig,
    "lfp": LFPDatasetConfig,
    "calcium": CalciumDatasetConfig,
    "ring-counts": RingCountsConfig,
}
# the options without a default, and values for them
REQUIRED_ARGS = {"ring-counts": (["--trials", "3"], {"n_trials": 3})}


def _generate_parser(name):
    gen = build_parser()._subparsers._group_actions[0].choices["generate"]
    return gen._subparsers._group_actions[0].choices[name]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_cli_defaults_are_the_config_defaults(name):
    cls = CONFIGS[name]
    argv, required = REQUIRED_ARGS.get(name, ([], {}))
    args = build_parser().parse_args(["generate", name, "--out", "x.h5", *argv])
    assert config_from_args(cls, args, seed=args.seed) == cls(**required)
    # and a value given on the command line reaches its field, whatever the flag is called
    p = _generate_parser(name)
    for f in dataclasses.fields(cls):
        if _KEY not in f.metadata:
            continue
        (action,) = [a for a in p._actions if a.dest == f.name]
        if f.default is REQUIRED:
            assert action.required and f.name in required
            continue
        if f.metadata[_KEY]["repeat"]:  # appends to None; config_from_args gives the default
            assert action.default is None and f.default == ()
            continue
        assert action.default == f.default
        if f.default is None:  # "default: ..." says what None means (e.g. the preset's value)
            assert "default" in action.help, (f.name, action.help)
            continue
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
    args = build_parser().parse_args(
        ["generate", "ring-counts", "--out", "x.h5", "--trials", "5", "--param", "rho=0.2",
         "--param", "n_per_type=40", "--preset", "fig3", "--ss", "0.02"]
    )  # fmt: skip
    cfg = config_from_args(RingCountsConfig, args, seed=4)
    assert cfg == RingCountsConfig(
        n_trials=5, overrides=(("rho", 0.2), ("n_per_type", 40)), preset="fig3", ss=0.02, seed=4
    )
    p = cfg.ring_params()
    assert (p.rho, p.n_per_type, p.s_EE, p.s_EI) == (0.2, 40, 0.02, 0.9 * 0.02)
    with pytest.raises(SystemExit):  # --trials is required
        build_parser().parse_args(["generate", "ring-counts", "--out", "x.h5"])


def test_the_library_does_not_import_its_cli():
    code = (
        "import sys, neurosim, neurosim.datasets, neurolearn.cli; "
        "print('neurosim.cli' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_distributed_help_says_whether_the_dataset_is_sharded():
    from neurosim.datasets import all_datasets

    specs = all_datasets()
    assert {n for n, s in specs.items() if s.multiprocess} == {"calcium", "ring-counts"}
    for name, spec in specs.items():
        (action,) = [a for a in _generate_parser(name)._actions if a.dest == "distributed"]
        if spec.multiprocess:
            assert "joined by `neurosim join-shards OUT`" in action.help
        else:
            assert action.help.startswith(f"not available for {name}") and spec.single_process
            assert spec.single_process in action.help
