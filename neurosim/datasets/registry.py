"""The registry of datasets that ``neurosim generate`` can write.

Each dataset module calls :func:`register` with a :class:`DatasetSpec`; the CLI builds one
``generate`` sub-command per spec and ``neurosim datasets`` lists them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the CLI can generate.

    Attributes:
        name: the sub-command name (``neurosim generate NAME``).
        description: one line for ``neurosim datasets`` and ``--help``.
        add_arguments: adds the dataset's options to an ``argparse`` parser.
        generate: ``generate(args) -> Path`` writes the dataset and returns its path.
        plot: optional ``plot(path, out_png, **options) -> Path`` for ``neurosim plot``.
        multiprocess: under several JAX processes (``--distributed``) each process writes its
            own shard of the rows (``neurosim join-shards`` joins them); False: the generator
            refuses to run on several processes.
        single_process: why the dataset cannot be split between processes (with
            ``multiprocess=False``): the ``--distributed`` error says it.
        summarise: ``summarise(h5py.File) -> dict`` recomputes the summary attributes that a
            shard holds over its own rows (``shard.summary``) over a joined file; None: the
            dataset's shards have none.
    """

    name: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    generate: Callable[[argparse.Namespace], Path]
    plot: Callable[..., Path] | None = None
    multiprocess: bool = False
    single_process: str = ""
    summarise: Callable[..., dict] | None = None


_REGISTRY: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"dataset {spec.name!r} is registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> DatasetSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def all_datasets() -> dict[str, DatasetSpec]:
    return dict(sorted(_REGISTRY.items()))
