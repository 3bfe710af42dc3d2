"""Versions recorded with datasets and results: installed, source-tree and absent packages."""

import importlib.metadata

import neurosim
from neurosim import provenance


def test_package_versions_installed_source_tree_and_absent(monkeypatch):
    real = importlib.metadata.version

    def fake(name):
        if name == "neurosim":  # as when run with PYTHONPATH=. and never pip-installed
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", fake)
    v = provenance.package_versions(extra=("surely-not-a-package-xyz",))
    assert v["neurosim"] == f"{neurosim.__version__} (source tree)"
    assert v["surely-not-a-package-xyz"] == "not installed"
    assert v["numpy"] == real("numpy")
