"""neurolearn.data: readers, windows, leak-free splits, normalisation, batching."""

from __future__ import annotations

import warnings

import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurolearn.data import (
    ArraySource,
    ArraySpec,
    Batcher,
    LeakageWarning,
    Normalisation,
    Standardizer,
    WindowSource,
    check_no_overlap,
    concatenate_series,
    fits_on_device,
    prefetch,
    read_dataset,
    sliding_windows,
    split_blocks,
    split_groups,
    split_last,
    split_random,
    window_starts,
)


def create_sequences(signal, labels, window_size):
    """The LFP notebook's naive version (a Python loop), as the reference."""
    X, y = [], []
    for i in range(len(signal) - window_size):
        X.append(signal[i : i + window_size])
        y.append(labels[i + window_size])
    return np.array(X), np.array(y)


# ------------------------------------------------------------------------------ windows


def test_sliding_windows_is_a_view_equal_to_the_naive_loop():
    x = np.arange(50.0).reshape(25, 2)
    w = sliding_windows(x, 7)
    assert np.shares_memory(w, x)
    naive, _ = create_sequences(x, np.zeros(25), 7)
    np.testing.assert_array_equal(w[:-1], naive)  # the loop stops one early ("next" target)
    np.testing.assert_array_equal(sliding_windows(x, 7, stride=3), w[::3])
    with pytest.raises(ValueError, match="window"):
        sliding_windows(x, 30)


@pytest.mark.parametrize("target", ["next", "centre", "last", "sequence"])
@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_window_source_matches_naive_windows(target, backend):
    rng = np.random.default_rng(0)
    series = [rng.normal(size=(n, 2)).astype(np.float32) for n in (30, 9, 17)]
    labels = [rng.integers(0, 2, size=n) for n in (30, 9, 17)]
    window = 8
    x, offsets = concatenate_series(series)
    y, _ = concatenate_series(labels)
    sid, start = window_starts([len(s) for s in series], window, stride=1, target=target)
    src = WindowSource(
        {"x": x, "y": y, "starts": (offsets[sid] + start).astype(np.int32)}, window, target
    )
    arrays = src.arrays if backend == "numpy" else jax.device_put(src.arrays)
    idx = np.arange(len(src))
    got = src.fetch(arrays, idx if backend == "numpy" else jnp.asarray(idx))
    want_x, want_y = [], []
    for s, lab in zip(series, labels, strict=True):
        if target == "next":
            xs, ys = create_sequences(s, lab, window)
        else:
            xs = np.stack([s[i : i + window] for i in range(len(s) - window + 1)])
            off = {"centre": window // 2, "last": window - 1}.get(target)
            ys = (
                np.stack([lab[i : i + window] for i in range(len(s) - window + 1)])
                if off is None
                else np.array([lab[i + off] for i in range(len(s) - window + 1)])
            )
        want_x.append(xs)
        want_y.append(ys)
    np.testing.assert_array_equal(np.asarray(got["x"]), np.concatenate(want_x))
    np.testing.assert_array_equal(np.asarray(got["y"]), np.concatenate(want_y))


def test_window_starts_reports_when_nothing_fits():
    with pytest.raises(ValueError, match="no window of 10 frames"):
        window_starts([5, 9], 10)
    with pytest.raises(ValueError, match="target"):
        window_starts([50], 10, target="middle")


# ------------------------------------------------------------------------------ splits


def test_split_last_is_a_partition():
    s = split_last(20, 5, n_test=3)
    np.testing.assert_array_equal(np.concatenate([s.train, s.test, s.val]), np.arange(20))
    np.testing.assert_array_equal(s.val, np.arange(15, 20))
    with pytest.raises(ValueError, match="at least one"):
        split_last(5, 5)


def test_split_groups_never_shares_a_group():
    groups = np.repeat(np.arange(12), 7)
    s = split_groups(groups, key=jax.random.key(3), val_fraction=0.25, test_fraction=0.2)
    parts = [set(groups[p]) for p in (s.train, s.val, s.test)]
    assert all(not (a & b) for i, a in enumerate(parts) for b in parts[i + 1 :])
    assert sorted(np.concatenate([s.train, s.val, s.test])) == list(range(len(groups)))
    assert len(parts[1]) == 3 and len(parts[2]) == 2
    s2 = split_groups(groups, key=jax.random.key(3), val_fraction=0.25, test_fraction=0.2)
    np.testing.assert_array_equal(s.val, s2.val)  # same key, same split
    s3 = split_groups(groups, key=0, val_groups=[4, 5])
    assert set(groups[s3.val]) == {4, 5}
    with pytest.raises(ValueError, match="do not exist"):
        split_groups(groups, key=0, val_groups=[99])
    with pytest.raises(ValueError, match="more groups"):
        split_groups(np.zeros(10), key=0)


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(120, 400), min_size=1, max_size=3),
    window=st.integers(1, 10),
    target=st.sampled_from(["next", "centre", "sequence"]),
    seed=st.integers(0, 1000),
)
def test_split_blocks_leaves_a_gap_of_at_least_one_window(lengths, window, target, seed):
    sid, start = window_starts(lengths, window, target=target)
    span = window + (1 if target == "next" else 0)
    s = split_blocks(
        sid,
        start,
        span,
        lengths,
        key=seed,
        n_blocks=5,
        val_fraction=0.2,
        test_fraction=0.2 if len(lengths) > 1 else 0.0,
    )
    check_no_overlap(s, sid, start, span, gap=span)
    parts = np.concatenate([s.train, s.val, s.test])
    assert len(np.unique(parts)) == len(parts)  # disjoint
    assert len(parts) + s.details["dropped_windows"] == len(start)
    assert len(s.train) and len(s.val)


