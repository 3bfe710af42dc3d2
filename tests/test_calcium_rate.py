"""The calcium-rate task and infer-spikes: the elephant CNN against a NumPy forward pass and the
Keras parameter count, targets aligned with the frames windows predict, synthetic data at another
frame rate brought to 100 Hz with exact spike times, the task's per-cell scores against the
Spikefinder metric computed independently from whole-trace predictions, prediction in the
Spikefinder layout with NaN gaps, a noise level recovered by matching, calcium mixtures equal to
their parts, and clear refusals of bad input."""

from __future__ import annotations

import json

import h5py
import jax
import numpy as np
import pytest
from flax import nnx
from scipy.ndimage import gaussian_filter1d

from neurolearn import metrics as M
from neurolearn.config import make_config
from neurolearn.models import ConvNet1D
from neurolearn.predict import predict_file
from neurolearn.tasks import get
from neurolearn.tasks.calcium_rate import ELEPHANT, normalise_trace, smooth_spikes, to_100hz
from neurolearn.train import load_run, train_and_evaluate
from neurosim.datasets.calcium import (
    CalciumDatasetConfig,
    generate_calcium,
    generate_calcium_mixture,
)
from neurosim.spikefinder import read_table, write_table

TASK = get("calcium-rate")
TINY = {
    "model.channels": [4, 4, 4],
    "model.dense": 8,
    "epochs": 1,
    "epoch_size": 2000,
    "baseline_windows": 2000,
}


def _keras_count(cin, channels, kernels, pools, dense, window):
    """Parameters of the same Keras model, counted layer by layer."""
    n, steps, c = 0, window, cin
    for ch, k, p in zip(channels, kernels, pools, strict=True):
        n += k * c * ch + ch
        steps = (steps - k + 1) // p
        c = ch
    n += c * dense + dense
    return n + steps * dense + 1


def test_elephant_parameter_count():
    m = ConvNet1D(
        1, 1, channels=ELEPHANT.channels, kernels=ELEPHANT.kernels, pools=ELEPHANT.pools,
        dense=ELEPHANT.dense, window=ELEPHANT.window, rngs=nnx.Rngs(0),
    )  # fmt: skip
    n = sum(x.size for x in jax.tree.leaves(nnx.state(m, nnx.Param)))
    assert n == _keras_count(1, (50, 60, 70), (41, 21, 7), (1, 2, 2), 300, 128) == 120_131


def test_window_model_equals_numpy_forward():
    """Unpadded cross-correlation, floor max-pooling, per-step dense, row-major flatten."""
    m = ConvNet1D(
        1, 1, channels=(3, 4), kernels=(5, 3), pools=(2, 3), dense=6, window=40, rngs=nnx.Rngs(1)
    )
    x = np.random.default_rng(0).normal(size=(2, 40, 1))
    h = x
    for conv, p in zip(m.convs, (2, 3), strict=True):
        w, b = np.asarray(conv.kernel[...]), np.asarray(conv.bias[...])
        k = w.shape[0]
        n = h.shape[1] - k + 1
        h = np.stack([np.einsum("bkc,kcd->bd", h[:, t : t + k], w) for t in range(n)], 1) + b
        h = np.maximum(h, 0)
        n = h.shape[1] // p
        h = h[:, : n * p].reshape(h.shape[0], n, p, -1).max(axis=2)
    h = np.maximum(h @ np.asarray(m.hidden.kernel[...]) + np.asarray(m.hidden.bias[...]), 0)
    ref = h.reshape(2, -1) @ np.asarray(m.readout.kernel[...]) + np.asarray(m.readout.bias[...])
    np.testing.assert_allclose(np.asarray(m(x)), ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="windows of 40 steps, got 39"):
        m(x[:, :39])


def test_window_too_short_for_kernels():
    with pytest.raises(ValueError, match="window 50 is too short"):
        make_config(TASK.Config, {"window": 50, "target_offset": 10})


def test_smooth_spikes_is_a_unit_gaussian():
    s = np.zeros(200)
    s[[50, 120, 121]] = [1, 2, 1]
    y = smooth_spikes(s, 2.0)
    assert y.sum() == pytest.approx(4.0, rel=1e-6)
    ref = gaussian_filter1d(s, 2.0, mode="constant", truncate=3.5)
    np.testing.assert_allclose(y, ref, atol=2e-4)
    np.testing.assert_array_equal(smooth_spikes(s, 0.0), s)


