"""The LFP dataset from the ring: CSV and HDF5, label = MUA, proxy from the ring's currents."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from neurosim.cli import main
from neurosim.datasets import lfp as lfp_ds
from neurosim.datasets.lfp import LFPDatasetConfig, generate_lfp, load_lfp_csv
from neurosim.io import read_h5
from neurosim.observe.lfp import distance_weights, lfp_proxy

ARGS = ["--duration-s", "2", "--seed", "4", "--segment-s", "1", "--no-progress"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("lfp")
    assert main(["generate", "lfp", *ARGS, "--out", str(d / "l.csv")]) == 0
    assert main(["generate", "lfp", *ARGS, "--out", str(d / "l.h5")]) == 0
    return d


def test_csv_layout_and_round_trip(files):
    text = (files / "l.csv").read_text().splitlines()
    assert text[0] == "time,lfp,spike"
    assert len(text) == 2001
    t, lfp, spike = load_lfp_csv(files / "l.csv")
    arrays, attrs = read_h5(files / "l.h5")
    np.testing.assert_allclose(t, np.arange(2000) / 1000.0, atol=1e-12)
    np.testing.assert_allclose(lfp, arrays["lfp"], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(spike, arrays["spike"])
    assert attrs["dataset"] == "lfp" and attrs["seed"] == 4
    assert attrs["ring_params"]["synaptic"] is True
    assert not (files / ".l.csv.h5").exists()


def test_label_rate_is_the_mua_rate(files):
    arrays, attrs = read_h5(files / "l.h5")
    cells = arrays["mua_cells"]
    assert len(cells) == 6
    # the label, rebuilt from every spike of the network and the recorded cells
    hit = np.zeros(2000, bool)
    for times, ids in zip(arrays["spike_times_s"], arrays["spike_cells"], strict=True):
        sel = np.isin(ids, cells)
        hit[np.floor(times[sel] * 1000.0 + 1e-6).astype(int)] = True  # spikes at k·0.05 ms
    np.testing.assert_array_equal(arrays["spike"], hit.astype(np.uint8))
    assert arrays["spike"].mean() == pytest.approx(attrs["label_rate"])
    # a few percent to ~10 % positives (the notebook had 7.5 %)
    assert 0.02 < attrs["label_rate"] < 0.12
    # the recorded cells are the nearest to the electrode (E 149-151 and I 449-451)
    np.testing.assert_array_equal(cells, [149, 150, 151, 449, 450, 451])


def test_one_default_for_the_recorded_cells():
    # the dataset takes the LFP model's defaults; 6 cells is the documented count (docs/lfp.md)
    from neurosim.observe.lfp import LFPConfig

    assert LFPConfig().mua_cells == LFPDatasetConfig().mua_cells == 6
    assert LFPDatasetConfig().lfp_config() == LFPConfig()


def test_proxy_and_mua_current_are_the_ring_currents(files):
    from neurosim.ring import ring_params, simulate_ring

    arrays, attrs = read_h5(files / "l.h5")
    cfg = LFPDatasetConfig(duration_s=2.0, seed=4, segment_s=1.0)
    res = simulate_ring(
        ring_params("fig1", synaptic=True),
        key=jax.random.fold_in(jax.random.key(4), 1),
        duration_ms=1200.0,
        trial_offset=1,
        bin_ms=1.0,
        currents_every_ms=1.0,
        currents_mode="mean",
    )
    # the recorded cells' own input: their I_E and I_I, summed (cells index all 600, E and I)
    cells = arrays["mua_cells"]
    i_e, i_i = res.i_e[0, 200:], res.i_i[0, 200:]  # segment 1, all 600 cells
    want = np.stack([i_e[:, cells].sum(1), i_i[:, cells].sum(1)], axis=1)
    np.testing.assert_allclose(arrays["mua_current"][1000:], want, rtol=1e-5, atol=1e-6)
    i_e, i_i = res.i_e[0, 200:, :300], res.i_i[0, 200:, :300]  # segment 1, E cells
    w = distance_weights(np.arange(300), 150.0, 300, cfg.space_constant)
    raw = lfp_proxy(i_e, i_i, w, delay_samples=6, alpha=1.65)
    z = (raw - raw.mean()) / raw.std()
    np.testing.assert_allclose(arrays["proxy"][1000:], z, atol=2e-5)
    np.testing.assert_array_equal(arrays["segment"], np.repeat([0, 1], 1000))
    # the ring fired at physiological rates (synaptic variant, fig1)
    assert 0.0 < attrs["rate_I_hz"] < attrs["rate_E_hz"] < 40.0


def test_mua_current_is_the_labelled_cells_drive(files):
    arrays, attrs = read_h5(files / "l.h5", ("mua_current", "spike"))
    cur = arrays["mua_current"]
    assert cur.shape == (2000, 2) and cur.dtype == np.float32
    assert (cur >= 0).all() and (cur[:, 0] > 0).all()  # I_E ≥ 0, I_I ≥ 0; kicks never stop
    assert "mua_current" in attrs["units"]
    # the recorded cells fire when driven: more excitatory input in samples labelled 1
    spike = arrays["spike"].astype(bool)
    assert cur[spike, 0].mean() > cur[~spike, 0].mean()
    np.testing.assert_array_equal(lfp_ds.load_mua_current(files / "l.h5"), cur)


def test_a_file_without_mua_current_says_so(tmp_path, files):
    import h5py

    old = tmp_path / "old.h5"
    with h5py.File(files / "l.h5", "r") as src, h5py.File(old, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        src.copy("lfp", dst)
    with pytest.raises(KeyError, match="older neurosim"):
        lfp_ds.load_mua_current(old)
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.attrs["dataset"] = "calcium"
    with pytest.raises(ValueError, match="not 'lfp'"):
        lfp_ds.load_mua_current(tmp_path / "other.h5")


def test_resume_after_interruption(tmp_path, monkeypatch, files):
    """One segment at a time, interrupted after the first: the file of both segments simulated
    as one batch of two ring trials (``files``), array for array."""
    cfg = LFPDatasetConfig(duration_s=2.0, seed=4, segment_s=1.0, batch_segments=1)
    real = lfp_ds._segments
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(lfp_ds, "_segments", flaky)
    out = tmp_path / "r.h5"
    with pytest.raises(KeyboardInterrupt):
        generate_lfp(out, cfg, progress=False)
    assert not out.exists()
    generate_lfp(out, cfg, progress=False)
    assert calls["n"] == 3
    a, attrs_a = read_h5(out)
    b, attrs_b = read_h5(files / "l.h5")
    assert sorted(a) == sorted(b) and "proxy" in a and "spike_times_s" in a
    for k in b:
        if b[k].dtype == object:  # per-segment spike times and cells
            for x, y in zip(a[k], b[k], strict=True):
                np.testing.assert_array_equal(x, y, err_msg=k)
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert b["spike"].sum() > 10
    assert "config.batch_segments" not in attrs_b  # not part of the data
    assert {k: v for k, v in attrs_a.items() if k != "created_utc"} == {
        k: v for k, v in attrs_b.items() if k != "created_utc"
    }


def test_segments_are_batched_in_runs_of_equal_length():
    segs = LFPDatasetConfig(duration_s=2.5, segment_s=0.5).segments()
    assert len(segs) == 5
    assert lfp_ds._batches(segs, 0, 3) == [(0, 3, 500), (3, 2, 500)]
    segs = LFPDatasetConfig(duration_s=2.2, segment_s=0.5).segments()  # last: 200 samples
    assert lfp_ds._batches(segs, 1, 8) == [(1, 3, 500), (4, 1, 200)]
    assert lfp_ds._batches(segs, 5, 8) == []
    with pytest.raises(ValueError, match="batch_segments must be a positive integer, got 0"):
        LFPDatasetConfig(batch_segments=0).check()


def test_bad_lfp_arguments(tmp_path, capsys, files):
    assert main(["generate", "lfp", *ARGS, "--out", str(files / "l.csv")]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["generate", "lfp", *ARGS, "--out", str(tmp_path / "l.txt")]) == 2
    assert ".csv" in capsys.readouterr().err
    assert (
        main(
            ["generate", "lfp", *ARGS, "--sample-rate-hz", "3000", "--out", str(tmp_path / "a.csv")]
        )
        == 2
    )
    assert "whole number of ring steps" in capsys.readouterr().err
    assert (
        main(["generate", "lfp", *ARGS, "--electrode", "400", "--out", str(tmp_path / "b.csv")])
        == 2
    )
    assert "electrode_position" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    bad = tmp_path / "bad.csv"
    bad.write_text("t,lfp,spike\n0,1,0\n")
    with pytest.raises(ValueError, match="expected time, lfp, spike"):
        load_lfp_csv(bad)


def test_csv_interrupted_after_the_simulation_reuses_the_work_file(tmp_path, monkeypatch, files):
    cfg = LFPDatasetConfig(duration_s=2.0, seed=4, segment_s=1.0)
    out = tmp_path / "l.csv"
    with monkeypatch.context() as m:

        def interrupted(*a, **k):
            raise KeyboardInterrupt

        m.setattr(lfp_ds, "write_lfp_csv", interrupted)
        with pytest.raises(KeyboardInterrupt):
            generate_lfp(out, cfg, progress=False)
    assert not out.exists() and (tmp_path / ".l.csv.h5").exists()
    real = lfp_ds._segments
    calls = {"n": 0}

    def counted(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(lfp_ds, "_segments", counted)
    path, summary = generate_lfp(out, cfg, progress=False)
    assert calls["n"] == 0  # same parameters: the finished simulation is reused
    assert out.read_bytes() == (files / "l.csv").read_bytes()
    assert not (tmp_path / ".l.csv.h5").exists()
    _, attrs = read_h5(files / "l.h5")
    assert summary["label_rate"] == attrs["label_rate"]
    # a work file of other parameters is not reused
    with monkeypatch.context() as m:
        m.setattr(lfp_ds, "write_lfp_csv", interrupted)
        with pytest.raises(KeyboardInterrupt):
            generate_lfp(tmp_path / "m.csv", cfg, progress=False)
    calls["n"] = 0
    generate_lfp(
        tmp_path / "m.csv", LFPDatasetConfig(duration_s=2.0, seed=5, segment_s=1.0), progress=False
    )
    assert calls["n"] == 1  # simulated anew: its two segments as one batch of ring trials


def test_csv_time_keeps_its_digits_in_long_recordings(tmp_path):
    t = 10_000.0 + np.arange(5) / 1000.0  # 10,000 s into a 1 kHz recording
    path = lfp_ds.write_lfp_csv(tmp_path / "t.csv", t, np.zeros(5), np.zeros(5, np.uint8))
    back, _, _ = load_lfp_csv(path)
    assert len(np.unique(back)) == 5
    np.testing.assert_allclose(back, t, rtol=0, atol=1e-9)
    t = 1e6 + np.arange(3) / 3000.0  # 11.6 days at 3 kHz
    back, _, _ = load_lfp_csv(lfp_ds.write_lfp_csv(tmp_path / "u.csv", t, np.zeros(3), np.zeros(3)))
    np.testing.assert_allclose(back, t, rtol=0, atol=1e-8)
    assert (tmp_path / "t.csv").read_text().splitlines()[1].startswith("10000,")
