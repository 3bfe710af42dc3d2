"""The one atomic writer (neurosim.io.write_text_atomic), used by neurolearn and the benchmarks."""

from __future__ import annotations

import json

import pytest

from neurosim.io import write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    write_text_atomic(path, "old")
    assert path.read_text() == "old"

    class Boom(Exception):
        pass

    def fail(self, text):  # the temporary file is half written, then the write fails
        with open(self, "w") as f:
            f.write(text[:3])
        raise Boom

    monkeypatch.setattr(type(path), "write_text", fail)
    with pytest.raises(Boom):
        write_text_atomic(path, "new contents")
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_neurolearn_and_the_benchmarks_use_it(tmp_path):
    import sys
    from pathlib import Path

    from neurolearn import checkpoints

    assert checkpoints.write_text_atomic is write_text_atomic
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    try:
        from benchmarks import _harness
    finally:
        sys.path.pop(0)
    out = _harness.write_json(
        "t", {"environment": {"x": 1}, "rows": [1, 2]}, str(tmp_path / "b.json")
    )
    assert json.loads(out.read_text()) == {"environment": {"x": 1}, "rows": [1, 2]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]
