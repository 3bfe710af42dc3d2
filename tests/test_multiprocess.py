"""Several JAX processes (jax.distributed on loopback) generate one dataset together.

(Default suite: the shards written in this process with ``process=(i, n)`` join into the
single-process file; slow: two real processes.)

Two processes, started here with ``JAX_COORDINATOR_ADDRESS=127.0.0.1:PORT``,
``JAX_NUM_PROCESSES=2`` and ``JAX_PROCESS_ID=0/1``, run ``neurosim generate ring-counts
--distributed`` (and ``calcium``); each writes its shard, ``neurosim join-shards`` joins them, and
the joined file equals, array by array and attribute by attribute, the file this one process
writes (calcium: its summary attributes, which differ per shard, computed again over all cells).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from neurosim.cli import main
from neurosim.datasets.calcium import CalciumDatasetConfig, generate_calcium
from neurosim.datasets.ring_counts import generate_ring_counts
from neurosim.io import join_shards, shard_path, shard_rows
from neurosim.ring import ring_params

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["generate", "ring-counts", "--trials", "21", "--duration-ms", "100", "--param",
        "n_per_type=40", "--seed", "7", "--batch-size", "8", "--no-progress"]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(d: Path, args: list[str], out: str) -> list[str]:
    """Run ``neurosim ARGS --out d/OUT --distributed`` as processes 0 and 1 of 2; their stderr."""
    port = _free_port()
    procs = []
    for i in range(2):
        env = {
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "PYTHONPATH": str(ROOT),
            "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}",
            "JAX_NUM_PROCESSES": "2",
            "JAX_PROCESS_ID": str(i),
        }
        env.pop("XLA_FLAGS", None)
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "neurosim",
                    *args,
                    "--out",
                    str(d / out),
                    "--distributed",
                    "--devices",
                    "2",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
    errs = []
    try:
        for p in procs:
            errs.append(p.communicate(timeout=300)[1])
    finally:
        for p in procs:  # one failed or hung: do not leave the other waiting for it
            if p.poll() is None:
                p.kill()
                p.communicate()
    for p, err in zip(procs, errs, strict=True):
        assert p.returncode == 0, err[-3000:]
    return errs


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("mp")
    return d, _two_processes(d, ARGS, "ring.h5")


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The file one process writes for ARGS."""
    one = tmp_path_factory.mktemp("one") / "one.h5"
    assert main([*ARGS, "--out", str(one), "--devices", "1"]) == 0
    return one


def _same_file(a: Path, b: Path) -> None:
    with h5py.File(a) as fa, h5py.File(b) as fb:
        assert sorted(fa) == sorted(fb)
        for k in fb:
            assert fa[k].dtype == fb[k].dtype and fa[k].chunks == fb[k].chunks, k
            assert fa[k].shape == fb[k].shape, k
            if h5py.check_vlen_dtype(fb[k].dtype) is not None:  # one array per row
                for x, y in zip(fa[k][()], fb[k][()], strict=True):
                    np.testing.assert_array_equal(x, y, err_msg=k)
            else:
                np.testing.assert_array_equal(fa[k][()], fb[k][()], err_msg=k)
        assert set(fa.attrs) == set(fb.attrs)
        for k in fb.attrs:
            if k != "created_utc":
                assert str(fa.attrs[k]) == str(fb.attrs[k]), k


@pytest.fixture(scope="module")
def local_shards(tmp_path_factory):
    """Shards 0 and 1 of 2 written by this process (process=(i, 2)), as two processes would."""
    d = tmp_path_factory.mktemp("local")
    params = ring_params("fig1", n_per_type=40)
    for i in range(2):
        generate_ring_counts(
            d / "ring.h5", params, n_trials=21, duration_ms=100.0, seed=7, batch_size=8,
            progress=False, process=(i, 2),
        )  # fmt: skip
    return d


