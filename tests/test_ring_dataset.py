"""The ring-counts dataset: CLI, contents, resumption, errors, plot."""

from __future__ import annotations

import h5py
import jax
import numpy as np
import pytest

from neurosim.cli import main
from neurosim.datasets import ring_counts
from neurosim.io import read_h5
from neurosim.ring import ring_params, simulate_ring

ARGS = [
    "generate",
    "ring-counts",
    "--trials",
    "3",
    "--duration-ms",
    "200",
    "--bin-ms",
    "10",
    "--preset",
    "fig1",
    "--seed",
    "5",
    "--no-progress",
    "--batch-size",
    "2",
]


def test_cli_writes_counts_external_axes_and_attrs(tmp_path):
    out = tmp_path / "ring.h5"
    assert main(ARGS + ["--out", str(out)]) == 0
    arrays, attrs = read_h5(out)
    assert arrays["counts"].shape == (3, 20, 600) and arrays["counts"].dtype == np.int16
    assert arrays["external"].shape == (3, 20, 600) and arrays["external"].dtype == np.float32
    np.testing.assert_array_equal(arrays["time_ms"], np.arange(20) * 10.0)
    np.testing.assert_array_equal(arrays["cell_type"], np.repeat([0, 1], 300))
    np.testing.assert_array_equal(arrays["position"], np.tile(np.arange(300), 2))
    assert attrs["dataset"] == "ring-counts" and attrs["seed"] == 5 and attrs["preset"] == "fig1"
    assert attrs["param.s_EE"] == 0.016 and attrs["param.rate_ext_per_ms"] == 0.65
    assert attrs["bin_ms"] == 10.0 and attrs["duration_ms"] == 200.0 and "jax" in attrs["versions"]
    # the same trials as the library call with that seed
    r = simulate_ring(
        ring_params("fig1"), key=jax.random.key(5), n_trials=3, duration_ms=200.0, external=True
    )
    np.testing.assert_array_equal(arrays["counts"], r.counts)
    np.testing.assert_array_equal(arrays["external"], r.external)
    # external input = event count × f (f_E = 0.07, f_I = 0.06), ≈ λ·bin events per cell
    ev = arrays["external"] / np.repeat([0.07, 0.06], 300)
    np.testing.assert_allclose(ev, np.round(ev), atol=1e-4)
    assert ev.mean() == pytest.approx(0.65 * 10, rel=0.02)


def test_interrupted_run_resumes_to_the_same_file(tmp_path, monkeypatch):
    full = tmp_path / "full.h5"
    assert main(ARGS + ["--out", str(full)]) == 0
    out = tmp_path / "cut.h5"
    real = ring_counts.simulate_ring
    calls = []

    def flaky(*a, **kw):
        calls.append(kw["trial_offset"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(ring_counts, "simulate_ring", flaky)
    assert main(ARGS + ["--out", str(out)]) == 130
    assert not out.exists() and (tmp_path / "cut.h5.partial").exists()
    monkeypatch.setattr(
        ring_counts,
        "simulate_ring",
        lambda *a, **kw: (calls.append(kw["trial_offset"]), real(*a, **kw))[1],
    )
    assert main(ARGS + ["--out", str(out)]) == 0
    assert calls == [0, 2, 2]  # resumed at trial 2, trials 0-1 were not redone
    a, _ = read_h5(full)
    b, _ = read_h5(out)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_bad_input_and_existing_file_lose_nothing(tmp_path, capsys):
    out = tmp_path / "x.h5"
    assert main(ARGS[:4] + ["--bin-ms", "0.07", "--out", str(out), "--no-progress"]) == 2
    assert (
        "bin_ms = 0.07 ms must be a positive whole multiple of dt = 0.05 ms"
        in capsys.readouterr().err
    )
    assert not out.exists() and not (tmp_path / "x.h5.partial").exists()
    assert (
        main(
            [
                "generate",
                "ring-counts",
                "--trials",
                "1",
                "--param",
                "rate_ext_per_ms=-1",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "rate_ext_per_ms" in capsys.readouterr().err
    out.write_bytes(b"keep")
    assert main(ARGS + ["--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == b"keep"


def test_param_overrides_and_plot(tmp_path):
    out = tmp_path / "r.h5"
    assert (
        main(
            [
                "generate",
                "ring-counts",
                "--trials",
                "1",
                "--duration-ms",
                "100",
                "--preset",
                "fig3",
                "--ss",
                "0.03",
                "--param",
                "rho=0.2",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with h5py.File(out) as f:
        assert (
            f.attrs["param.s_EE"] == 0.03
            and f.attrs["param.rho"] == 0.2
            and f.attrs["preset"] == "fig3"
        )
    png = tmp_path / "r.png"
    assert main(["plot", str(out), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


@pytest.mark.parametrize(
    "param, message",
    [
        ("n_per_type=10.5", "value of 'n_per_type' must be an integer, got '10.5'"),
        ("synaptic=0.5", "value of 'synaptic' must be 0, 1, true or false, got '0.5'"),
        ("synaptic=yes", "value of 'synaptic' must be 0, 1, true or false, got 'yes'"),
    ],
)
def test_param_of_the_wrong_kind_is_refused(tmp_path, capsys, param, message):
    out = tmp_path / "r.h5"
    with pytest.raises(SystemExit) as e:
        main(["generate", "ring-counts", "--trials", "1", "--param", param, "--out", str(out)])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "r.h5.partial").exists()


def test_integer_and_boolean_params_are_parsed(tmp_path):
    out = tmp_path / "r.h5"
    args = ["generate", "ring-counts", "--trials", "1", "--duration-ms", "50", "--no-progress"]
    params = ["--param", "n_per_type=1e1", "--param", "synaptic=TRUE"]
    assert main(args + params + ["--out", str(out)]) == 0
    arrays, attrs = read_h5(out)
    assert attrs["param.n_per_type"] == 10 and attrs["param.synaptic"] == True  # noqa: E712
    assert arrays["counts"].shape == (1, 5, 20)


def test_progress_is_recorded_once_both_arrays_are_written(tmp_path, monkeypatch):
    """An interruption must never leave counts recorded as done without their external input."""
    from neurosim.io import ChunkedH5Writer

    seen = []
    real = ChunkedH5Writer.save_state

    def spy(self):
        if "counts" in self.f:
            seen.append((self.rows_done("counts"), self.rows_done("external")))
        return real(self)

    monkeypatch.setattr(ChunkedH5Writer, "save_state", spy)
    assert main(ARGS + ["--out", str(tmp_path / "r.h5")]) == 0
    assert seen and all(c == e for c, e in seen), seen
    assert seen[-1] == (3, 3)


def test_python_api_refuses_unknown_fields_and_params_with_overrides(tmp_path):
    out = tmp_path / "r.h5"
    with pytest.raises(ValueError, match="bogus"):
        ring_counts.generate_ring_counts(out, n_trials=1, bogus=3)
    with pytest.raises(ValueError, match="n_trials"):
        ring_counts.generate_ring_counts(out)
    with pytest.raises(ValueError, match="either params or ss/overrides"):
        ring_counts.generate_ring_counts(
            out, ring_params("fig1"), n_trials=1, overrides=(("rho", 0.1),)
        )
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        ring_counts.generate_ring_counts(out, n_trials=1, batch_size=0)
    assert not out.exists() and not (tmp_path / "r.h5.partial").exists()
