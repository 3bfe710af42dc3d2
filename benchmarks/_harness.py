"""Shared benchmark helpers: timing with compile time separate, environment record, table, JSON.

Each benchmark script prints a table and writes ``benchmarks/results/<suite>_<device>_<date>.json``
with the parameters, the environment (device, versions, XLA flags, CPU) and every measurement.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def time_call(
    fn: Callable[[], Any], *, repeats: int = 3, block: Callable[[Any], Any] | None = None
):
    """Time ``fn``: the first call (compile + run) and the median of ``repeats`` further calls.

    Returns:
        dict with ``first_s``, ``median_s``, ``runs_s`` and ``compile_s`` (first − median, ≥ 0).
    """
    import jax

    block = block or jax.block_until_ready
    t0 = time.perf_counter()
    block(fn())
    first = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn())
        runs.append(time.perf_counter() - t0)
    med = statistics.median(runs)
    return {"first_s": first, "median_s": med, "runs_s": runs, "compile_s": max(first - med, 0.0)}


def environment() -> dict[str, Any]:
    """Device, versions and settings that shape the numbers."""
    import jax

    from neurosim.provenance import cpu_model, package_versions

    cpu = cpu_model()
    dev = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device_kind": getattr(dev, "device_kind", str(dev)),
        "device_count": jax.device_count(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "versions": package_versions(extra=("brian2",)),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def device_tag(env: dict[str, Any]) -> str:
    kind = env["device_kind"] if env["backend"] != "cpu" else f"cpu{env['cpu_count']}"
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in kind.lower())


def print_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """Print ``rows`` as a Markdown table; ``columns`` are (key, header, format)."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" for _ in columns) + "|"
    lines = [head, sep]
    for r in rows:
        cells = []
        for key, _, fmt in columns:
            v = r.get(key)
            cells.append("–" if v is None else format(v, fmt) if fmt else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    return text


def write_json(suite: str, payload: dict[str, Any], out: str | None = None) -> Path:
    """Write ``payload`` (with the environment) as JSON, atomically; the path is returned."""
    from neurosim.io import write_text_atomic

    env = payload.setdefault("environment", environment())
    path = (
        Path(out) if out else RESULTS / f"{suite}_{device_tag(env)}_{time.strftime('%Y%m%d')}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str))
    print(f"wrote {path}")
    return path