@pytest.mark.slow
def test_shards_join_into_the_single_process_file(local_shards, single):
    parts = [shard_path(local_shards / "ring.h5", i, 2) for i in range(2)]
    assert [p.name for p in parts] == [
        "ring.shard-00000-of-00002.h5",
        "ring.shard-00001-of-00002.h5",
    ]
    assert main(["join-shards", str(local_shards / "ring.h5")]) == 0
    _same_file(local_shards / "ring.h5", single)
    with h5py.File(single) as f:
        assert f["counts"][()].sum() > 100
    assert main(["join-shards", str(local_shards / "ring.h5"), *map(str, parts)]) == 2  # exists


@pytest.mark.slow
def test_two_processes_write_shards_that_join_into_the_single_process_file(shards, single):
    d, errs = shards
    assert "process 0 of 2" in errs[0] and "process 1 of 2" in errs[1]
    parts = [shard_path(d / "ring.h5", i, 2) for i in range(2)]
    assert all(p.is_file() for p in parts) and not (d / "ring.h5").exists()
    with h5py.File(parts[0]) as a, h5py.File(parts[1]) as b:
        assert a["counts"].shape[0] == 11 and b["counts"].shape[0] == 10  # trials 0-10, 11-20
    assert main(["join-shards", str(d / "ring.h5")]) == 0
    _same_file(d / "ring.h5", single)


# ------------------------------------------------------------------------------------ calcium

# 50 cells in chunks of 10 (one shape to compile): 5 chunks; 3 shards get chunks 0-1, 2-3, 4
# (cells 0-19, 20-39, 40-49); neuropil on, so the shared trace (an array outside the rows) is
# compared too
CALCIUM = CalciumDatasetConfig(
    cells=50, chunk=10, duration_s=5.0, frame_rate_hz=30.0, neuropil=0.3, seed=3
)
CALCIUM_ARGS = ["generate", "calcium", "--cells", "50", "--chunk", "10", "--duration-s", "5",
                "--frame-rate", "30", "--neuropil", "0.3", "--seed", "3", "--no-progress"]  # fmt: skip


@pytest.mark.slow
def test_calcium_shards_on_chunk_boundaries_join_into_the_single_process_file(tmp_path):
    from neurosim.io import SHARD_ATTR
    from neurosim.provenance import read_attrs

    one = tmp_path / "one.h5"
    assert main([*CALCIUM_ARGS, "--out", str(one), "--devices", "1"]) == 0
    with h5py.File(one) as f:  # the statistics are over all 50 cells
        assert f.attrs["spikes_total"] == f["spikes"][()].astype(np.int64).sum() > 100
        assert f.attrs["noise_level_median"] == np.median(f["noise_level"][()])
    rows = []
    for i in range(3):
        g = generate_calcium(tmp_path / "cal.h5", CALCIUM, progress=False, process=(i, 3))
        assert g.path == shard_path(tmp_path / "cal.h5", i, 3)
        with h5py.File(g.path) as f:
            a = read_attrs(f)
            rows.append(a[SHARD_ATTR]["rows"])
            assert a["spikes_total"] == int(f["spikes"][()].astype(np.int64).sum())  # its own
    assert rows == [[0, 20], [20, 40], [40, 50]]
    _same_file(join_shards(tmp_path / "cal.h5"), one)
    # 5 chunks, 7 processes: the last two shards hold no cells (and no statistics)
    for i in range(7):
        g = generate_calcium(tmp_path / "c7.h5", CALCIUM, progress=False, process=(i, 7))
        assert (g.summary == {}) == (i >= 5)
    _same_file(join_shards(tmp_path / "c7.h5"), one)
    with pytest.raises(ValueError, match="spikefinder is one folder .* cannot be written by 2"):
        generate_calcium(tmp_path / "sf", CALCIUM, fmt="spikefinder", process=(0, 2))
    assert not (tmp_path / "sf").exists()


