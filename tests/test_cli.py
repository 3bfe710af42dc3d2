"""The neurosim command line: --help everywhere, listing, info, plot, error messages."""

import json
import subprocess
import sys

import pytest

from neurosim.cli import build_parser, main
from neurosim.datasets import all_datasets


def _subcommands(parser):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            yield from action.choices.items()


def test_every_command_has_help(capsys):
    commands = [[]]
    for name, sub in _subcommands(build_parser()):
        commands.append([name])
        commands += [[name, n] for n, _ in _subcommands(sub)]
    assert ["generate", "hh-voltage"] in commands and ["datasets"] in commands
    for cmd in commands:
        with pytest.raises(SystemExit) as e:
            main(cmd + ["--help"])
        assert e.value.code == 0
        assert "usage: neurosim" in capsys.readouterr().out


def test_module_entry_point_runs():
    out = subprocess.run(
        [sys.executable, "-m", "neurosim", "datasets"], capture_output=True, text=True, check=True
    ).stdout
    for name, spec in all_datasets().items():
        assert f"{name}" in out and spec.description in out


def test_info_and_plot(tmp_path, capsys):
    out = tmp_path / "d.h5"
    assert (
        main(
            [
                "generate",
                "hh-voltage",
                "--n-train",
                "3",
                "--n-test",
                "1",
                "--test-duration-ms",
                "100",
                "--out",
                str(out),
                "--no-progress",
                "--seed",
                "9",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["arrays"]["X"]["shape"] == [3, 1000, 1]
    assert info["arrays"]["X_test"]["shape"] == [1, 100, 1]
    assert info["attrs"]["seed"] == 9 and info["attrs"]["dataset"] == "hh-voltage"
    png = tmp_path / "d.png"
    assert main(["plot", str(out), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_errors_name_the_problem(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.h5")]) == 2
    assert "missing.h5' does not exist" in capsys.readouterr().err
    (tmp_path / "a.csv").write_text("time,lfp,spike\n0,1,0\n")
    for cmd in (["info", str(tmp_path / "a.csv")], ["plot", str(tmp_path)]):
        assert main(cmd) == 2
        assert "is not an HDF5 file" in capsys.readouterr().err
    # a simulation that cannot go on: an error message, not a traceback
    assert (
        main(
            [
                "generate",
                "hh-voltage",
                "--n-train",
                "1",
                "--n-test",
                "0",
                "--duration-ms",
                "20",
                "--ou-mu",
                "100000",
                "--no-progress",
                "--out",
                str(tmp_path / "r.h5"),
            ]
        )
        == 2
    )
    assert "fewer than 1 % of candidate traces are spike-free" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["generate", "no-such-dataset", "--out", "x.h5"])
    assert e.value.code == 2
    assert "invalid choice: 'no-such-dataset'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "hh-voltage", "--dt", "zero", "--out", "x.h5"])
    assert "expected a positive number, got 'zero'" in capsys.readouterr().err
