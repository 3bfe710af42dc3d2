"""Use every CPU core: split batched simulations across several XLA host devices.

XLA runs one CPU device's computation on one thread, so a batched simulation on the default
single CPU device uses one core. ``use_cpu_cores()`` asks JAX for one host device per core; the
simulators then shard the batch (neurons, trials) across them. It must run before JAX first
touches a device (the CLI and the benchmarks call it at start-up); later calls change nothing
and say so.
"""

from __future__ import annotations

import os


def _backend_initialized() -> bool:
    try:
        from jax._src import xla_bridge

        return bool(xla_bridge._backends)
    except Exception:  # private API moved: assume initialised (no change attempted)
        return True


def use_cpu_cores(n: int | None = None) -> int:
    """Make JAX expose ``n`` CPU devices (default: all cores, or $NEUROSIM_CPU_DEVICES).

    Returns:
        The number of CPU devices JAX will use. Nothing changes if JAX has already started or
        if the user chose a number (``jax_num_cpu_devices`` or
        ``--xla_force_host_platform_device_count``).
    """
    import jax

    if n is None:
        try:  # the CPUs this process may run on (containers, taskset), not the host's count
            available = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            available = os.cpu_count() or 1
        n = int(os.environ.get("NEUROSIM_CPU_DEVICES", available))
    if n < 1:
        raise ValueError(f"the number of CPU devices must be >= 1, got {n}")
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return jax.config.jax_num_cpu_devices
    if _backend_initialized():  # too late to change: report what JAX has
        return jax.local_device_count() if jax.default_backend() == "cpu" else 1
    if jax.config.jax_num_cpu_devices == -1:
        jax.config.update("jax_num_cpu_devices", n)
    return jax.config.jax_num_cpu_devices