@pytest.mark.slow
def test_two_processes_write_calcium_shards_that_join_into_the_single_process_file(tmp_path):
    errs = _two_processes(tmp_path, CALCIUM_ARGS, "cal.h5")
    assert "process 0 of 2" in errs[0] and "process 1 of 2" in errs[1]
    parts = [shard_path(tmp_path / "cal.h5", i, 2) for i in range(2)]
    with h5py.File(parts[0]) as a, h5py.File(parts[1]) as b:  # chunks 0-2 and 3-4
        assert a["dff"].shape[0] == 30 and b["dff"].shape[0] == 20
    assert main(["join-shards", str(tmp_path / "cal.h5")]) == 0
    one = tmp_path / "one.h5"
    assert main([*CALCIUM_ARGS, "--out", str(one), "--devices", "1"]) == 0
    _same_file(tmp_path / "cal.h5", one)


@pytest.mark.slow
def test_join_refuses_missing_foreign_or_repeated_shards(local_shards, tmp_path):
    d = local_shards
    parts = [shard_path(d / "ring.h5", i, 2) for i in range(2)]
    with pytest.raises(
        ValueError, match=r"need shards 0\.\.1 exactly once, got \[0\] \(missing \[1\]\)"
    ):
        join_shards(tmp_path / "x.h5", [parts[0]])
    with pytest.raises(ValueError, match="exactly once, got \\[0, 0\\]"):
        join_shards(tmp_path / "x.h5", [parts[0], parts[0]])
    other = tmp_path / "other.h5"
    assert main([*ARGS[:-1], "--seed", "8", "--out", str(other), "--no-progress"]) == 0
    with pytest.raises(ValueError, match="is not a shard file"):
        join_shards(tmp_path / "x.h5", [parts[0], other])
    assert not (tmp_path / "x.h5").exists()
    with pytest.raises(FileNotFoundError, match="no shard files"):
        join_shards(tmp_path / "nothing.h5")


def test_shard_rows_cover_every_row_once():
    for n in (1, 5, 21, 64):
        for count in (1, 2, 3, 7):
            for block in (1, 4, 10):
                edges = [shard_rows(n, i, count, block=block) for i in range(count)]
                assert edges[0][0] == 0 and edges[-1][1] == n
                assert all(edges[i][1] == edges[i + 1][0] for i in range(count - 1))
                # every boundary inside the rows is a block boundary
                assert all(lo % block == 0 for lo, hi in edges if lo < n)
                blocks = [-(-(hi - lo) // block) for lo, hi in edges]
                assert max(blocks) - min(blocks) <= 1
                if block == 1:
                    sizes = [hi - lo for lo, hi in edges]
                    assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError, match="block must be a positive integer, got 0"):
        shard_rows(5, 0, 2, block=0)


def test_generators_without_shards_refuse_several_processes(tmp_path, capsys):
    # hh-voltage and lfp have no shards (docs/scaling.md says why)
    code = main(["generate", "hh-voltage", "--n-train", "2", "--out", str(tmp_path / "h.h5"),
                 "--distributed"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert (
        "hh-voltage cannot be generated by several processes (--distributed): it keeps the "
        "first spike-free candidate traces in one global order"
    ) in err
    code = main(["generate", "lfp", "--out", str(tmp_path / "l.h5"), "--distributed"])
    assert code == 2
    assert "lfp cannot be generated by several processes (--distributed): it is one recording" in (
        capsys.readouterr().err
    )
    assert not list(tmp_path.iterdir())
    env_keys = ("JAX_COORDINATOR_ADDRESS", "SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE")
    if not any(k in os.environ for k in env_keys):
        code = main([*ARGS, "--out", str(tmp_path / "r.h5"), "--distributed"])
        assert code == 2
        assert "several processes need JAX_COORDINATOR_ADDRESS" in capsys.readouterr().err


def test_the_commands_in_docs_scaling_parse():
    """Every `neurosim` command in docs/scaling.md's shell blocks is one the CLI accepts."""
    import shlex

    from neurosim.cli import build_parser

    text = (ROOT / "docs" / "scaling.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```bash\n")[1:]]
    commands = []
    for block in blocks:
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            while words and ("=" in words[0] or words[0] in ("srun", "export")):
                words = words[1:]
            if words and words[0] == "neurosim":
                commands.append([w for w in words[1:] if w != "&"])
    assert len(commands) >= 6
    parser = build_parser()
    for argv in commands:
        args = parser.parse_args(argv)
        assert args.func is not None
