"""Files: atomic, resumable HDF5 writing, shared by every dataset generator.

A dataset is written to ``<out>.partial`` and renamed to ``<out>`` only when every row is in, so
an interrupted run never leaves a file that looks complete. The partial file records the
parameters it was started with and how many rows of each array are done; running the same
command again resumes where it stopped, and a partial file from other parameters is started anew.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import h5py
import numpy as np

from .provenance import package_versions, read_attrs, to_json, utc_now, write_attrs

PARTIAL_SUFFIX = ".partial"


def check_output_path(
    out: str | os.PathLike, *, overwrite: bool, suffixes: tuple[str, ...]
) -> Path:
    """Validate an output path before any work is done.

    The parent folder is created if needed.

    Raises:
        ValueError: the suffix is not one of ``suffixes``.
        FileExistsError: the file exists and ``overwrite`` is false.
    """
    path = Path(out)
    if path.is_dir():
        raise ValueError(f"output {str(path)!r} is a folder; give a file name")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"output file {str(path)!r} should end in one of {', '.join(suffixes)}")
    if path.exists() and not overwrite:
        raise FileExistsError(
            f"output file {str(path)!r} exists; pass --overwrite to replace it "
            "(nothing was written)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_path(out: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``out``; rename it to ``out`` only if the block succeeds."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_path`): readers see the old file or
    the whole new one, never a part. The one atomic text writer of the package (neurolearn's run
    files and the benchmarks' JSON use it too)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


class Generated(NamedTuple):
    """What a generator wrote: the output ``path`` and a ``summary`` dict of what it measured
    (e.g. achieved noise levels, firing rates) for the caller to report."""

    path: Path
    summary: dict[str, Any]


def finished_file_matches(path: str | os.PathLike, attrs: dict[str, Any]) -> bool:
    """Whether ``path`` is a finished dataset file written with exactly these attributes.

    Only the keys of ``attrs`` are compared (provenance and summaries added by
    :meth:`ChunkedH5Writer.finish` are ignored), after the same JSON encoding
    :func:`neurosim.provenance.write_attrs` applies. A file that cannot be read does not match.
    """
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with h5py.File(path, "r") as f:
            if "_partial_key" in f.attrs:  # not finished
                return False
            got = read_attrs(f)
    except OSError:
        return False
    if any(k not in got for k in attrs):
        return False
    return to_json({k: got[k] for k in attrs}) == to_json(attrs)


class ChunkedH5Writer:
    """Write fixed-shape arrays into an HDF5 file chunk by chunk, atomically and resumably.

    Args:
        out: final file name. Work goes to ``out + ".partial"`` until :meth:`finish`.
        arrays: ``{name: (shape, dtype)}`` of the arrays to fill, row by row along axis 0.
        attrs: parameters of the dataset (written as attributes, see
            :func:`neurosim.provenance.write_attrs`). A partial file is resumed only if it was
            started with exactly these attributes.
        resume: resume a matching partial file (default) or always start anew.
        identity_exclude: attribute names that do not change the data (e.g. a chunk size): a
            partial file that differs from ``attrs`` only in these is resumed.
        chunks: HDF5 chunk shape of some arrays (``None``: contiguous). By default an array of
            several dimensions is chunked one row at a time (rows are trials or segments), a
            1-D array is contiguous; a per-sample array ``(T, few)`` wants ``None`` instead.

    Use :meth:`rows_done` to know where to continue, :meth:`write` to add rows (flushed at
    once), :attr:`state` for generator state that must survive an interruption (a JSON-able
    dict, saved with every write), and :meth:`finish` to rename the file into place.
    """

    def __init__(
        self,
        out: str | os.PathLike,
        arrays: dict[str, tuple[tuple[int, ...], Any]],
        attrs: dict[str, Any],
        *,
        resume: bool = True,
        extra_arrays: dict[str, np.ndarray] | None = None,
        identity_exclude: tuple[str, ...] = (),
        chunks: dict[str, tuple[int, ...] | None] | None = None,
    ):
        self.out = Path(out)
        self.partial = self.out.with_name(self.out.name + PARTIAL_SUFFIX)
        identity = {k: v for k, v in attrs.items() if k not in identity_exclude}
        self._key = to_json(
            {
                "arrays": {k: [list(sh), np.dtype(d).str] for k, (sh, d) in arrays.items()},
                "attrs": identity,
            }
        )
        self.resumed = False
        self.f = None
        if resume and self.partial.exists():
            try:
                f = h5py.File(self.partial, "r+")
                old_key = f.attrs.get("_partial_key")
                if old_key == self._key:
                    self.f = f
                    self.resumed = True
                else:
                    f.close()
                    warnings.warn(
                        f"starting anew: {self.partial.name} was started with other parameters "
                        f"({_differences(old_key, self._key)}); its progress is discarded",
                        UserWarning,
                        stacklevel=2,
                    )
            except OSError:  # a file cut off mid-write: start anew
                self.f = None
                warnings.warn(
                    f"starting anew: {self.partial.name} is unreadable (cut off mid-write?)",
                    UserWarning,
                    stacklevel=2,
                )
        if self.f is None:
            if self.partial.exists():
                self.partial.unlink()
            self.f = h5py.File(self.partial, "w")
            self.f.attrs["_partial_key"] = self._key
            self.f.attrs["_state"] = "{}"
            for name, (shape, dtype) in arrays.items():
                if chunks and name in chunks:
                    chunk = chunks[name]
                else:
                    chunk = (1,) + tuple(shape[1:]) if len(shape) > 1 and shape[0] > 0 else None
                self.f.create_dataset(name, shape=shape, dtype=dtype, chunks=chunk)
                self.f[name].attrs["_rows_done"] = 0
            for name, value in (extra_arrays or {}).items():
                self.f.create_dataset(name, data=value)
            write_attrs(self.f, attrs)
            self.f.flush()
        self.state: dict[str, Any] = json.loads(self.f.attrs["_state"])

    def rows_done(self, name: str) -> int:
        return int(self.f[name].attrs["_rows_done"])

    def write(self, name: str, start: int, data: np.ndarray) -> None:
        """Write ``data`` into rows ``start:start+len(data)`` of ``name`` and record progress."""
        self.write_rows(start, {name: data})

    def write_rows(self, start: int, data: dict[str, np.ndarray]) -> None:
        """Write rows of several arrays, then record their progress and :attr:`state` at once.

        Progress is recorded only after all data are written, so an interruption in between
        makes a resumed run write the same rows again rather than skip any.
        """
        for name, values in data.items():
            ds = self.f[name]
            stop = start + len(values)
            if stop > ds.shape[0]:
                raise ValueError(
                    f"rows {start}:{stop} do not fit array {name!r} of {ds.shape[0]} rows"
                )
            ds[start:stop] = values
        for name, values in data.items():
            ds = self.f[name]
            ds.attrs["_rows_done"] = max(start + len(values), self.rows_done(name))
        self.save_state()

    def save_state(self) -> None:
        """Persist :attr:`state` (and everything written so far) to disk."""
        self.f.attrs["_state"] = json.dumps(self.state)
        self.f.flush()

    def finish(self, attrs: dict[str, Any] | None = None) -> Path:
        """Check every array is full, add provenance, and rename into place."""
        for name, ds in self.f.items():
            if isinstance(ds, h5py.Dataset) and "_rows_done" in ds.attrs:
                if int(ds.attrs["_rows_done"]) != ds.shape[0]:
                    raise RuntimeError(
                        f"array {name!r} has {ds.attrs['_rows_done']} of {ds.shape[0]} rows"
                    )
                del ds.attrs["_rows_done"]
        del self.f.attrs["_partial_key"]
        del self.f.attrs["_state"]
        write_attrs(
            self.f, {"versions": package_versions(), "created_utc": utc_now(), **(attrs or {})}
        )
        self.f.close()
        os.replace(self.partial, self.out)
        return self.out

    def close(self) -> None:
        if self.f is not None and self.f.id.valid:
            self.f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _differences(old_key, new_key) -> str:
    """The parameters that differ between two partial-file identity keys, for messages."""
    try:
        old, new = json.loads(old_key), json.loads(new_key)
    except (TypeError, ValueError):
        return "unknown parameters"
    diffs = []
    for part in ("arrays", "attrs"):
        a, b = old.get(part, {}), new.get(part, {})
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                diffs.append(f"{k}: {a.get(k)!r} → {b.get(k)!r}")
    return "; ".join(diffs[:5]) + (" …" if len(diffs) > 5 else "") or "format changed"


def read_h5(
    path: str | os.PathLike, keys: tuple[str, ...] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read arrays and attributes of a neurosim HDF5 dataset.

    Args:
        path: the file.
        keys: the arrays to read (all top-level arrays when None).

    Returns:
        ``(arrays, attrs)``.

    Raises:
        FileNotFoundError, KeyError naming the missing array and the ones present.
    """
    path = Path(path)
    if not path.exists():
        partial = path.with_name(path.name + PARTIAL_SUFFIX)
        hint = (
            f" (an unfinished {partial.name} exists: rerun the generator to complete it)"
            if partial.exists()
            else ""
        )
        raise FileNotFoundError(f"dataset file {str(path)!r} does not exist{hint}")
    with h5py.File(path, "r") as f:
        names = [k for k, v in f.items() if isinstance(v, h5py.Dataset)]
        want = names if keys is None else list(keys)
        missing = [k for k in want if k not in f]
        if missing:
            raise KeyError(f"{str(path)!r} has no array(s) {missing}; it has {sorted(names)}")
        arrays = {k: f[k][()] for k in want}
        attrs = read_attrs(f)
    return arrays, attrs


