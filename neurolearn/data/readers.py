"""One interface to every dataset neurolearn trains on: neurosim HDF5 files, Spikefinder CSVs and
LFP CSVs (columns ``time,lfp,spike``, as ``neurosim generate lfp --out FILE.csv`` writes).

A task declares what it needs as a *schema* (``{array name: ArraySpec}``); :func:`read_dataset`
reads the file through the documented formats (:func:`neurosim.io.read_h5`,
:func:`neurosim.spikefinder.read_recording`), checks every array against the schema (presence,
number of dimensions, trailing sizes, dtype, matching rows, finite values, 0/1 labels) and the
file's ``dataset`` attribute, and says exactly what is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ArraySpec",
    "Dataset",
    "read_dataset",
    "validate_arrays",
    "is_spikefinder_path",
    "is_lfp_csv",
    "dataset_name",
    "frame_rate_of",
    "LFP_CSV_COLUMNS",
]

LFP_CSV_COLUMNS = ("time", "lfp", "spike")


@dataclass(frozen=True)
class ArraySpec:
    """What one array of a dataset must look like.

    Attributes:
        ndim: number of dimensions (for a ragged array: of each item).
        trailing: required sizes of the last dimensions (``None`` = any), e.g. ``(1,)`` for a
            single channel.
        kind: allowed NumPy dtype kinds: ``"f"`` float, ``"i"`` signed/unsigned int, ``"b"``
            bool; ``"fiub"`` accepts any real number.
        rows_as: another array that must have the same first dimension.
        finite: reject NaN and infinity.
        binary: values must be 0 or 1 (classification labels).
        ragged: a list of arrays of different lengths (one per cell), not one array.
        optional: the array may be absent.
        unit: the physical unit (for messages and docs).
    """

    ndim: int
    trailing: tuple[int | None, ...] = ()
    kind: str = "fiu"
    rows_as: str | None = None
    finite: bool = True
    binary: bool = False
    ragged: bool = False
    optional: bool = False
    unit: str = ""


@dataclass
class Dataset:
    """Arrays and attributes read from one file.

    Attributes:
        arrays: ``{name: array}``; ragged arrays are lists of 1-D (or n-D) arrays.
        attrs: the file's attributes (parameters, seed, versions, ``dataset``).
        source: the path it was read from.
    """

    arrays: dict[str, Any]
    attrs: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def name(self) -> str | None:
        """The ``dataset`` attribute (e.g. ``"hh-voltage"``), or None."""
        value = self.attrs.get("dataset")
        return None if value is None else str(value)

    def __getitem__(self, key: str):
        return self.arrays[key]


def is_spikefinder_path(path: str | os.PathLike) -> bool:
    """True for names like ``N.train.calcium.csv`` / ``.csv.gz`` (the Spikefinder layout)."""
    name = Path(path).name.lower()
    return name.endswith((".csv", ".csv.gz"))


def _csv_header(path: Path) -> tuple[str, ...] | None:
    """The column names on the first line of a CSV (``.gz`` too), or None if unreadable."""
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", newline="") as f:
            line = f.readline()
    except (OSError, UnicodeDecodeError, EOFError):
        return None
    return tuple(c.strip() for c in line.strip().split(","))


def is_lfp_csv(path: str | os.PathLike) -> bool:
    """True for an existing CSV whose header is ``time,lfp,spike`` (an LFP recording, the layout
    of ``neurosim generate lfp --out FILE.csv``); reads the first line only."""
    path = Path(path)
    return is_spikefinder_path(path) and path.is_file() and _csv_header(path) == LFP_CSV_COLUMNS


def _is_h5_path(path: Path) -> bool:
    return path.suffix.lower() in (".h5", ".hdf5")


def _unreadable_h5(path: Path, error: OSError) -> ValueError:
    return ValueError(
        f"{str(path)!r} is not a readable HDF5 file ({error}); is it damaged, truncated or "
        "still being written?"
    )


def dataset_name(path: str | os.PathLike) -> str | None:
    """The ``dataset`` attribute of an HDF5 file (``"lfp"`` for a CSV whose header is
    ``time,lfp,spike``, ``"spikefinder"`` for any other CSV; None if the file does not exist,
    has no such attribute, or is not an HDF5 file by name); reads no arrays.

    Raises:
        ValueError: an ``.h5``/``.hdf5`` file that HDF5 cannot open (damaged, truncated).
    """
    path = Path(path)
    if is_spikefinder_path(path):
        return "lfp" if is_lfp_csv(path) else "spikefinder"
    if not path.exists():
        return None
    try:
        import h5py

        with h5py.File(path, "r") as f:
            value = f.attrs.get("dataset")
    except OSError as e:
        if _is_h5_path(path):
            raise _unreadable_h5(path, e) from None
        return None
    if isinstance(value, bytes):
        value = value.decode()
    return None if value is None else str(value)


_RATE_KEYS = ("config.sample_rate_hz", "frame_rate", "config.frame_rate")
_INTERVAL_MS_KEYS = ("config.sample_ms", "dt_sample_ms", "sample_ms", "bin_ms")


def frame_rate_of(attrs: dict[str, Any]) -> float | None:
    """Frames per second recorded in a dataset's attributes (None: not recorded)."""
    for k in _RATE_KEYS:
        if k in attrs:
            return float(attrs[k])
    for k in _INTERVAL_MS_KEYS:
        if k in attrs:
            return 1000.0 / float(attrs[k])
    return None


