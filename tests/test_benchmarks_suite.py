"""The benchmark suite (``python -m benchmarks``): its smallest pieces on tiny sizes, in-process.

Checks the result rows' schema and invariants (throughput = work / median time, min ≤ median ≤
max, the gradient cost ratio = gradient time / forward time and the gradient itself against a
finite difference, peer ratios = peer time / ours), the tables and the README/docs generation.
No timing is asserted. The whole ``--quick`` run is marked slow.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import _harness as H  # noqa: E402
from benchmarks import report, sim  # noqa: E402

TIMING_KEYS = {"median_s", "min_s", "max_s", "runs_s", "compile_s", "first_s"}


def check_row(r, *, repeats):
    assert TIMING_KEYS <= set(r), set(r)
    assert len(r["runs_s"]) == repeats
    assert r["min_s"] <= r["median_s"] <= r["max_s"]
    assert r["median_s"] == pytest.approx(float(np.median(r["runs_s"])))
    assert r["throughput"] == pytest.approx(r["work"] / r["median_s"])
    assert r["throughput_min"] <= r["throughput"] <= r["throughput_max"]
    assert r["compile_s"] >= 0 and r["first_s"] > 0
    json.dumps(r)  # serialisable


def test_stats_and_measure_reject_bad_input():
    with pytest.raises(ValueError, match="at least one"):
        H.stats([])
    with pytest.raises(ValueError, match="repeats must be >= 1, got 0"):
        H.measure(lambda: 0, repeats=0)


def test_measure_times_apart_the_compilation():
    import jax
    import jax.numpy as jnp

    calls = []

    @jax.jit
    def f(x):
        return jnp.sin(x) * 2

    def fn():
        calls.append(1)
        return f(jnp.arange(1000.0))  # the same shape each call: compiles once

    t = H.measure(fn, repeats=3, warmup=2)
    assert len(calls) == 5  # 2 warm-up + 3 timed
    assert t["compile_s"] > 0  # the first call compiled, JAX reported it
    assert len(t["runs_s"]) == 3


@pytest.fixture(scope="module")
def hh_rows():
    return sim.hh_forward([1, 8], 5.0, 2), sim.hh_gradient([4], 5.0, 2)


def test_hh_rows(hh_rows):
    fwd, grad = hh_rows
    for r, B in zip(fwd, [1, 8], strict=True):
        check_row(r, repeats=2)
        assert r["B"] == B and r["work"] == B * 200  # 5 ms / 0.025 ms steps
        assert r["unit"] == "neuron-steps/s"
    f, g = grad
    check_row(f, repeats=2)
    check_row(g, repeats=2)
    assert f["name"] == "HH forward" and g["name"] == "HH grad"
    assert g["grad_cost_ratio"] == f["grad_cost_ratio"] > 0
    assert g["grad_cost_ratio"] == pytest.approx(g["median_s"] / f["median_s"])


def test_hh_gradient_is_the_derivative(hh_rows):
    """The timed gradient is d(mean V)/d(g_K): against a central finite difference."""
    _, (f, g) = hh_rows
    loss = sim.hh_loss(4, 5.0)
    h = 1.0
    fd = (float(loss(36.0 + h)) - float(loss(36.0 - h))) / (2 * h)
    assert f["value"] == pytest.approx(float(loss(36.0)), rel=1e-6)
    assert g["value"] == pytest.approx(fd, rel=0.05, abs=1e-4)
    assert g["value"] < 0  # more K conductance pulls V towards E_K


@pytest.fixture(scope="module")
def ring_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "ring-counts.h5"
    wall, cmd = sim.generate(
        "ring-counts", ("--trials", "4", "--duration-ms", "300", "--bin-ms", "10"), path
    )
    assert path.exists() and wall > 0
    assert cmd == (
        "neurosim generate ring-counts --trials 4 --duration-ms 300 --bin-ms 10 "
        "--out ring-counts.h5 --seed 0"
    )
    return path


@pytest.fixture(scope="module")
def train_row(ring_file):
    from benchmarks import train
    from neurolearn.tasks import get

    return train.bench_config(get("ring-counts"), "seed", ring_file, steps=2, repeats=2, eval_n=16)


def test_train_row(train_row):
    r, _ = train_row
    check_row(r, repeats=2)
    assert r["work"] == 2 * r["batch_size"] and r["batch_size"] == 32
    assert r["n_params"] == 757_848  # the seed's LSTM(128): 600 counts + 600 inputs -> 600
    assert r["ms_per_step"] == pytest.approx(1e3 * r["median_s"] / 2)
    assert r["s_per_epoch"] == pytest.approx(r["epoch_steps"] * r["median_s"] / 2)
    assert r["epoch_steps"] == math.ceil(r["epoch_examples"] / r["batch_size"])
    assert math.isfinite(r["final_loss"])
    check_row(r["infer"], repeats=2)
    assert r["infer"]["work"] == min(16, r["n_train"])  # at most eval_n validation examples


def test_keras_peer_same_model_and_ratio(train_row):
    os.environ.setdefault("KERAS_BACKEND", "jax")  # before keras is imported
    pytest.importorskip("keras")
    from benchmarks import train

    row, context = train_row
    import jax

    # Keras' own JAX code relies on implicit rank promotion, which the suite turns into errors
    with jax.numpy_rank_promotion("allow"):
        k = train.keras_peer(row, context, epochs=2)
    check_row(k, repeats=1)
    assert k["n_params"] == row["n_params"]  # the same model on both sides
    assert k["work"] == row["work"]  # the same examples per timed epoch
    assert k["ratio_peer_over_ours"] == pytest.approx(k["median_s"] / row["median_s"])


def _payload(hh_rows, train_row):
    env = H.environment()
    fwd, grad = hh_rows
    ring_row = H.throughput_row(
        "neurosim, 1 CPU device(s)",
        1.0,
        "simulated s / wall s",
        {**H.stats([0.5, 0.4]), "compile_s": 1.0, "first_s": 1.5},
        impl="neurosim",
        trials=1,
        us_per_step=25.0,
    )
    peer = H.throughput_row(
        "Brian2 C++ standalone, 1 thread",
        1.0,
        "simulated s / wall s",
        {**H.stats([1.0]), "compile_s": 20.0, "first_s": None},
        impl="brian2-standalone",
        trials=1,
        ratio_peer_over_ours=1.0 / ring_row["median_s"],
    )
    row = train_row[0]
    return {
        "command": "python -m benchmarks run --quick",
        "quick": True,
        "wall_s": 1.0,
        "environment": env,
        "load_avg_end": 1.0,
        "sim": {
            "sizes": {"hh_ms": 5.0, "grad_ms": 5.0, "ring_ms": 1000.0},
            "hh": fwd,
            "hh_grad": grad,
            "ring": [ring_row, peer],
            "datasets": [],
        },
        "train": {"sizes": {"steps": 2, "repeats": 2}, "rows": [row], "keras": []},
        "skipped": [{"what": "OASIS", "reason": "not installed"}],
    }


def test_tables_and_docs(hh_rows, train_row, tmp_path):
    p = _payload(hh_rows, train_row)
    t = report.tables(p)
    assert set(t) == {"hh", "hh_grad", "ring", "datasets", "train", "skipped"}
    assert "| neurosim, 1 CPU device(s) | 1 |" in t["ring"]
    assert "Brian2 C++ standalone, 1 thread" in t["ring"] and "| 2.22 |" in t["ring"]
    assert "ring-counts | seed | LSTMConfig | 757,848 | 32 |" in t["train"]
    results = tmp_path / "results"
    results.mkdir()
    (results / "suite_cpu_test.json").write_text(json.dumps(p, default=str))
    readme = tmp_path / "README.md"
    first = "# title\n\nintro line\n\n## Speed\n\n"
    readme.write_text(first + report.BEGIN + "\nold\n" + report.END + "\n\n## After\n")
    docs = tmp_path / "benchmarks.md"
    report.write_docs(results, docs, readme)
    text = docs.read_text()
    assert "## CPU" in text and "## GPU" in text and "No GPU has been measured yet" in text
    assert "bash benchmarks/gpu_session.sh OUT 480" in text  # how to fill it
    assert "`python -m benchmarks run --quick`" in text
    new = readme.read_text()
    assert new.startswith(first) and new.endswith(report.END + "\n\n## After\n")
    assert "old" not in new and "ring fig1, 1 trial(s)" in new and "suite_cpu_test.json" in new
    bad = tmp_path / "bad.md"
    bad.write_text("no markers\n")
    with pytest.raises(ValueError, match="speed-table:begin"):
        report.update_readme(bad, "x")
    assert bad.read_text() == "no markers\n"


def test_run_rejects_unknown_suite(tmp_path):
    from benchmarks.__main__ import run_suites

    with pytest.raises(ValueError, match=r"unknown suite\(s\) \['simm'\]"):
        run_suites(["simm"], quick=True, peers=False, workdir=tmp_path)


def test_gpu_session_script_refuses_bad_arguments_before_running_anything(tmp_path):
    script = ROOT / "benchmarks" / "gpu_session.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    out = tmp_path / "out"
    none = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert none.returncode != 0 and "usage: bash benchmarks/gpu_session.sh OUT" in none.stderr
    bad = subprocess.run(["bash", str(script), str(out), "8m"], capture_output=True, text=True)
    assert bad.returncode == 2 and "got '8m'" in bad.stderr
    assert not out.exists()  # nothing written


@pytest.mark.slow
def test_quick_suite_end_to_end(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "run", "--quick", "--plot", "--out", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (js,) = tmp_path.glob("suite_*_quick.json")
    p = json.loads(js.read_text())
    assert p["suites"] == ["sim", "train", "infer"] and p["quick"]
    for key in ("cpu", "cpu_count", "versions", "xla_flags", "load_avg_1min", "device_kind"):
        assert key in p["environment"]
    for r in p["sim"]["hh"] + p["sim"]["hh_grad"] + p["train"]["rows"]:
        assert r["throughput"] == pytest.approx(r["work"] / r["median_s"])
    assert all(r["grad_cost_ratio"] > 0 for r in p["sim"]["hh_grad"])
    assert {r["task"] for r in p["train"]["rows"]} >= {"hh-voltage", "lfp-spike", "ring-counts"}
    assert js.with_suffix(".md").read_text().startswith("# Benchmark suite")
    assert js.with_suffix(".png").stat().st_size > 0


def test_train_repeats_capped_by_budget(ring_file):
    """A step slower than the budget allows gets one timed chunk (after the warm-up)."""
    from benchmarks import train
    from neurolearn.tasks import get

    r, _ = train.bench_config(
        get("ring-counts"), "best", ring_file, steps=1, repeats=5, eval_n=8, budget_s=0.0
    )
    check_row(r, repeats=1)
    assert r["preset"] == "best" and r["model"] == "PerCellConfig"


# each seed model's input (steps, features of the data, features the Keras model reads) and
# outputs: the notebooks'. calcium-detect's engine model makes its [x, dx, x^2] itself.
_SEED_SHAPES = {
    "hh-voltage": (1000, 1, 1, 1),
    "lfp-spike": (100, 1, 1, 1),
    "ring-counts": (10, 1200, 1200, 600),
    "calcium-detect": (20, 1, 3, 1),
    "calcium-rate": (128, 1, 1, 1),
}


@pytest.mark.parametrize("name", sorted(_SEED_SHAPES))
def test_keras_peer_is_the_seed_model(name):
    """Each task's Keras peer has exactly the parameters of the engine's seed model."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    pytest.importorskip("keras")
    from flax import nnx

    from benchmarks import train
    from neurolearn.config import make_config
    from neurolearn.tasks import get

    task = get(name)
    cfg = make_config(task.Config, base=task.preset("seed"))
    steps, features, keras_features, out = _SEED_SHAPES[name]
    ours = task.build_model(cfg, in_features=features, out_features=out, rngs=nnx.Rngs(0))
    import jax

    n_ours = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(nnx.state(ours, nnx.Param)))
    with jax.numpy_rank_promotion("allow"):
        keras_model, loss = train.keras_model(name, cfg, (steps, keras_features), out)
    assert loss in ("mse", "binary_crossentropy")
    assert keras_model.count_params() == n_ours