# ------------------------------------------------------------------ shards (several processes)

#: attribute of a shard file: ``{"index", "count", "rows": [lo, hi], "n_rows", "row_arrays"}``
SHARD_ATTR = "shard"


def shard_rows(n_rows: int, index: int, count: int, *, block: int = 1) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of shard ``index`` of ``count``: contiguous, in whole blocks.

    The ``ceil(n_rows / block)`` blocks of ``block`` rows (the last one may be shorter) are
    split into ``count`` contiguous runs whose lengths differ by at most one block; with
    ``block=1`` the shard sizes differ by at most one row. A generator whose random stream is
    keyed per block of rows (calcium: per ``chunk`` of cells) passes its block so that every
    shard boundary is a block boundary. Shards past the last block are empty (``lo == hi``).
    """
    if not (isinstance(count, int) and count >= 1 and isinstance(index, int)):
        raise ValueError(f"shard index/count must be integers, got {index!r}/{count!r}")
    if not 0 <= index < count:
        raise ValueError(f"shard index must be in 0..{count - 1}, got {index}")
    if not (isinstance(block, int) and block >= 1):
        raise ValueError(f"shard block must be a positive integer, got {block!r}")
    n_blocks = -(-n_rows // block)
    base, extra = divmod(n_blocks, count)
    lo = index * base + min(index, extra)
    hi = lo + base + (1 if index < extra else 0)
    return min(lo * block, n_rows), min(hi * block, n_rows)


def shard_path(out: str | os.PathLike, index: int, count: int) -> Path:
    """``data.h5`` → ``data.shard-00001-of-00004.h5``: the file process ``index`` writes."""
    out = Path(out)
    return out.with_name(f"{out.stem}.shard-{index:05d}-of-{count:05d}{out.suffix}")


def shard_output_path(out: str | os.PathLike, index: int, count: int, *, overwrite: bool) -> Path:
    """The checked HDF5 output of process ``index`` of ``count``: ``out`` itself for one
    process, else its :func:`shard_path` (``out`` names the joined file: only its suffix is
    checked)."""
    suffixes = (".h5", ".hdf5")
    if count > 1:
        out = shard_path(check_output_path(out, overwrite=True, suffixes=suffixes), index, count)
    return check_output_path(out, overwrite=overwrite, suffixes=suffixes)


def shard_attrs(
    n_rows: int,
    index: int,
    count: int,
    row_arrays: tuple[str, ...],
    *,
    block: int = 1,
    summary: tuple[str, ...] = (),
) -> dict:
    """The ``shard`` attribute of shard ``index`` of ``count`` (see :func:`shard_rows`).

    Args:
        row_arrays: the arrays split along axis 0 (the others are the same in every shard).
        block: rows per block (:func:`shard_rows`).
        summary: attributes computed over the shard's own rows (e.g. a median over its cells):
            they differ between shards, are not compared by :func:`join_shards`, and are
            computed anew over the joined rows by the dataset's ``summarise`` function
            (:class:`neurosim.datasets.DatasetSpec`).
    """
    lo, hi = shard_rows(n_rows, index, count, block=block)
    return {
        SHARD_ATTR: {
            "index": index,
            "count": count,
            "rows": [lo, hi],
            "n_rows": n_rows,
            "block": block,
            "row_arrays": list(row_arrays),
            "summary": list(summary),
        }
    }


def _find_shards(out: Path) -> list[Path]:
    found = sorted(out.parent.glob(f"{out.stem}.shard-*-of-*{out.suffix}"))
    if not found:
        raise FileNotFoundError(
            f"no shard files {out.stem}.shard-*-of-*{out.suffix} next to {str(out)!r}"
        )
    return found


def join_shards(
    out: str | os.PathLike,
    shards: list[str | os.PathLike] | None = None,
    *,
    overwrite: bool = False,
    summarise: Callable[[h5py.File], dict[str, Any]] | None = None,
) -> Path:
    """Join the shard files of a multi-process run into the one file a single process writes.

    Row arrays (``shard.row_arrays``) are concatenated in shard order; every other array and
    attribute must be the same in all shards and is copied; ``created_utc`` is set anew. The
    shards' summary attributes (``shard.summary``, per-shard statistics) are not compared:
    ``summarise`` computes them again over the joined file.

    Args:
        out: the joined file.
        shards: the shard files (default: every ``OUT-STEM.shard-*-of-*.SUFFIX`` beside ``out``).
        overwrite: replace an existing ``out``.
        summarise: ``summarise(joined h5py.File) -> attributes`` for shards with summary
            attributes; default: the ``summarise`` of the dataset named by the shards'
            ``dataset`` attribute (:class:`neurosim.datasets.DatasetSpec`).

    Raises:
        ValueError: a file that is not a shard, shards of different runs, or missing or
            repeated shards (the message names them). Nothing is written then.
    """
    out = check_output_path(out, overwrite=overwrite, suffixes=(".h5", ".hdf5"))
    paths = [Path(p) for p in shards] if shards else _find_shards(out)
    infos = []
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"shard file {str(p)!r} does not exist")
        with h5py.File(p, "r") as f:
            attrs = read_attrs(f)
            if SHARD_ATTR not in attrs:
                raise ValueError(f"{str(p)!r} is not a shard file (no {SHARD_ATTR!r} attribute)")
            if "_partial_key" in f.attrs:
                raise ValueError(f"{str(p)!r} is unfinished: rerun its process to complete it")
        infos.append((p, attrs))
    infos.sort(key=lambda pa: pa[1][SHARD_ATTR]["index"])
    first_path, first = infos[0]
    count = first[SHARD_ATTR]["count"]
    indices = [a[SHARD_ATTR]["index"] for _, a in infos]
    if indices != list(range(count)):
        missing = sorted(set(range(count)) - set(indices))
        raise ValueError(
            f"need shards 0..{count - 1} exactly once, got {indices}"
            + (f" (missing {missing})" if missing else "")
        )
    summary = list(first[SHARD_ATTR].get("summary", []))
    skip = {SHARD_ATTR, "created_utc", *summary}
    if summary and summarise is None:
        from .datasets import get

        summarise = get(str(first.get("dataset"))).summarise
        if summarise is None:
            raise ValueError(
                f"the shards have summary attributes {summary} but dataset "
                f"{first.get('dataset')!r} has no summarise function to recompute them"
            )
    for p, a in infos[1:]:
        for k in sorted((set(a) | set(first)) - skip):
            if to_json(a.get(k)) != to_json(first.get(k)):
                raise ValueError(
                    f"{str(p)!r} and {str(first_path)!r} come from different runs: attribute "
                    f"{k!r} differs ({a.get(k)!r} vs {first.get(k)!r})"
                )
        if (
            a[SHARD_ATTR]["count"] != count
            or a[SHARD_ATTR]["n_rows"] != first[SHARD_ATTR]["n_rows"]
        ):
            raise ValueError(f"{str(p)!r} belongs to another split of the rows")
    edges = [a[SHARD_ATTR]["rows"] for _, a in infos]
    n_rows = first[SHARD_ATTR]["n_rows"]
    if (
        edges[0][0] != 0
        or edges[-1][1] != n_rows
        or any(edges[i][1] != edges[i + 1][0] for i in range(len(edges) - 1))
    ):
        raise ValueError(f"the shards' rows {edges} do not cover 0..{n_rows} contiguously")
    row_arrays = first[SHARD_ATTR]["row_arrays"]
    files = [h5py.File(p, "r") for p, _ in infos]
    try:
        f0 = files[0]
        for name, ds in f0.items():
            if name in row_arrays:
                continue
            for p, f in zip([p for p, _ in infos][1:], files[1:], strict=True):
                if name not in f or not np.array_equal(f[name][()], ds[()]):
                    raise ValueError(f"array {name!r} differs between {str(p)!r} and the others")
        with atomic_path(out) as tmp:
            with h5py.File(tmp, "w") as g:
                for name, ds in f0.items():
                    if name in row_arrays:
                        shape = (n_rows,) + ds.shape[1:]
                        dst = g.create_dataset(name, shape=shape, dtype=ds.dtype, chunks=ds.chunks)
                        for f, (lo, hi) in zip(files, edges, strict=True):
                            if hi > lo:  # an empty shard (more shards than blocks)
                                dst[lo:hi] = f[name][()]
                    else:
                        g.create_dataset(name, data=ds[()], chunks=ds.chunks)
                    for k, v in ds.attrs.items():
                        g[name].attrs[k] = v
                for k, v in f0.attrs.items():
                    if k not in skip:
                        g.attrs[k] = v
                if summary:
                    stats = summarise(g)
                    if set(stats) != set(summary):
                        raise ValueError(
                            f"summarise gave attributes {sorted(stats)}, the shards list "
                            f"{sorted(summary)}"
                        )
                    write_attrs(g, stats)
                write_attrs(g, {"created_utc": utc_now()})
    finally:
        for f in files:
            f.close()
    return out
