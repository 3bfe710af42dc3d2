"""The hh-voltage dataset: layout, alignment, rejection sampling, determinism, resumption."""

import h5py
import jax
import numpy as np
import pytest

from neurosim import ArrayInput, HHParams, simulate_hh
from neurosim.cli import main
from neurosim.datasets import hh_voltage as hv

SMALL = dict(n_train=24, n_test=2, test_duration_ms=1000.0, seed=3)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    path = tmp_path_factory.mktemp("hv") / "small.h5"
    hv.generate_hh_voltage(path, hv.HHVoltageConfig(**SMALL), progress=False)
    return path


def test_layout_and_attributes(small):
    arrays, attrs = hv.load_hh_voltage(small)
    assert arrays["X"].shape == arrays["Y"].shape == (24, 1000, 1)
    assert arrays["X_test"].shape == arrays["Y_test"].shape == (2, 1000, 1)
    assert all(a.dtype == np.float32 for a in arrays.values())
    assert attrs["dataset"] == "hh-voltage" and attrs["seed"] == 3
    assert attrs["config.ou_sigma"] == 25.0 and attrs["config.dt"] == 0.025
    assert attrs["units"] == {"X": "pA", "Y": "mV", "t_ms": "ms"}
    assert attrs["versions"]["jax"] == jax.__version__
    assert attrs["neuron_params"]["C"] == 100.0 and attrs["neuron_params"]["units"] == "point"
    np.testing.assert_array_equal(arrays["t_ms"], np.arange(1, 1001, dtype=np.float32))
    assert np.all(arrays["X"][:, 0, 0] == 0.0)  # I(0) = 0


def test_y_is_the_voltage_driven_by_x_with_no_delay(small):
    arrays, _ = hv.load_hh_voltage(small)
    X, Y = arrays["X"][:4, :, 0], arrays["Y"][:4, :, 0]
    res = simulate_hh(
        ArrayInput(X.astype(np.float64), 1.0),
        1000.0,
        params=HHParams.point(),
        record_every=40,
        dtype="float64",
    )
    np.testing.assert_allclose(Y, np.asarray(res.V), atol=2e-3)
    assert np.all(np.asarray(res.spike_counts) == 0)
    # Y[k] reacts to X[k]: shifting X by one sample makes the fit much worse
    shifted = simulate_hh(
        ArrayInput(np.roll(X, 1, axis=1).astype(np.float64), 1.0),
        1000.0,
        params=HHParams.point(),
        record_every=40,
        dtype="float64",
    )
    assert np.abs(np.asarray(shifted.V) - Y).max() > 20 * 2e-3


def test_rejected_candidates_really_spike(tmp_path):
    cfg = hv.HHVoltageConfig(n_train=20, n_test=0, ou_sigma=35.0, seed=1)
    path = hv.generate_hh_voltage(tmp_path / "r.h5", cfg, progress=False)
    arrays, attrs = hv.load_hh_voltage(path)
    assert attrs["candidates"] > 20  # some were rejected at this noise level
    X, Y, ok = hv._simulate_chunk(
        cfg,
        jax.random.fold_in(jax.random.key(1), hv._TAG_TRAIN),
        0,
        attrs["candidates"],
        cfg.samples,
    )
    assert ok.sum() == 20 and ok[-1]  # the candidates used end with the 20th accepted one
    np.testing.assert_array_equal(arrays["X"][..., 0], X[ok])
    assert np.all(Y[~ok].max(axis=1) > 0)  # every rejected trace went above 0 mV


def test_same_seed_same_file_whatever_the_chunk(tmp_path):
    """Chunking changes only float round-off (batch shapes differ), never which traces are kept."""
    a = hv.generate_hh_voltage(
        tmp_path / "a.h5", hv.HHVoltageConfig(**SMALL, chunk=5), progress=False
    )
    b = hv.generate_hh_voltage(
        tmp_path / "b.h5", hv.HHVoltageConfig(**SMALL, chunk=64), progress=False
    )
    with h5py.File(a) as fa, h5py.File(b) as fb:
        for k in ("X", "X_test"):
            np.testing.assert_array_equal(fa[k][()], fb[k][()])
        for k in ("Y", "Y_test"):
            np.testing.assert_allclose(fa[k][()], fb[k][()], atol=1e-4)
        assert fa.attrs["candidates"] == fb.attrs["candidates"]
    c = hv.generate_hh_voltage(
        tmp_path / "c.h5", hv.HHVoltageConfig(**{**SMALL, "seed": 4}), progress=False
    )
    with h5py.File(a) as fa, h5py.File(c) as fc:
        assert not np.array_equal(fa["X"][()], fc["X"][()])