def test_to_100hz_bins_exact_spike_times():
    t = [np.array([0.004, 0.011, 0.0195, 1.2345]), np.array([0.999])]
    cells, spikes = to_100hz(np.ones((2, 30)) + np.arange(30), t, 20.0)
    assert all(len(c) == len(s) == 150 for c, s in zip(cells, spikes, strict=True))
    assert spikes[0][0] == 1 and spikes[0][1] == 2 and spikes[0][123] == 1
    assert spikes[0].sum() == 4 and spikes[1][99] == 1


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("calcium-rate")
    cfg = CalciumDatasetConfig(cells=6, duration_s=20.0, noise_level=1.5, seed=3)
    h5 = generate_calcium(d / "c.h5", cfg, progress=False).path
    with h5py.File(h5) as f:
        dff, spikes = f["dff"][()], f["spikes"][()]
    return {"h5": h5, "dff": dff, "spikes": spikes, "dir": d}


def test_windows_target_the_frame_they_predict(data):
    cfg = make_config(TASK.Config, {"normalise": "none"})
    ds = TASK.load(data["h5"], cfg)
    ex, _ = TASK.examples(ds, cfg)
    T = data["dff"].shape[1]
    rng = np.random.default_rng(0)
    from neurolearn.data.windows import WindowSource

    src = WindowSource({**ex.arrays, "starts": ex.starts.astype(np.int32)}, ex.window, ex.target)
    for i in rng.choice(len(ex), 50, replace=False):
        cell, start = divmod(int(ex.starts[i]), T)
        got = src.fetch(src.arrays, np.array([i]))
        frame = start + cfg.target_offset
        np.testing.assert_allclose(got["x"][0, :, 0], data["dff"][cell, start : start + 128])
        assert got["s"][0] == data["spikes"][cell, frame]
        assert got["y"][0] == pytest.approx(smooth_spikes(data["spikes"][cell], 2.0)[frame])


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "tiny"
    r = train_and_evaluate(
        TASK, dict(TINY), data=data["h5"], workdir=out, progress=False, log=None, preset="small"
    )
    return r, out


def test_scores_equal_the_metric_on_whole_trace_predictions(run, data):
    """The task's per-cell evaluation (window by window, in the engine) equals the Spikefinder
    correlation of `predict` on the held-out cells' whole traces, on the frames both cover."""
    r, out = run
    split = json.loads((out / "split.json").read_text())
    test_cells = sorted(split["test_groups"])
    loaded = load_run(out)
    cfg = loaded.config
    preds = TASK.predict_traces(loaded, [data["dff"][c][:, None] for c in test_cells])
    lo, T = cfg.target_offset, data["dff"].shape[1]
    hi = T - (cfg.window - cfg.target_offset) + 1
    truth = [data["spikes"][c][lo:hi].astype(float) for c in test_cells]
    pred = [p[lo:hi, 0] for p in preds]
    ref = M.spikefinder_scores(truth, pred)
    got = r.metrics["test"]
    assert got["corr_25hz_mean"] == pytest.approx(ref.mean, abs=1e-4)
    assert got["n_cells"] == len(test_cells)
    ref12 = M.spikefinder_scores(truth, pred, downsample=8)
    assert got["corr_12hz_mean"] == pytest.approx(ref12.mean, abs=1e-4)
    base = json.loads((out / "metrics.json").read_text())["baselines"]
    assert np.isfinite(base["test_ridge"]["corr_25hz_mean"])


def test_predict_spikefinder_layout_with_gaps(run, data, tmp_path):
    _, out = run
    cols = [data["dff"][0][:1500].copy(), data["dff"][1].copy(), data["dff"][2][:900].copy()]
    cols[1][[200, 201, 1700]] = np.nan
    src = tmp_path / "7.test.calcium.csv"
    write_table(src, cols, allow_nan=True)
    dst = predict_file(out, src, tmp_path / "7.pred.csv")
    got = read_table(dst, interior_nan=True)
    assert [len(c) for c in got] == [1500, len(cols[1]), 900]
    for c, p in zip(cols, got, strict=True):
        np.testing.assert_array_equal(np.isnan(p), np.isnan(c))
    # the gap is dropped, not propagated: the frames around it equal a prediction of the trace
    # with those frames cut out
    loaded = load_run(out)
    cut = np.delete(cols[1], [200, 201, 1700])[:, None]
    ref = TASK.predict_traces(loaded, [cut])[0][:, 0]
    np.testing.assert_allclose(np.delete(got[1], [200, 201, 1700]), ref, rtol=1e-5, atol=1e-6)