def test_split_blocks_rejects_a_gap_shorter_than_a_window():
    sid, start = window_starts([1000], 20)
    with pytest.raises(ValueError, match="at least one window"):
        split_blocks(sid, start, 20, [1000], key=0, gap=5)
    with pytest.raises(ValueError, match="too short"):
        split_blocks(sid, start, 20, [1000], key=0, n_blocks=40)


def test_random_split_of_overlapping_windows_warns_and_leaks():
    sid, start = window_starts([500], 20)
    with pytest.warns(LeakageWarning, match="optimistic"):
        s = split_random(len(start), key=1, val_fraction=0.2, overlapping=True)
    with pytest.raises(ValueError, match="within 0 frames of a training window"):
        check_no_overlap(s, sid, start, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        split_random(100, key=1, overlapping=False)  # independent rows: no warning


# ------------------------------------------------------------------------------ normalisation


def test_standardizer_fits_training_rows_only_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal([3.0, -2.0, 0.0], [2.0, 0.5, 0.0], size=(100, 50, 3))
    x[80:] += 10.0  # held-out rows differ: fitting on them would change the statistics
    st_train = Standardizer.fit(x[:80], unit="pA")
    np.testing.assert_allclose(st_train.mean, x[:80].reshape(-1, 3).mean(0))
    np.testing.assert_allclose(st_train.std[:2], x[:80].reshape(-1, 3).std(0)[:2])
    assert st_train.std[2] == 1.0  # a constant channel is only centred
    z = st_train.apply(x[:80], np.float64)
    np.testing.assert_allclose(z.reshape(-1, 3).mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(st_train.invert(z), x[:80], atol=1e-12)
    n = Normalisation(st_train, None, "train")
    n.save(tmp_path / "n.json")
    back = Normalisation.load(tmp_path / "n.json")
    np.testing.assert_array_equal(back.x.mean, st_train.mean)
    assert back.y is None and back.x.unit == "pA"
    with pytest.raises(ValueError, match="NaN"):
        Standardizer.fit(np.array([[1.0], [np.nan]]))


# ------------------------------------------------------------------------------ batching


def test_batcher_epochs_are_reproducible_permutations():
    b = Batcher(np.arange(10, 33), 5, key=jax.random.key(7))
    idx, w = b.epoch(0)
    assert idx.shape == w.shape == (5, 5)
    real = idx.ravel()[w.ravel() > 0]
    assert sorted(real) == list(range(10, 33))  # every example once
    assert w.sum() == 23
    idx2, _ = Batcher(np.arange(10, 33), 5, key=jax.random.key(7)).epoch(0)
    np.testing.assert_array_equal(idx, idx2)
    assert not np.array_equal(idx, b.epoch(1)[0])


def test_batcher_balances_classes_by_sampling():
    labels = np.r_[np.zeros(90, int), np.ones(10, int)]
    b = Batcher(np.arange(100), 16, key=0, balance=labels, epoch_size=64)
    for epoch in range(3):
        idx, w = b.epoch(epoch)
        drawn = idx.ravel()[w.ravel() > 0]
        assert len(drawn) == 64
        assert (labels[drawn] == 1).sum() == 32  # minority drawn with replacement
        assert len(np.unique(drawn[labels[drawn] == 0])) == 32  # majority without
    with pytest.raises(ValueError, match="two classes"):
        Batcher(np.arange(5), 2, key=0, balance=np.zeros(5))


def test_fits_on_device_and_prefetch():
    arrays = {"x": np.zeros((100, 10), np.float32)}
    assert fits_on_device(arrays, budget_bytes=4000)
    assert not fits_on_device(arrays, budget_bytes=3999)
    assert list(prefetch(lambda i: i * i, 5)) == [0, 1, 4, 9, 16]

    def bad(i):
        if i == 2:
            raise RuntimeError("boom")
        return i

    with pytest.raises(RuntimeError, match="boom"):
        list(prefetch(bad, 5))


def test_array_source_fetch_on_host_and_device():
    src = ArraySource({"x": np.arange(24.0).reshape(6, 4, 1), "y": np.arange(6)})
    got = src.fetch(jax.device_put(src.arrays), jnp.array([4, 1]))
    np.testing.assert_array_equal(np.asarray(got["x"]), src.arrays["x"][[4, 1]])
    assert src.min_length == 4 and len(src) == 6


# ------------------------------------------------------------------------------ readers


def _h5(path, arrays, **attrs):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


SCHEMA = {"X": ArraySpec(3, (1,), kind="f"), "Y": ArraySpec(1, kind="iu", binary=True, rows_as="X")}


def test_read_dataset_checks_what_it_reads(tmp_path):
    x = np.zeros((4, 10, 1), np.float32)
    good = _h5(tmp_path / "good.h5", {"X": x, "Y": np.array([0, 1, 1, 0])}, dataset="toy")
    ds = read_dataset(good, SCHEMA, dataset="toy")
    assert ds.name == "toy" and ds["X"].shape == (4, 10, 1)

    with pytest.raises(KeyError, match=r"missing array\(s\) \['Y'\]; it has \['X'\]"):
        read_dataset(_h5(tmp_path / "a.h5", {"X": x}, dataset="toy"), SCHEMA)
    with pytest.raises(ValueError, match="'X' should have 3 dimensions"):
        read_dataset(_h5(tmp_path / "b.h5", {"X": x[..., 0], "Y": np.zeros(4, int)}), SCHEMA)
    with pytest.raises(ValueError, match=r"should end in shape \(1\)"):
        read_dataset(
            _h5(tmp_path / "c.h5", {"X": np.zeros((4, 10, 2)), "Y": np.zeros(4, int)}), SCHEMA
        )
    xn = x.copy()
    xn[2, 7, 0] = np.nan
    with pytest.raises(ValueError, match=r"'X' has 1 NaN.*index \(2, 7, 0\)"):
        read_dataset(_h5(tmp_path / "d.h5", {"X": xn, "Y": np.zeros(4, int)}), SCHEMA)
    with pytest.raises(ValueError, match=r"must be 0 or 1, got \[2\]"):
        read_dataset(_h5(tmp_path / "e.h5", {"X": x, "Y": np.array([0, 2, 1, 0])}), SCHEMA)
    with pytest.raises(ValueError, match="'Y' has 3 rows but 'X' has 4"):
        read_dataset(_h5(tmp_path / "f.h5", {"X": x, "Y": np.array([0, 1, 0])}), SCHEMA)
    with pytest.raises(ValueError, match="should be float"):
        read_dataset(_h5(tmp_path / "g.h5", {"X": x.astype(int), "Y": np.zeros(4, int)}), SCHEMA)
    with pytest.raises(ValueError, match="is a 'toy' dataset, expected 'hh-voltage'"):
        read_dataset(good, SCHEMA, dataset="hh-voltage")
    with pytest.raises(FileNotFoundError):
        read_dataset(tmp_path / "missing.h5", SCHEMA)
    with pytest.raises(ValueError, match="unknown file type"):
        read_dataset(tmp_path / "x.npz")


def test_read_dataset_reads_spikefinder_through_the_same_interface(spikefinder_dir):
    ds = read_dataset(
        spikefinder_dir / "4.train.calcium.csv.gz",
        {"calcium": ArraySpec(1, ragged=True), "spikes": ArraySpec(1, ragged=True)},
        dataset="spikefinder",
    )
    assert len(ds["calcium"]) == 6 and ds.attrs["frame_rate"] == 100.0
    assert all(len(c) == len(s) for c, s in zip(ds["calcium"], ds["spikes"], strict=True))