def _describe(a) -> str:
    return f"shape {tuple(a.shape)}, dtype {a.dtype}"


def _check_one(
    name: str, a: np.ndarray, spec: ArraySpec, where: str, source: str, purpose: str = "training"
) -> None:
    if a.ndim != spec.ndim:
        raise ValueError(
            f"{source}: array {name!r}{where} should have {spec.ndim} dimensions, "
            f"got {_describe(a)}"
        )
    if spec.trailing:
        got = a.shape[a.ndim - len(spec.trailing) :]
        for want, have in zip(spec.trailing, got, strict=True):
            if want is not None and want != have:
                shape = ", ".join("*" if w is None else str(w) for w in spec.trailing)
                raise ValueError(
                    f"{source}: array {name!r}{where} should end in shape ({shape}), "
                    f"got {_describe(a)}"
                )
    if a.dtype.kind not in spec.kind:
        kinds = {"f": "float", "i": "integer", "u": "unsigned integer", "b": "bool"}
        allowed = "/".join(kinds[k] for k in spec.kind if k in kinds)
        raise ValueError(f"{source}: array {name!r}{where} should be {allowed}, got {_describe(a)}")
    if spec.finite and a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{source}: array {name!r}{where} has {int(bad.sum())} NaN/infinite value(s), "
                f"the first at index {first}; remove or fill them before {purpose}"
            )
    if spec.binary:
        bad = ~np.isin(a, (0, 1))
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            values = np.unique(a[bad])[:5].tolist()
            raise ValueError(
                f"{source}: array {name!r}{where} holds class labels and must be 0 or 1, got "
                f"{values} (first at index {first})"
            )


def validate_arrays(
    arrays: dict[str, Any],
    schema: dict[str, ArraySpec],
    *,
    source: str,
    purpose: str = "training",
) -> None:
    """Check ``arrays`` against ``schema``; raise ValueError/KeyError naming the first problem.

    ``purpose`` (e.g. ``"training"``, ``"prediction"``) completes the advice of the NaN message.
    """
    missing = [k for k, s in schema.items() if k not in arrays and not s.optional]
    if missing:
        raise KeyError(
            f"{source}: missing array(s) {missing}; it has {sorted(arrays)} "
            f"(expected {sorted(schema)})"
        )
    for name, spec in schema.items():
        if name not in arrays:
            continue
        value = arrays[name]
        if spec.ragged:
            if not isinstance(value, (list, tuple)) or not value:
                raise ValueError(f"{source}: {name!r} should be a non-empty list of arrays")
            for i, item in enumerate(value):
                _check_one(name, np.asarray(item), spec, f" (item {i})", source, purpose)
        else:
            _check_one(name, np.asarray(value), spec, "", source, purpose)
    for name, spec in schema.items():
        if name in arrays and spec.rows_as and spec.rows_as in arrays:
            n, m = len(arrays[name]), len(arrays[spec.rows_as])
            if n != m:
                raise ValueError(
                    f"{source}: {name!r} has {n} rows but {spec.rows_as!r} has {m}; they must match"
                )


def _check_kind(path: Path, name: str | None, allowed: tuple[str, ...]) -> None:
    if name in allowed:
        return
    want = " or ".join(map(repr, allowed))
    got = (
        "has no 'dataset' attribute (it was not written by neurosim)"
        if name is None
        else f"is a {name!r} dataset"
    )
    hint = (
        ""
        if allowed[0] == "spikefinder"
        else (f"; make one with `neurosim generate {allowed[0]} --help`")
    )
    raise ValueError(f"{str(path)!r} {got}, expected {want}{hint}")


