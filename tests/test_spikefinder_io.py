"""The Spikefinder reader on real and broken files; resampling and normalisation."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from scipy.signal import resample as scipy_resample

from neurosim.spikefinder import (
    Recording,
    normalize_recording,
    normalize_trace,
    read_recording,
    read_table,
    rebin_spikes,
    resample_recording,
    resample_trace,
    write_recording,
)

# ------------------------------------------------------------------------------- real files


@pytest.mark.parametrize(("dataset", "n_cells"), [(4, 6), (5, 9), (6, 9)])
def test_real_training_sets_load(spikefinder_dir, dataset, n_cells):
    rec = read_recording(spikefinder_dir / f"{dataset}.train.calcium.csv.gz")
    assert rec.n_cells == n_cells
    for c, s in zip(rec.calcium, rec.spikes, strict=True):
        assert len(c) == len(s) > 1000
        assert np.all(np.isfinite(c)) and np.all(np.isfinite(s))
        assert np.all(s >= 0) and np.all(s == np.round(s))
        # the files carry c2s' normalisation: 5th percentile 0, 80th percentile 1
        assert np.percentile(c, 5) == pytest.approx(0, abs=0.03)
        assert np.percentile(c, 80) == pytest.approx(1, abs=0.03)


def test_nan_tails_are_trimmed_per_cell(spikefinder_dir):
    """Set 6 has cells of different lengths: the shorter columns end in empty cells."""
    rec = read_recording(spikefinder_dir / "6.train.calcium.csv.gz")
    lengths = sorted({len(c) for c in rec.calcium})
    assert len(lengths) > 1
    import pandas as pd

    raw = pd.read_csv(spikefinder_dir / "6.train.calcium.csv.gz")
    for j, c in enumerate(rec.calcium):
        col = raw[str(j)].to_numpy()
        assert np.all(np.isnan(col[len(c) :]))
        np.testing.assert_array_equal(col[: len(c)], c)


# ------------------------------------------------------------------------------ broken files


def _write(path, text):
    path.write_text(text)
    return path


def test_missing_spikes_file(tmp_path, spikefinder_dir):
    cal = tmp_path / "3.train.calcium.csv.gz"
    shutil.copy(spikefinder_dir / "4.train.calcium.csv.gz", cal)
    with pytest.raises(FileNotFoundError, match=r"3\.train\.spikes\.csv\.gz"):
        read_recording(cal)
    rec = read_recording(cal, require_spikes=False)
    assert rec.spikes is None and rec.n_cells == 6


def test_missing_calcium_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_recording(tmp_path / "1.train.calcium.csv")


@pytest.mark.parametrize("header", ["a,b", "1,2", "0,2", "0,0", "cell0,cell1"])
def test_bad_header(tmp_path, header):
    p = _write(tmp_path / "1.train.calcium.csv", f"{header}\n1,2\n3,4\n")
    with pytest.raises(ValueError, match="header"):
        read_table(p)


def test_mismatched_column_counts(tmp_path):
    _write(tmp_path / "1.train.calcium.csv", "0,1,2\n0.1,0.2,0.3\n0.2,0.3,0.4\n")
    _write(tmp_path / "1.train.spikes.csv", "0,1\n0,1\n1,0\n")
    with pytest.raises(ValueError, match="3 cells but .* has 2"):
        read_recording(tmp_path / "1.train.calcium.csv")


def test_mismatched_lengths(tmp_path):
    _write(tmp_path / "1.train.calcium.csv", "0,1\n0.1,0.2\n0.2,0.3\n0.3,\n")
    _write(tmp_path / "1.train.spikes.csv", "0,1\n0,1\n1,0\n0,0\n")
    with pytest.raises(ValueError, match="cell 1: .* 2 frames but .* 3"):
        read_recording(tmp_path / "1.train.calcium.csv")


def test_interior_nan_is_an_error_not_a_silent_shift(tmp_path):
    p = _write(tmp_path / "1.train.calcium.csv", "0,1\n0.1,0.2\n,0.3\n0.3,0.4\n")
    with pytest.raises(ValueError, match="cell 0 has an empty/NaN value at frame 1"):
        read_table(p)


def test_not_numbers(tmp_path):
    p = _write(tmp_path / "1.train.calcium.csv", "0,1\n0.1,abc\n")
    with pytest.raises(ValueError, match="not a table of numbers"):
        read_table(p)


def test_empty_column(tmp_path):
    p = _write(tmp_path / "1.train.calcium.csv", "0,1\n0.1,\n0.2,\n")
    with pytest.raises(ValueError, match="cell 1 has no values"):
        read_table(p)


def test_ragged_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    cal = [rng.normal(size=n) for n in (50, 37, 50)]
    spk = [rng.poisson(0.2, size=n).astype(float) for n in (50, 37, 50)]
    c_path, s_path = write_recording(tmp_path, Recording(cal, spk), index=2)
    assert c_path.name == "2.train.calcium.csv" and s_path.name == "2.train.spikes.csv"
    back = read_recording(c_path)
    for a, b in zip(cal, back.calcium, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-8)
    for a, b in zip(spk, back.spikes, strict=True):
        np.testing.assert_array_equal(b, a)
    # spikes are written as integers, the padding as empty cells
    lines = s_path.read_text().splitlines()
    assert lines[0] == "0,1,2"
    assert lines[-1].split(",")[1] == ""
    # gzip works the same
    gz = tmp_path / "2.train.calcium.csv.gz"
    with open(c_path, "rb") as src, gzip.open(gz, "wb") as dst:
        dst.write(src.read())
    np.testing.assert_allclose(read_table(gz)[1], cal[1], rtol=1e-8)


# ----------------------------------------------------------------------------- resampling


def test_rebin_integer_factor_is_group_sum():
    rng = np.random.default_rng(1)
    s = rng.poisson(0.3, size=400).astype(float)
    np.testing.assert_array_equal(rebin_spikes(s, 100, 25), s.reshape(-1, 4).sum(axis=1))
    # upsampling 25 -> 100: each count lands in the frame holding the old frame's centre
    up = rebin_spikes(s[:100], 25, 100)
    assert len(up) == 400
    np.testing.assert_array_equal(up[2::4], s[:100])
    assert up.sum() == s[:100].sum()


@pytest.mark.parametrize("new_rate", [30.0, 7.5, 60.0, 250.0])
def test_rebin_conserves_spikes(new_rate):
    rng = np.random.default_rng(2)
    s = rng.poisson(0.2, size=3000).astype(float)
    out = rebin_spikes(s, 100.0, new_rate)
    n_new = len(out)
    assert n_new == int(3000 * new_rate / 100.0 + 1e-9)
    # every spike whose frame centre lies inside the new frames is kept, none is invented
    centre_t = (np.arange(3000) + 0.5) / 100.0
    assert out.sum() == s[centre_t < n_new / new_rate].sum()
    # and each lands at the right time (within one new frame)
    t_new = (np.flatnonzero(out) + 0.5) / new_rate
    t_old = centre_t[(s > 0) & (centre_t < n_new / new_rate)]
    assert np.all(
        np.abs(np.sort(np.unique(np.floor(t_old * new_rate))) - (t_new * new_rate - 0.5)) < 1e-9
    )


def test_resample_trace_methods():
    x = np.random.default_rng(3).normal(size=1000)
    # "mean" with an integer factor is the block average
    np.testing.assert_allclose(resample_trace(x, 100, 25, method="mean"), x.reshape(-1, 4).mean(1))
    # a constant stays constant with any rate and method
    for method in ("mean", "linear", "fourier"):
        np.testing.assert_allclose(resample_trace(np.full(900, 2.5), 90, 33, method=method), 2.5)
    # "linear" upsampling reproduces a ramp exactly (between the first and last centres)
    ramp = np.arange(100.0)
    up = resample_trace(ramp, 10, 40, method="linear")
    t = (np.arange(len(up)) + 0.5) / 40
    inside = (t >= 0.05) & (t <= 9.95)
    np.testing.assert_allclose(up[inside], t[inside] * 10 - 0.5)
    # "fourier" is scipy.signal.resample (what c2s used)
    np.testing.assert_allclose(resample_trace(x, 100, 60, method="fourier"), scipy_resample(x, 600))
    with pytest.raises(ValueError, match="not one of"):
        resample_trace(x, 100, 50, method="cubic")


def test_resample_recording(spikefinder_dir):
    rec = read_recording(spikefinder_dir / "5.train.calcium.csv.gz")
    low = resample_recording(rec, 30.0)
    assert low.frame_rate == 30.0
    for c0, s0, c1, s1 in zip(rec.calcium, rec.spikes, low.calcium, low.spikes, strict=True):
        assert len(c1) == len(s1) == int(len(c0) * 0.3 + 1e-9)
        assert s0.sum() - s1.sum() <= s0[-4:].sum()  # at most the trailing partial frame is lost
        assert np.mean(c1) == pytest.approx(np.mean(c0[: int(len(c1) / 0.3)]), abs=1e-2)
    with pytest.raises(ValueError, match="positive"):
        resample_recording(rec, 0.0)


# ---------------------------------------------------------------------------- normalisation


def test_normalisations(spikefinder_dir):
    rng = np.random.default_rng(4)
    raw = 200 + 20 * rng.random(5000)  # raw fluorescence, positive
    p = normalize_trace(raw, "percentile")
    assert np.percentile(p, 5) == pytest.approx(0, abs=1e-12)
    assert np.percentile(p, 80) == pytest.approx(1)
    d = normalize_trace(raw, "dff", f0_percentile=8)
    f0 = np.percentile(raw, 8)
    np.testing.assert_allclose(d, (raw - f0) / f0)
    z = normalize_trace(raw, "zscore")
    assert z.mean() == pytest.approx(0, abs=1e-12) and z.std() == pytest.approx(1)
    r = normalize_trace(raw, "robust")
    assert np.median(r) == pytest.approx(0, abs=1e-12)
    assert np.median(np.abs(r)) == pytest.approx(1 / 1.4826)
    # running baseline: a slow ramp in F0 is removed
    ramp = np.linspace(100, 200, 20000) * (1 + 0.01 * rng.random(20000))
    dr = normalize_trace(ramp, "dff", frame_rate=100, window_s=10.0, f0_percentile=8)
    ds = normalize_trace(ramp, "dff", f0_percentile=8)
    assert np.abs(np.median(dr[:5000]) - np.median(dr[-5000:])) < 0.02
    assert np.abs(np.median(ds[:5000]) - np.median(ds[-5000:])) > 0.5
    np.testing.assert_array_equal(normalize_trace(raw, "none"), raw)
    # the real files are already normalised: ΔF/F is refused with an explanation
    rec = read_recording(spikefinder_dir / "4.train.calcium.csv.gz")
    with pytest.raises(ValueError, match="already baseline-subtracted or normalised"):
        normalize_recording(rec, "dff")
    again = normalize_recording(rec, "percentile")
    np.testing.assert_allclose(again.calcium[0], rec.calcium[0], atol=0.05)
    with pytest.raises(ValueError, match="not one of"):
        normalize_trace(raw, "minmax")
    with pytest.raises(ValueError, match="constant"):
        normalize_trace(np.ones(100), "zscore")
