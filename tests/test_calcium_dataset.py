"""The calcium dataset: CLI, both formats, ground truth, resumption, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurosim.cli import main
from neurosim.datasets import calcium as calcium_ds
from neurosim.datasets.calcium import CalciumDatasetConfig, generate_calcium, load_calcium
from neurosim.observe import bin_spikes, noise_level
from neurosim.spikefinder import read_recording

SMALL = [
    "--cells",
    "5",
    "--duration-s",
    "20",
    "--noise-level",
    "3",
    "--frame-rate",
    "50",
    "--indicator",
    "ogb1",
    "--source",
    "bursty",
    "--seed",
    "3",
    "--chunk",
    "2",
    "--no-progress",
]


@pytest.fixture(scope="module")
def both_formats(tmp_path_factory):
    d = tmp_path_factory.mktemp("calcium")
    assert main(["generate", "calcium", *SMALL, "--format", "hdf5", "--out", str(d / "c.h5")]) == 0
    assert (
        main(["generate", "calcium", *SMALL, "--format", "spikefinder", "--out", str(d / "sf")])
        == 0
    )
    return d


def test_spikefinder_files_round_trip_and_match_the_hdf5(both_formats):
    d = both_formats
    arrays, attrs = load_calcium(d / "c.h5")
    rec = read_recording(d / "sf" / "1.train.calcium.csv")
    assert rec.n_cells == 5 and len(rec.calcium[0]) == 1000  # 20 s at 50 Hz
    # CSV round trip: the values read back are the values generated (9 significant digits)
    np.testing.assert_allclose(np.array(rec.calcium), arrays["dff"], rtol=1e-7, atol=1e-8)
    # the spikes file sums to the simulated spikes, cell by cell and frame by frame
    times = arrays["spike_times_s"]
    for i in range(5):
        assert rec.spikes[i].sum() == len(times[i]) > 0
        np.testing.assert_array_equal(rec.spikes[i], bin_spikes(times[i][None], 1000, 50.0)[0])
    np.testing.assert_array_equal(np.array(rec.spikes), arrays["spikes"])
    assert attrs["dataset"] == "calcium" and attrs["seed"] == 3
    assert attrs["config.indicator"] == "ogb1" and attrs["indicator"]["kd_nM"] == 170.0
    assert "jax" in attrs["versions"]
    assert not (d / "sf" / ".neurosim-calcium.h5").exists()


def test_noise_level_of_the_files_is_the_request(both_formats):
    d = both_formats
    rec = read_recording(d / "sf" / "1.train.calcium.csv", frame_rate=50.0)
    nu = noise_level(np.array(rec.calcium), 50.0)
    np.testing.assert_allclose(nu, 3.0, rtol=0.01)
    params = json.loads((d / "sf" / "1.train.params.json").read_text())
    np.testing.assert_allclose(params["noise_level_achieved"], nu, rtol=1e-5)
    assert params["config.frame_rate_hz"] == 50.0


def test_same_seed_same_file_and_resume_after_interruption(tmp_path, monkeypatch, both_formats):
    cfg = CalciumDatasetConfig(
        cells=5,
        duration_s=20.0,
        frame_rate_hz=50.0,
        noise_level=3.0,
        indicator="ogb1",
        source="bursty",
        seed=3,
        chunk=2,
    )
    real = calcium_ds.simulate_calcium
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(calcium_ds, "simulate_calcium", flaky)
    out = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):
        generate_calcium(out, cfg, progress=False)
    assert not out.exists() and (tmp_path / "r.h5.partial").exists()
    generate_calcium(out, cfg, progress=False)  # resumes: chunk 0 is not simulated again
    assert calls["n"] == 4
    a, _ = load_calcium(out)
    b, _ = load_calcium(both_formats / "c.h5")
    np.testing.assert_array_equal(a["dff"], b["dff"])
    np.testing.assert_array_equal(a["spikes"], b["spikes"])


def test_datasets_listing_and_help(capsys):
    assert main(["datasets"]) == 0
    line = [x for x in capsys.readouterr().out.splitlines() if x.startswith("calcium")]
    assert line and "noise level" in line[0]
    with pytest.raises(SystemExit):
        main(["generate", "calcium", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--cells",
        "--duration-s",
        "--noise-level",
        "--frame-rate",
        "--indicator",
        "--source",
        "--format",
        "--out",
        "--seed",
    ):
        assert flag in text


def test_bad_input_is_refused_before_work(tmp_path, capsys, both_formats):
    d = both_formats
    # existing output
    assert main(["generate", "calcium", *SMALL, "--out", str(d / "c.h5")]) == 2
    assert "exists" in capsys.readouterr().err
    assert (
        main(["generate", "calcium", *SMALL, "--format", "spikefinder", "--out", str(d / "sf")])
        == 2
    )
    assert "already holds" in capsys.readouterr().err
    # a .h5 name for a folder format
    assert (
        main(
            [
                "generate",
                "calcium",
                *SMALL,
                "--format",
                "spikefinder",
                "--out",
                str(tmp_path / "x.h5"),
            ]
        )
        == 2
    )
    assert "writes a folder" in capsys.readouterr().err
    # unknown indicator: argparse names the choices
    with pytest.raises(SystemExit):
        main(["generate", "calcium", "--indicator", "gcamp9", "--out", str(tmp_path / "y.h5")])
    assert "gcamp6s" in capsys.readouterr().err
    # a non-positive noise level
    with pytest.raises(SystemExit):
        main(["generate", "calcium", "--noise-level", "0", "--out", str(tmp_path / "y.h5")])
    assert "positive" in capsys.readouterr().err
    # too short a recording
    with pytest.raises(ValueError, match="fewer than 2 frames"):
        CalciumDatasetConfig(duration_s=0.01, frame_rate_hz=100.0).check()
    assert not (tmp_path / "y.h5").exists() and not (tmp_path / "x.h5").exists()


def test_plot(tmp_path, both_formats):
    out = tmp_path / "p.png"
    assert main(["plot", str(both_formats / "c.h5"), "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000


def test_hh_source_uses_the_hh_simulator(tmp_path):
    import jax

    from neurosim.hh import PoissonSynapses, simulate_hh

    cfg = CalciumDatasetConfig(cells=3, duration_s=2.0, source="hh", hh_dt_ms=0.05)
    key = jax.random.key(5)
    st = calcium_ds.chunk_spikes(cfg, 0, 3, key)
    # the same neurons simulated directly
    k_drive, k_sim = jax.random.split(key)
    g = np.asarray(jax.random.normal(k_drive, (3,)), np.float64)
    res = simulate_hh(
        PoissonSynapses(rate_e_hz=(2000.0 * np.exp(0.08 * g)).astype(np.float32)),
        2000.0,
        dt=0.05,
        n=3,
        key=k_sim,
        max_spikes=st.times_s.shape[1] + 300,
    )
    np.testing.assert_array_equal(st.counts(), np.asarray(res.spike_counts))
    rates = st.counts() / 2.0
    assert np.all((rates > 1) & (rates < 40))  # physiological


def test_ring_source_takes_cells_of_ring_trials():
    import jax

    from neurosim.ring import ring_params, simulate_ring

    cfg = CalciumDatasetConfig(cells=700, duration_s=1.0, source="ring", seed=2)
    st = calcium_ds.chunk_spikes(
        cfg, 598, 4, None
    )  # E/I cells 598, 599 of trial 0; 0, 1 of trial 1
    res = simulate_ring(
        ring_params("fig1"),
        key=jax.random.fold_in(jax.random.key(2), 7_000_002),
        duration_ms=1200.0,
        n_trials=2,
        spikes=True,
    )
    for row, (trial, cell) in enumerate([(0, 598), (0, 599), (1, 0), (1, 1)]):
        t_ms, ids = res.spike_times_ms(trial)
        t = (t_ms[ids == cell] - 200.0) / 1000.0
        expected = np.sort(t[(t >= 0) & (t < 1.0)])
        got = st.times_s[row][np.isfinite(st.times_s[row])]
        np.testing.assert_allclose(got, expected, atol=1e-9)
        assert len(got) > 3


def _count_simulations(monkeypatch):
    real = calcium_ds.simulate_calcium
    calls = {"n": 0}

    def counted(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(calcium_ds, "simulate_calcium", counted)
    return calls


def _interrupt_spikes_file(monkeypatch):
    """Make writing ``1.train.spikes.csv`` raise KeyboardInterrupt (calcium.csv gets written)."""
    import neurosim.spikefinder as sf

    real = sf.write_table

    def flaky(path, *a, **k):
        if str(path).endswith("spikes.csv"):
            raise KeyboardInterrupt
        return real(path, *a, **k)

    monkeypatch.setattr(sf, "write_table", flaky)


def _same_folder(a, b):
    for name in ("1.train.calcium.csv", "1.train.spikes.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    pa = json.loads((a / "1.train.params.json").read_text())
    pb = json.loads((b / "1.train.params.json").read_text())
    assert pa["noise_level_achieved"] == pb["noise_level_achieved"]
    assert not (a / calcium_ds.WORK_FILE).exists()


@pytest.mark.parametrize("overwrite", [False, True])
def test_spikefinder_interrupted_between_files_is_finished_without_resimulating(
    tmp_path, monkeypatch, both_formats, overwrite
):
    out = tmp_path / "sf"
    args = ["generate", "calcium", *SMALL, "--format", "spikefinder", "--out", str(out)]
    with monkeypatch.context() as m:
        _interrupt_spikes_file(m)
        assert main(args) == 130
    # calcium.csv is there, params.json (the completion marker) is not
    assert (out / "1.train.calcium.csv").exists()
    assert not (out / "1.train.params.json").exists()
    assert (out / calcium_ds.WORK_FILE).exists()
    calls = _count_simulations(monkeypatch)
    assert main(args + (["--overwrite"] if overwrite else [])) == 0
    assert calls["n"] == 0  # the finished work file was reused
    _same_folder(out, both_formats / "sf")


def test_spikefinder_overwrite_interrupted_leaves_no_complete_looking_folder(
    tmp_path, monkeypatch, both_formats
):
    out = tmp_path / "sf"
    base = ["generate", "calcium", *SMALL, "--format", "spikefinder", "--out", str(out)]
    assert main(base) == 0
    other = [*base, "--seed", "4", "--overwrite"]  # argparse: the last --seed wins
    with monkeypatch.context() as m:
        _interrupt_spikes_file(m)
        assert main(other) == 130
    # new calcium.csv beside the old spikes.csv: the folder must not claim to be complete
    assert not (out / "1.train.params.json").exists()
    assert main(other[:-1]) == 0  # the same command finishes it (no --overwrite needed)
    params = json.loads((out / "1.train.params.json").read_text())
    assert params["seed"] == 4
    # and it is what a clean run with seed 4 writes
    clean = tmp_path / "clean"
    assert main([*base[:-1], str(clean), "--seed", "4"]) == 0
    _same_folder(out, clean)


def test_spikefinder_refuses_to_replace_foreign_files(tmp_path, capsys):
    out = tmp_path / "real"
    out.mkdir()
    (out / "1.train.calcium.csv").write_text("0\n1.0\n")
    args = ["generate", "calcium", *SMALL, "--format", "spikefinder", "--out", str(out)]
    assert main(args) == 2
    assert "not a neurosim dataset" in capsys.readouterr().err
    assert (out / "1.train.calcium.csv").read_text() == "0\n1.0\n"
    assert sorted(p.name for p in out.iterdir()) == ["1.train.calcium.csv"]


def test_generate_returns_the_summary_and_prints_nothing(tmp_path, capsys):
    cfg = CalciumDatasetConfig(cells=2, duration_s=5.0, noise_level=3.0, chunk=2)
    path, summary = generate_calcium(tmp_path / "s.h5", cfg, progress=False)
    assert capsys.readouterr().out == ""
    arrays, attrs = load_calcium(path)
    assert summary["spikes_total"] == int(arrays["spikes"].sum())
    assert summary["noise_level_median"] == pytest.approx(np.median(arrays["noise_level"]))
    assert attrs["mean_rate_hz"] == summary["mean_rate_hz"]
    assert "noise level ν: requested 3" in calcium_ds.summary_lines(cfg, summary)[0]
