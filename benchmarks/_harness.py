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


def environment(extra: tuple[str, ...] = ("brian2",)) -> dict[str, Any]:
    """Device, versions and settings that shape the numbers (``extra``: more packages whose
    versions to record, e.g. the peers)."""
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
        "versions": package_versions(extra=tuple(extra)),
        "jax_devices": [str(d) for d in jax.devices()],
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


# ------------------------------------------------------------------ the suite's timing method
# (``python -m benchmarks run``): compilation timed apart, warm-up, median of repeats with min
# and max.

COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)


class compile_timer:
    """Seconds JAX spends tracing, lowering and compiling inside a ``with`` block (from the
    compile events JAX reports through ``jax.monitoring``): the compile time of a call that is
    not an ahead-of-time ``.lower().compile()``."""

    def __enter__(self):
        import jax

        self.seconds = 0.0

        def on_event(event, secs, **_):
            if event in COMPILE_EVENTS:
                self.seconds += secs

        self._listener = on_event
        jax.monitoring.register_event_duration_secs_listener(on_event)
        return self

    def __exit__(self, *exc):
        import jax

        jax.monitoring.unregister_event_duration_listener(self._listener)
        return False


def stats(runs_s: list[float]) -> dict[str, Any]:
    """``median_s``, ``min_s``, ``max_s`` and ``runs_s`` of repeated timings."""
    if not runs_s:
        raise ValueError("stats() needs at least one timing")
    return {
        "median_s": statistics.median(runs_s),
        "min_s": min(runs_s),
        "max_s": max(runs_s),
        "runs_s": list(runs_s),
    }


def measure(
    fn: Callable[[], Any],
    *,
    repeats: int = 3,
    warmup: int = 1,
    block: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Time ``fn``: ``warmup`` untimed-in-the-statistics calls (the first one compiles; its wall
    time is ``first_s`` and the compilation JAX reports during it ``compile_s``), then
    ``repeats`` timed calls → :func:`stats`."""
    import jax

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    block = block or jax.block_until_ready
    first = None
    with compile_timer() as ct:
        for i in range(max(warmup, 1)):
            t0 = time.perf_counter()
            block(fn())
            if i == 0:
                first = time.perf_counter() - t0
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        block(fn())
        runs.append(time.perf_counter() - t0)
    return {"first_s": first, "compile_s": ct.seconds, **stats(runs)}


def aot(fn: Callable[..., Any], *args, **jit_kwargs):
    """``jax.jit(fn, **jit_kwargs).lower(*args).compile()`` and the seconds it took."""
    import jax

    t0 = time.perf_counter()
    compiled = jax.jit(fn, **jit_kwargs).lower(*args).compile()
    return compiled, time.perf_counter() - t0


def temp_bytes(compiled) -> int | None:
    """Scratch memory (bytes) XLA allocates for a compiled function's run, if it says."""
    try:
        return int(compiled.memory_analysis().temp_size_in_bytes)
    except (AttributeError, TypeError, NotImplementedError):
        return None


def throughput_row(name: str, work: float, unit: str, timing: dict[str, Any], **extra) -> dict:
    """One result row: ``throughput = work / median_s`` (and at min/max time), in ``unit``."""
    return {
        "name": name,
        "work": float(work),
        "unit": unit,
        "throughput": work / timing["median_s"],
        "throughput_min": work / timing["max_s"],
        "throughput_max": work / timing["min_s"],
        **timing,
        **extra,
    }