def test_bad_inputs(run, data, tmp_path):
    _, out = run
    loaded = load_run(out)
    with pytest.raises(ValueError, match="trace 0 is constant"):
        TASK.predict_traces(loaded, [np.ones((500, 1))])
    with pytest.raises(ValueError, match="at 30 Hz; calcium-rate predicts at 100 Hz"):
        TASK.predict_traces(loaded, [data["dff"][0][:, None]], frame_rate=30.0)
    with pytest.raises(ValueError, match="target_offset must be in"):
        make_config(TASK.Config, {"target_offset": 128})
    with pytest.raises(ValueError, match="normalise must be one of"):
        make_config(TASK.Config, {"normalise": "zscore"})
    with pytest.raises(ValueError, match="constant"):
        normalise_trace(np.zeros(10), "cell", name="cell 3")


def test_mixture_is_its_parts(tmp_path):
    cfgs = [
        CalciumDatasetConfig(cells=3, duration_s=10.0, noise_level=nu, frame_rate_hz=30.0, seed=i)
        for i, nu in enumerate((1.5, 4.0))
    ]
    mix = generate_calcium_mixture(tmp_path / "mix.h5", cfgs, progress=False).path
    with h5py.File(mix) as f:
        dff, part, req = f["dff"][()], f["part"][()], f["noise_level_requested"][()]
        times = f["spike_times_s"][()]
    assert list(part) == [0, 0, 0, 1, 1, 1] and list(req) == [1.5] * 3 + [4.0] * 3
    for i, c in enumerate(cfgs):
        one = generate_calcium(tmp_path / f"p{i}.h5", c, progress=False).path
        with h5py.File(one) as f:
            np.testing.assert_array_equal(dff[3 * i : 3 * i + 3], f["dff"][()])
            for a, b in zip(times[3 * i : 3 * i + 3], f["spike_times_s"][()], strict=True):
                np.testing.assert_array_equal(a, b)
    assert not list(tmp_path.glob(".mix.part*"))
    with pytest.raises(ValueError, match="one frame rate and one duration"):
        generate_calcium_mixture(
            tmp_path / "bad.h5", [cfgs[0], CalciumDatasetConfig(cells=2, duration_s=10.0)]
        )
    assert not (tmp_path / "bad.h5").exists()


def test_a_file_at_another_rate_is_read_at_100hz(tmp_path):
    cfg = CalciumDatasetConfig(cells=2, duration_s=12.0, frame_rate_hz=25.0, seed=1)
    h5 = generate_calcium(tmp_path / "c25.h5", cfg, progress=False).path
    ds = TASK.load(h5, make_config(TASK.Config, {}))
    with h5py.File(h5) as f:
        times = f["spike_times_s"][()]
    assert all(len(c) == 1200 for c in ds["calcium"])
    for s, t in zip(ds["spikes"], times, strict=True):
        assert s.sum() == len(t)
        np.testing.assert_array_equal(np.flatnonzero(s), np.unique(np.floor(t * 100).astype(int)))
    assert ds.attrs["native_frame_rate_hz"] == 25.0


def test_noise_match_recovers_a_known_noise_level():
    """A 'recording' of synthetic cells at ν = 3 (30 Hz, resampled to 100 Hz, other spikes than
    the matching simulations') is matched within a factor of 2, the span of the training
    mixture around the match (measured: 1.9 here; 2.3 and 2.4 with the default 8 cells × 120 s:
    the statistic depends on the cells' rates as well as their noise)."""
    from neurolearn.infer import InferSettings, _synthetic_cells, match_noise, recording_noise

    s = InferSettings(indicator="gcamp6s", seed=11, match_cells=6, match_duration_s=60.0)
    rec = _synthetic_cells(3.0, 30.0, s, 8, 60.0)
    m = match_noise(recording_noise(rec), 30.0, InferSettings(indicator="gcamp6s", seed=0,
                                                               match_cells=6, match_duration_s=60.0))  # fmt: skip
    assert m["clipped"] == 0.0
    assert 1.5 <= m["nu"] <= 6.0, m
    assert m["achieved"] == pytest.approx(m["target"], rel=0.05)


def test_infer_spikes_errors(tmp_path):
    from neurolearn.infer import InferSettings, infer_spikes

    with pytest.raises(FileNotFoundError, match="does not exist"):
        infer_spikes(tmp_path / "9.test.calcium.csv", tmp_path / "o.csv", log=None)
    src = tmp_path / "9.test.calcium.csv"
    write_table(src, [np.r_[np.ones(300)], np.random.default_rng(0).normal(size=300)])
    with pytest.raises(ValueError, match="cell 0 is constant"):
        infer_spikes(src, tmp_path / "o.csv", cache=tmp_path / "c", log=None)
    with pytest.raises(ValueError, match="should end in .csv"):
        infer_spikes(src, tmp_path / "o.h5", log=None)
    with pytest.raises(ValueError, match="--native-rate must be in"):
        infer_spikes(src, tmp_path / "o.csv", InferSettings(native_rate=500.0), log=None)
    with pytest.raises(ValueError, match="no config preset 'huge'"):
        infer_spikes(src, tmp_path / "o.csv", InferSettings(config="huge"), log=None)
    assert not (tmp_path / "o.csv").exists() and not (tmp_path / "c").exists()


