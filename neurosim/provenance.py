"""Provenance: package versions and parameters recorded with every dataset and result."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import importlib.metadata
import json
import platform
import sys
from typing import Any

import numpy as np

_PACKAGES = (
    "neurosim",
    "jax",
    "jaxlib",
    "numpy",
    "scipy",
    "h5py",
    "flax",
    "optax",
    "orbax-checkpoint",
    "pandas",
    "matplotlib",
)


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of Python, the platform and the packages that shape results.

    Args:
        extra: more distribution names to look up (e.g. ``("brian2",)``).

    Returns:
        ``{name: version}``; a package imported from a source tree without being installed maps
        to ``"<__version__> (source tree)"``, one that is absent to ``"not installed"``.
    """
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES + tuple(extra):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            mod = sys.modules.get(name)  # imported from a source tree (PYTHONPATH), not installed
            version = getattr(mod, "__version__", None)
            out[name] = f"{version} (source tree)" if version else "not installed"
    return out


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else ``platform.processor()``)."""
    import platform

    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""


def device_info() -> dict[str, str]:
    """The JAX backend and device that ran the computation, and the host's CPU."""
    import os

    import jax

    dev = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device": getattr(dev, "device_kind", str(dev)),
        "device_count": str(jax.device_count()),
        "cpu_model": cpu_model(),
        "cpu_count": str(os.cpu_count()),
    }


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(x).items()}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if hasattr(x, "tolist") and hasattr(x, "dtype"):  # jax arrays
        return np.asarray(x).tolist()
    return x


def to_json(x: Any) -> str:
    """JSON text of parameters (dataclasses, dicts, arrays), with sorted keys."""
    return json.dumps(_jsonable(x), sort_keys=True)


def write_attrs(h5obj, attrs: dict[str, Any]) -> None:
    """Write parameters as HDF5 attributes.

    Scalars and strings are stored as they are; lists of numbers as arrays; anything nested
    (dicts, dataclasses) as JSON text, so that every parameter can be read back.
    """
    for key, value in attrs.items():
        value = _jsonable(value)
        if value is None:
            h5obj.attrs[key] = "null"
        elif isinstance(value, (bool, int, float, str)):
            h5obj.attrs[key] = value
        elif (
            isinstance(value, list)
            and value
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        ):
            h5obj.attrs[key] = np.asarray(value)
        else:
            h5obj.attrs[key] = json.dumps(value, sort_keys=True)


def read_attrs(h5obj) -> dict[str, Any]:
    """Read attributes written by :func:`write_attrs`, decoding JSON text back."""
    out: dict[str, Any] = {}
    for key, value in h5obj.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, str) and (value.startswith(("[", "{")) or value == "null"):
            try:
                value = json.loads(value)
            except (TypeError, ValueError):
                pass
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out