def test_interrupted_run_leaves_no_file_and_resumes(tmp_path, monkeypatch):
    out = tmp_path / "i.h5"
    cfg = hv.HHVoltageConfig(**SMALL, chunk=6)
    real = hv._simulate_chunk
    calls = {"n": 0}

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(hv, "_simulate_chunk", flaky)
    with pytest.raises(KeyboardInterrupt):
        hv.generate_hh_voltage(out, cfg, progress=False)
    assert not out.exists() and out.with_name("i.h5.partial").exists()
    monkeypatch.setattr(hv, "_simulate_chunk", real)
    hv.generate_hh_voltage(out, cfg, progress=False)
    assert out.exists() and not out.with_name("i.h5.partial").exists()
    ref = hv.generate_hh_voltage(tmp_path / "ref.h5", cfg, progress=False)
    with h5py.File(out) as f, h5py.File(ref) as g:
        for k in ("X", "Y", "X_test", "Y_test"):
            np.testing.assert_array_equal(f[k][()], g[k][()])
        assert "_partial_key" not in f.attrs and "_rows_done" not in f["X"].attrs


def test_resume_with_another_chunk_size_keeps_the_progress(tmp_path, monkeypatch):
    """--chunk does not change the data, so a rerun with a smaller chunk (e.g. after running out
    of memory) resumes; other parameters start anew, with a warning naming them."""
    out = tmp_path / "c.h5"
    real = hv._simulate_chunk
    calls = []
    fail = {"at": 2}

    def flaky(cfg, key, first, count, n_samples):
        calls.append((first, count))
        if len(calls) == fail["at"]:
            raise KeyboardInterrupt
        return real(cfg, key, first, count, n_samples)

    monkeypatch.setattr(hv, "_simulate_chunk", flaky)
    with pytest.raises(KeyboardInterrupt):
        hv.generate_hh_voltage(out, hv.HHVoltageConfig(**SMALL, chunk=10), progress=False)
    calls.clear()
    fail["at"] = -1
    hv.generate_hh_voltage(out, hv.HHVoltageConfig(**SMALL, chunk=7), progress=False)
    assert calls[0][0] >= 10  # continued after the first chunk of 10 candidates
    ref = hv.generate_hh_voltage(tmp_path / "ref.h5", hv.HHVoltageConfig(**SMALL), progress=False)
    with h5py.File(out) as f, h5py.File(ref) as g:
        np.testing.assert_array_equal(f["X"][()], g["X"][()])
        np.testing.assert_allclose(f["Y"][()], g["Y"][()], atol=1e-4)
        assert f.attrs["config.chunk"] == 7

    out2 = tmp_path / "d.h5"
    calls.clear()
    fail["at"] = 2
    with pytest.raises(KeyboardInterrupt):
        hv.generate_hh_voltage(out2, hv.HHVoltageConfig(**SMALL, chunk=10), progress=False)
    monkeypatch.setattr(hv, "_simulate_chunk", real)
    with pytest.warns(UserWarning, match=r"started with other parameters \(config.seed: 3 → 5"):
        hv.generate_hh_voltage(out2, hv.HHVoltageConfig(**{**SMALL, "seed": 5}), progress=False)


def test_statistics_match_the_spec(tmp_path):
    """spec/hh.md: kept Y mean ≈ −65.2 mV, sd ≈ 1.7 mV; ~99.5 % of traces spike-free."""
    path = hv.generate_hh_voltage(
        tmp_path / "s.h5", hv.HHVoltageConfig(n_train=300, n_test=0, seed=0), progress=False
    )
    arrays, attrs = hv.load_hh_voltage(path)
    Y, X = arrays["Y"], arrays["X"]
    assert abs(Y.mean() + 65.2) < 0.3 and abs(Y.std() - 1.7) < 0.2
    assert 150 < X.std() < 190  # stationary sd 176.8 pA, lower early in each trace (I(0) = 0)
    assert attrs["acceptance"] > 0.97


def test_cli_errors_and_overwrite(tmp_path, capsys):
    out = tmp_path / "x.h5"
    base = ["generate", "hh-voltage", "--n-train", "4", "--n-test", "0", "--no-progress"]
    args = base + ["--out", str(out)]
    assert main(args) == 0 and out.exists()
    before = out.read_bytes()
    assert main(args) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before  # nothing lost
    assert main(base + ["--out", str(tmp_path / "x.csv")]) == 2
    assert "should end in one of .h5" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["generate", "hh-voltage", "--n-train", "-3", "--out", str(out)])
    assert e.value.code == 2
    assert "expected an integer >= 0, got -3" in capsys.readouterr().err
    assert (
        main(
            [
                "generate",
                "hh-voltage",
                "--n-train",
                "0",
                "--n-test",
                "0",
                "--out",
                str(tmp_path / "z.h5"),
            ]
        )
        == 2
    )
    assert "nothing to generate" in capsys.readouterr().err