@pytest.mark.slow
def test_infer_spikes_end_to_end_and_cache(tmp_path):
    from neurolearn.infer import InferSettings, infer_spikes

    rec = generate_calcium(
        tmp_path / "r.h5",
        CalciumDatasetConfig(cells=3, duration_s=30.0, frame_rate_hz=30.0, seed=5),
        progress=False,
    ).path
    with h5py.File(rec) as f:
        dff, times = f["dff"][()], f["spike_times_s"][()]
    cells, spikes = to_100hz(dff, times, 30.0)
    cells[1] = cells[1][:2500]
    src = tmp_path / "3.test.calcium.csv"
    write_table(src, cells)
    s = InferSettings(cells_per_level=3, duration_s=30.0, config="small", overrides=dict(TINY),
                      match_cells=3, match_duration_s=30.0)  # fmt: skip
    lines = []
    rep = infer_spikes(src, tmp_path / "3.pred.csv", s, cache=tmp_path / "cache",
                       progress=False, log=lines.append)  # fmt: skip
    got = read_table(tmp_path / "3.pred.csv", interior_nan=True)
    assert [len(c) for c in got] == [len(c) for c in cells]
    assert all(np.isfinite(c).all() for c in got)
    assert 15.0 < rep["native_rate_hz"] <= 40.0  # 30 Hz, estimated from the spectrum
    assert json.loads((tmp_path / "3.pred.csv.json").read_text())["run"] == rep["run"]
    lines.clear()
    infer_spikes(src, tmp_path / "3.pred2.csv", s, cache=tmp_path / "cache", progress=False,
                 log=lines.append)  # fmt: skip
    assert any("(cached)" in ln and "model" in ln for ln in lines)
    np.testing.assert_array_equal(
        np.concatenate(read_table(tmp_path / "3.pred2.csv")), np.concatenate(got)
    )


def test_r_against_noise_figure_only_for_mixtures(tmp_path):
    cfg = make_config(TASK.Config, {})
    m = {"test": {"corr_25hz_nu1": 0.8, "corr_25hz_nu4": 0.5, "corr_25hz_mean": 0.65}}
    b = {"test_ridge": {"corr_25hz_nu1": 0.7, "corr_25hz_nu4": 0.3}}
    assert TASK.plot_metrics(tmp_path / "m.png", m, b, cfg) is True
    assert (tmp_path / "m.png").stat().st_size > 1000
    assert (
        TASK.plot_metrics(tmp_path / "n.png", {"test": {"corr_25hz_mean": 0.6}}, {}, cfg) is False
    )
    assert not (tmp_path / "n.png").exists()


def test_scores_per_noise_level_are_the_scores_of_those_cells():
    """score_cells' per-ν numbers equal the metric on each level's cells alone."""
    cfg = make_config(TASK.Config, {})
    rng = np.random.default_rng(0)
    truth = [rng.poisson(0.05, 2000).astype(float) for _ in range(6)]
    pred = [smooth_spikes(t, 2.0) + rng.normal(0, s, 2000) for t, s in
            zip(truth, (0.01, 0.02, 0.03, 0.05, 0.08, 0.1), strict=True)]  # fmt: skip
    nu = np.array([1.0, 1.0, 1.0, 4.0, 4.0, 4.0])
    out = TASK.score_cells(truth, pred, cfg, nu=nu)
    for v, cells in ((1.0, [0, 1, 2]), (4.0, [3, 4, 5])):
        ref = M.spikefinder_scores([truth[i] for i in cells], [pred[i] for i in cells])
        assert out[f"corr_25hz_nu{v:g}"] == pytest.approx(ref.mean)
        eb = [M.cascade_error_bias(truth[i], pred[i], sigma=20.0) for i in cells]
        assert out[f"cascade_error_nu{v:g}"] == pytest.approx(np.median([e for e, _ in eb]))
        assert out[f"cascade_bias_nu{v:g}"] == pytest.approx(np.median([b for _, b in eb]))
    assert out["corr_25hz_nu1"] > out["corr_25hz_nu4"]  # noisier predictions, lower r
    assert "cascade_error_nu1" not in TASK.score_cells(truth, pred, cfg, nu=np.ones(6))
