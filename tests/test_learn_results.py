"""`neurolearn results` writes the docs' tables from run folders (mean ± sd over seeds, the
baselines, the commands, the figures), and `neurolearn quickstart` runs end to end."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from neurolearn.cli import main
from neurolearn.results import collect_runs, write_results
from neurolearn.testing import write_toy_hh_voltage
from neurolearn.train import train_and_evaluate

FAST = {"batch_size": 32, "learning_rate": 1e-2, "epochs": 2}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    data = write_toy_hh_voltage(d / "toy.h5", n_train=120, n_test=2, length=80, test_length=200)
    root = d / "runs"
    for name, preset, seed in (("a-s0", "seed", 0), ("a-s1", "seed", 1), ("b-s0", "best", 0)):
        train_and_evaluate(
            "hh-voltage",
            {**FAST, "seed": seed},
            data=data,
            workdir=root / name,
            progress=False,
            log=None,
            preset=preset,
        )
    (root / "not-a-run").mkdir()
    return root


def test_runs_that_differ_in_their_seed_are_one_variant(runs):
    by_task = collect_runs([runs])
    [variants] = by_task.values()
    assert [(v.preset, len(v.runs)) for v in variants] == [("seed", 2), ("best", 1)]
    assert variants[0].overrides == {"batch_size": 32, "learning_rate": 1e-2, "epochs": 2}


def test_runs_on_other_data_files_are_other_variants_named_by_their_file(runs, tmp_path):
    import shutil

    # a copy of a run whose record says it was trained on another file (e.g. real recordings)
    other = tmp_path / "runs" / "a-real"
    shutil.copytree(runs / "a-s0", other)
    info = json.loads((other / "run.json").read_text())
    info["data"] = {**info["data"], "path": "/x/real.h5", "sha256": "f" * 64}
    (other / "run.json").write_text(json.dumps(info))
    [variants] = collect_runs([runs, tmp_path / "runs"]).values()
    assert [(v.preset, v.data, len(v.runs)) for v in variants] == [
        ("seed", "real.h5", 1),
        ("seed", "toy.h5", 2),
        ("best", "toy.h5", 1),
    ]
    assert variants[0].label.endswith("· real.h5") and variants[1].label.endswith("· toy.h5")
    # one data file: labels as before
    assert not collect_runs([runs])["hh-voltage"][0].label.endswith("toy.h5")


def test_the_readme_row_is_the_best_variant_with_the_most_seeds(runs, tmp_path):
    import shutil

    # `best` on another file too (listed after toy.h5), with two seeds there against one
    for s in (0, 1):
        other = tmp_path / "runs" / f"b-other-s{s}"
        shutil.copytree(runs / "b-s0", other)
        info = json.loads((other / "run.json").read_text())
        info["data"] = {**info["data"], "path": "/x/zz.h5", "sha256": "e" * 64}
        info["seed"] = s
        (other / "run.json").write_text(json.dumps(info))
    readme = tmp_path / "README.md"
    readme.write_text("<!-- results-table:begin -->\n<!-- results-table:end -->\n")
    (tmp_path / "docs").mkdir()
    write_results([runs, tmp_path / "runs"], docs=tmp_path / "docs", readme=readme)
    [line] = [x for x in readme.read_text().splitlines() if x.startswith("| hh-voltage |")]
    assert line.startswith("| hh-voltage | best ") and "· zz.h5 | 2 |" in line, line


def test_the_page_holds_mean_and_sd_over_seeds_and_the_baselines(runs, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    page = docs / "hh-voltage.md"
    page.write_text("# hh-voltage\n\nHand-written science.\n")
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results-table:begin -->\nold\n<!-- results-table:end -->\nend\n")
    write_results([runs], docs=docs, readme=readme)
    text = page.read_text()
    assert text.startswith("# hh-voltage\n\nHand-written science.")
    rmse = [
        json.loads((runs / f"a-s{s}" / "metrics.json").read_text())["metrics"]["val"]["rmse"]
        for s in (0, 1)
    ]
    want = f"{np.mean(rmse):.4g} ± {np.std(rmse, ddof=1):.2g}"
    [row] = [r for r in text.splitlines() if r.startswith("| seed ") and "| val | 2 |" in r]
    assert want in row
    assert "↳ baseline: linear filter | val | 2 |" in text
    assert "neurolearn train hh-voltage --data toy.h5 --config seed" in text
    figures = sorted(p.name for p in (docs / "figures").iterdir())
    assert "hh-voltage-a-s0-examples.png" in figures and "hh-voltage-b-s0-curves.png" in figures
    assert "(figures/hh-voltage-a-s0-examples.png)" in text
    # the README row is the best variant; the text around the markers is kept
    r = readme.read_text()
    assert r.startswith("intro\n") and r.endswith("end\n") and "old" not in r
    [line] = [x for x in r.splitlines() if x.startswith("| hh-voltage |")]
    assert "| best " in line and "[docs/hh-voltage.md]" in line
    # running it again replaces the section instead of adding one
    write_results([runs], docs=docs, readme=readme)
    assert page.read_text().count("<!-- results:begin -->") == 1
    assert re.search(r"\| seed .*\| val \| 2 \|", page.read_text())


def test_results_errors(tmp_path, capsys):
    assert main(["results", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["results", str(tmp_path)]) == 2
    assert "no finished run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_quickstart_ring_counts_end_to_end(tmp_path):
    out = tmp_path / "qs"
    assert main(["quickstart", "--out", str(out), "--tasks", "ring-counts", "--no-progress"]) == 0
    report = (out / "report.md").read_text()
    assert "| ring-counts | poisson_deviance |" in report
    assert (out / "ring-counts" / "report.md").exists()
    info = json.loads((out / "ring-counts" / "run.json").read_text())
    assert info["preset"] == "small" and info["status"] == "done"
    # run again: the finished data and run are kept
    before = (out / "ring-counts" / "run.json").read_text()
    assert main(["quickstart", "--out", str(out), "--tasks", "ring-counts", "--no-progress"]) == 0
    assert (out / "ring-counts" / "run.json").read_text() == before
    assert main(["quickstart", "--out", str(out), "--tasks", "calcium"]) == 2
