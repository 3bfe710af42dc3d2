"""Progress bars without tqdm: a source tree run with PYTHONPATH=. on a machine that lacks tqdm
(the GPU image) still generates datasets, and the file is the one made with tqdm's bar."""

import sys

import h5py
import numpy as np

from neurosim.datasets import hh_voltage as hv
from neurosim.progress import SilentBar, progress_bar

SMALL = dict(n_train=4, n_test=1, duration_ms=20.0, test_duration_ms=20.0, seed=1)


def test_without_tqdm_the_bar_is_silent_and_the_dataset_is_the_same(tmp_path, monkeypatch, capsys):
    a = hv.generate_hh_voltage(tmp_path / "a.h5", hv.HHVoltageConfig(**SMALL), progress=True)
    assert not isinstance(progress_bar(total=3, disable=True), SilentBar)  # tqdm is installed
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    bar = progress_bar(total=10, initial=2, desc="x")
    assert isinstance(bar, SilentBar)
    bar.update(3)
    bar.set_postfix(loss="1")
    assert bar.n == 5
    capsys.readouterr()
    b = hv.generate_hh_voltage(tmp_path / "b.h5", hv.HHVoltageConfig(**SMALL), progress=True)
    assert capsys.readouterr().err == ""  # nothing drawn
    with h5py.File(a) as fa, h5py.File(b) as fb:
        for k in ("X", "Y", "X_test", "Y_test"):
            np.testing.assert_array_equal(fa[k][()], fb[k][()])