def read_dataset(
    path: str | os.PathLike,
    schema: dict[str, ArraySpec] | None = None,
    *,
    dataset: str | tuple[str, ...] | None = None,
    frame_rate: float = 100.0,
    purpose: str = "training",
) -> Dataset:
    """Read a neurosim HDF5 dataset or a Spikefinder-layout recording, and check it.

    Args:
        path: ``*.h5`` / ``*.hdf5`` (neurosim datasets), an LFP CSV (header ``time,lfp,spike``;
            arrays ``time_s``, ``lfp``, ``spike``, attrs ``dataset = "lfp"``, ``format =
            "csv"`` and ``config.sample_rate_hz`` from the time column) or
            ``N.{train,test}.calcium.csv[.gz]`` (Spikefinder layout; the spikes file beside it
            is read when present; arrays ``calcium`` and ``spikes`` are lists, one array per
            cell, attrs ``dataset = "spikefinder"`` and ``frame_rate``).
        schema: the arrays the caller needs (others in the file are not read).
        dataset: the allowed value(s) of the file's ``dataset`` attribute.
        frame_rate: frame rate of a Spikefinder file (Hz); HDF5 files carry their own.
        purpose: what the data is for, in messages (``"training"``, ``"prediction"``).

    Raises:
        FileNotFoundError: no such file.
        KeyError: a required array is missing (the message lists those present).
        ValueError: wrong dataset kind, shape, dtype, NaN, non-0/1 labels, mismatched rows; an
            HDF5 file that cannot be opened.
    """
    path = Path(path)
    allowed = None
    if dataset is not None:
        allowed = (dataset,) if isinstance(dataset, str) else tuple(dataset)
        if path.exists():  # the kind of dataset first: a clearer message than a missing array
            _check_kind(path, dataset_name(path), allowed)
    gz = path.name.lower().endswith(".gz")
    suffix = "".join(path.suffixes[-2:]).lower() if gz else path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        from neurosim.io import read_h5

        keys = None
        if schema is not None:
            import h5py

            if not path.exists():
                read_h5(path)  # raises the documented FileNotFoundError
            try:
                with h5py.File(path, "r") as f:
                    present = set(f.keys())
            except OSError as e:
                raise _unreadable_h5(path, e) from None
            keys = tuple(k for k, s in schema.items() if not (s.optional and k not in present))
            missing = [k for k in keys if k not in present]
            if missing:
                raise KeyError(
                    f"{str(path)!r}: missing array(s) {missing}; it has {sorted(present)} "
                    f"(expected {sorted(schema)})"
                )
        try:
            arrays, attrs = read_h5(path, keys)
        except (FileNotFoundError, KeyError):
            raise
        except OSError as e:
            raise _unreadable_h5(path, e) from None
    elif is_lfp_csv(path):
        from neurosim.datasets.lfp import load_lfp_csv

        time_s, lfp, spike = load_lfp_csv(path)
        arrays = {"time_s": time_s, "lfp": lfp, "spike": spike}
        if schema is not None:
            missing = [k for k, s in schema.items() if k not in arrays and not s.optional]
            if missing:
                raise KeyError(
                    f"{str(path)!r} is an LFP CSV (columns time, lfp, spike): it has no "
                    f"{missing}; those are in the HDF5 file only (`neurosim generate lfp --out "
                    "FILE.h5`)"
                )
        attrs = {"dataset": "lfp", "format": "csv"}
        if len(time_s) > 1:
            attrs["config.sample_rate_hz"] = float(1.0 / np.median(np.diff(time_s)))
    elif is_spikefinder_path(path):
        from neurosim.spikefinder import read_recording

        rec = read_recording(path, frame_rate=frame_rate, require_spikes=False)
        arrays = {"calcium": rec.calcium}
        if rec.spikes is not None:
            arrays["spikes"] = rec.spikes
        attrs = {"dataset": "spikefinder", "frame_rate": rec.frame_rate}
    else:
        raise ValueError(
            f"{str(path)!r}: unknown file type {suffix or '(none)'!r}; expected a neurosim HDF5 "
            "dataset (.h5) or a Spikefinder-layout CSV (N.train.calcium.csv[.gz])"
        )
    ds = Dataset(arrays, attrs, str(path))
    if allowed is not None:
        _check_kind(path, ds.name, allowed)
    if schema is not None:
        validate_arrays(ds.arrays, schema, source=repr(str(path)), purpose=purpose)
    return ds
