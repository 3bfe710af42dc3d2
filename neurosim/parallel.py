"""Several devices: one sharding helper for every batched simulation, built on ``jax.sharding``.

A batched simulation (HH neurons, ring trials) is split along its leading batch axis across the
local devices with a 1-D :class:`jax.sharding.Mesh` and :class:`~jax.sharding.NamedSharding`:
per-element arrays are padded to a multiple of the device count (with copies of the last
element) and split, everything else is replicated, and the caller drops the padding from the
results with :func:`unpad`. XLA then runs the same jitted computation on every device; no
scheduler of neurosim's own is involved. Because every batch element is computed independently
(vmap, no reduction across the batch) and its random stream depends only on its index, the
results are identical to a one-device run for the same seed.

Which devices: :func:`set_devices` (the CLI's ``--devices all|N``) chooses the first N local
devices, default all of them. On CPU, JAX has one device by default, whose large elementwise
kernels XLA splits over a thread pool shared by all devices of the process;
:func:`use_cpu_cores` asks JAX for one host device per core, so that a batch is split into
independent programs (one per device). It must run before JAX first touches a device (the CLI and
the benchmarks call it at start-up); later calls change nothing.

Several processes (hosts): :func:`init_distributed` starts :func:`jax.distributed.initialize`
from environment variables; each process simulates on its own devices and a generator that
supports it writes its own shard of the dataset (``neurosim.io.shard_path``), which
``neurosim join-shards`` joins into the file a single process would have written.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

#: name of the mesh axis the batch is split over
AXIS = "batch"

_chosen: int | None = None  # None: all local devices


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


def parse_devices(text: str | int | None) -> int | None:
    """``"all"`` (or None) → None (every local device); ``"N"`` → N ≥ 1."""
    if text is None or (isinstance(text, str) and text.strip().lower() == "all"):
        return None
    try:
        n = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"devices must be 'all' or a positive integer, got {text!r}") from None
    if n < 1 or (isinstance(text, float) and not float(text).is_integer()):
        raise ValueError(f"devices must be 'all' or a positive integer, got {text!r}")
    return n


def set_devices(devices: str | int | None) -> int | None:
    """Choose how many local devices batched simulations use from now on.

    Args:
        devices: ``"all"``/None (every local device, the default) or a positive integer N (the
            first N local devices; checked when a simulation runs).

    Returns:
        The previous choice (None: all), so that a caller can restore it.
    """
    global _chosen
    previous, _chosen = _chosen, parse_devices(devices)
    return previous


def local_devices(devices: str | int | None = "default") -> list:
    """The local devices a batch is split across: the first N, or all (see :func:`set_devices`).

    Raises:
        ValueError: more devices asked for than this process sees.
    """
    import jax

    n = _chosen if devices == "default" else parse_devices(devices)
    have = jax.local_devices()
    if n is None:
        return list(have)
    if n > len(have):
        raise ValueError(
            f"devices={n} but this process sees only {len(have)} {jax.default_backend()} "
            f"device(s); on CPU start with XLA_FLAGS=--xla_force_host_platform_device_count={n} "
            "or call neurosim.parallel.use_cpu_cores(N) before JAX starts"
        )
    return list(have[:n])


def batch_mesh(devices: str | int | None = "default"):
    """A 1-D :class:`jax.sharding.Mesh` over the chosen local devices, axis :data:`AXIS`."""
    from jax.sharding import Mesh

    return Mesh(np.asarray(local_devices(devices)), (AXIS,))


def n_shards(n: int, *, min_per_device: int = 1, devices: str | int | None = "default") -> int:
    """How many devices a batch of ``n`` is split across: all chosen ones, or 1 if that would
    leave any device with fewer than ``min_per_device`` elements (after padding)."""
    k = len(local_devices(devices))
    if k < 2 or -(-n // k) < min_per_device:
        return 1
    return k


def shard_batch(
    tree: Any,
    n: int,
    *,
    axes: Any = 0,
    min_per_device: int = 1,
    devices: str | int | None = "default",
) -> tuple[Any, int]:
    """Place a batch on the devices: the leading axis split, the rest replicated.

    Args:
        tree: a pytree of arrays (NumPy or JAX).
        n: the batch size (length of the leading axis of the batched leaves).
        axes: 0 (every leaf is batched along axis 0) or a pytree like ``tree`` with 0 for a
            batched leaf and None for a leaf to replicate (the ``in_axes`` of a ``vmap``).
        min_per_device: split only if every device then gets at least this many elements.
        devices: ``"default"`` (the :func:`set_devices` choice), ``"all"`` or N.

    Returns:
        ``(placed, n_run)``: the tree on the devices and the padded batch size (``n_run − n``
        copies of the last element were appended; drop them with :func:`unpad`). With one
        device (or a batch too small to split) the tree comes back as it was and ``n_run = n``.
    """
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding, PartitionSpec

    k = n_shards(n, min_per_device=min_per_device, devices=devices)
    if k == 1:
        return tree, n
    mesh = batch_mesh(devices)
    split = NamedSharding(mesh, PartitionSpec(AXIS))
    same = NamedSharding(mesh, PartitionSpec())
    pad = (-n) % k

    def place(ax, x):
        if x is None:  # an absent optional input
            return None
        if ax is None:
            return jax.device_put(x, same)
        if ax != 0:
            raise ValueError(f"shard_batch splits axis 0 (or None: replicate), got axis {ax!r}")
        if np.shape(x)[0] != n:
            raise ValueError(f"a batched leaf has {np.shape(x)[0]} rows, expected n={n}")
        if pad:
            xp = jnp if isinstance(x, jax.Array) else np
            x = xp.concatenate([x, xp.repeat(x[-1:], pad, axis=0)], axis=0)
        return jax.device_put(x, split)

    if axes == 0:
        axes = jax.tree.map(lambda _: 0, tree)
    placed = jax.tree.map(place, axes, tree, is_leaf=lambda x: x is None)
    return placed, n + pad


def unpad(tree: Any, n: int, *, axis: int = 0) -> Any:
    """Keep the first ``n`` elements of ``axis`` of every leaf (drop :func:`shard_batch`'s padding)."""
    import jax

    def cut(x):
        if np.shape(x)[axis] == n:
            return x
        index = (slice(None),) * axis + (slice(0, n),)
        return x[index]

    return jax.tree.map(cut, tree)


def device_summary(devices: str | int | None = "default") -> dict[str, Any]:
    """What a result was computed on: backend, device kind and count, process index/count."""
    import jax

    devs = local_devices(devices)
    return {
        "backend": jax.default_backend(),
        "device_kind": devs[0].device_kind,
        "n_devices": len(devs),
        "process_index": jax.process_index(),
        "process_count": jax.process_count(),
    }


# ------------------------------------------------------------------------- several processes


def init_distributed() -> tuple[int, int]:
    """Start JAX's multi-process runtime (:func:`jax.distributed.initialize`) from the environment.

    Reads ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0), ``JAX_NUM_PROCESSES`` and
    ``JAX_PROCESS_ID``; any of them left unset is detected by JAX inside a SLURM job (``srun``
    sets ``SLURM_NTASKS``, ``SLURM_PROCID``, ``SLURM_STEP_NODELIST``), Open MPI or Kubernetes.
    Must run before JAX touches a device. Each process then simulates on its own local devices
    (:func:`local_devices`); no arrays cross processes.

    Returns:
        ``(process_index, process_count)``.

    Raises:
        ValueError: a malformed variable, or no coordinator address and no cluster detected.
    """
    import jax

    kwargs: dict[str, Any] = {}
    for var, arg in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
        text = os.environ.get(var)
        if text is None:
            continue
        try:
            kwargs[arg] = int(text)
        except ValueError:
            raise ValueError(f"{var} must be an integer, got {text!r}") from None
    address = os.environ.get("JAX_COORDINATOR_ADDRESS")
    in_cluster = any(v in os.environ for v in ("SLURM_JOB_ID", "OMPI_COMM_WORLD_SIZE"))
    if address is None and not in_cluster:
        raise ValueError(
            "several processes need JAX_COORDINATOR_ADDRESS=host:port (process 0's address), "
            "JAX_NUM_PROCESSES and JAX_PROCESS_ID, or a SLURM/Open MPI job (see docs/scaling.md)"
        )
    if _backend_initialized():
        raise RuntimeError("jax.distributed.initialize must run before JAX starts a device")
    jax.distributed.initialize(coordinator_address=address, **kwargs)
    return jax.process_index(), jax.process_count()


def process_shard() -> tuple[int, int]:
    """``(jax.process_index(), jax.process_count())``: which process this is, of how many."""
    import jax

    return jax.process_index(), jax.process_count()
