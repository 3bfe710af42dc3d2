"""The same ring in Brian2, for cross-simulator tests and benchmarks (needs the ``peers`` extra).

Brian2 reproduces the original fixed-step scheme exactly with this recipe:

* network schedule ``['start', 'groups', 'synapses', 'thresholds', 'resets', 'end']``;
* ``dv/dt = -v/tau : 1 (unless refractory)`` integrated by forward Euler, threshold ``v >= V_T``,
  reset ``v = V_R``, ``refractory = round(tau_ref/dt)·dt``;
* recurrent ``Synapses`` with delay 0: the pathway runs before this step's threshold, so it
  delivers the previous step's spikes (the one-step delay); ``on_pre: v_post += w·not_refractory``
  (input to a refractory cell is lost, as in the original code);
* the external events added by a ``run_regularly`` at ``when='synapses'``: either given counts per
  cell and step (a 2-D ``TimedArray``, for spike-for-spike comparisons) or Brian2's own
  ``poisson(λ·dt)`` draws.

Several independent trials can run as block-diagonal copies of the ring in one network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .connectivity import adjacency
from .presets import RingParams


@dataclass
class BrianRun:
    """Spikes of a Brian2 run and its timings (s)."""

    spike_steps: np.ndarray  # (n_spikes,) step index (time / dt)
    spike_ids: np.ndarray  # (n_spikes,) cell index in 0..copies·2n−1
    n_cells: int
    build_s: float  # network construction (+ code generation/compilation for standalone)
    run_s: float  # the simulation loop as Brian2 reports it (wall time around run for runtime)
    total_s: float


def _import_brian2():
    try:
        import brian2
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("Brian2 is not installed: pip install 'neurosim[peers]'") from e
    return brian2


def run_brian2(
    params: RingParams,
    duration_ms: float,
    v0: np.ndarray,
    *,
    counts: np.ndarray | None = None,
    n_copies: int = 1,
    seed: int = 0,
    target: str = "runtime",
    standalone_dir: str | None = None,
    threads: int = 0,
) -> BrianRun:
    """Simulate the ring (delta synapses, ρ = 0 unless ``counts`` are given) in Brian2.

    Args:
        params: scalar ring parameters (``synaptic=False``).
        duration_ms: simulated time.
        v0: (n_copies·2n,) initial voltages.
        counts: optional (steps, n_copies·2n) external event counts per step and cell; if None,
            Brian2 draws ``poisson(λ·dt)`` per cell and step itself (then ρ must be 0).
        n_copies: independent copies of the ring in one network (block-diagonal), e.g. trials.
        seed: Brian2's random seed (own-input mode).
        target: ``"runtime"`` (Brian2's default code generation: Cython if available),
            ``"numpy"`` (runtime without compilation) or ``"cpp_standalone"``.
        standalone_dir: build folder for ``cpp_standalone`` (default: a temporary folder).
        threads: OpenMP threads for ``cpp_standalone`` (0: none, single thread).

    Returns:
        :class:`BrianRun`.
    """
    b2 = _import_brian2()
    if params.synaptic:
        raise ValueError("the Brian2 reference implements the delta-synapse ring (synaptic=False)")
    if params.n_sets is not None:
        raise ValueError("the Brian2 reference needs scalar parameters (one set)")
    t_start = time.perf_counter()
    n = int(params.n_per_type)
    n_ring = 2 * n
    n_cells = n_ring * n_copies
    dt_ms = float(params.dt_ms)
    R = params.refractory_steps
    steps = int(round(duration_ms / dt_ms))
    v0 = np.asarray(v0, np.float64)
    if v0.shape != (n_cells,):
        raise ValueError(f"v0 must have shape ({n_cells},), got {v0.shape}")
    if counts is None and float(params.rho) != 0.0:
        raise ValueError("Brian2's own Poisson input is independent per cell: rho must be 0")

    if target == "cpp_standalone":
        import tempfile

        standalone_dir = standalone_dir or tempfile.mkdtemp(prefix="ring_b2_")
        b2.set_device("cpp_standalone", directory=standalone_dir, build_on_run=False)
        b2.prefs.devices.cpp_standalone.openmp_threads = int(threads)
    elif target in ("runtime", "numpy"):
        b2.set_device("runtime")
        b2.prefs.codegen.target = "numpy" if target == "numpy" else "auto"
    else:
        raise ValueError(f"target must be 'runtime', 'numpy' or 'cpp_standalone', got {target!r}")
    b2.start_scope()
    b2.seed(seed)
    dt = dt_ms * b2.ms
    b2.defaultclock.dt = dt

    f_cell = np.tile(
        np.concatenate([np.full(n, float(params.f_E)), np.full(n, float(params.f_I))]), n_copies
    )
    ns = {
        "tau": float(params.tau_L_ms) * b2.ms,
        "v_th": float(params.v_threshold),
        "v_r": float(params.v_reset),
        "lam_dt": float(params.rate_ext_per_ms) * dt_ms,
    }
    G = b2.NeuronGroup(
        n_cells,
        "dv/dt = -v/tau : 1 (unless refractory)\nf : 1 (constant)",
        threshold="v >= v_th",
        reset="v = v_r",
        refractory=R * dt,
        method="euler",
        namespace=ns,
        name="ring",
    )
    G.v = v0
    G.f = f_cell

    adj = adjacency(n, params.neighbor_scale)
    post, pre = np.nonzero(adj)
    sign = np.where(
        pre < n,
        np.where(post < n, float(params.s_EE), float(params.s_IE)),
        np.where(post < n, -float(params.s_EI), -float(params.s_II)),
    )
    offsets = (np.arange(n_copies) * n_ring)[:, None]
    S = b2.Synapses(
        G, G, "w : 1 (constant)", on_pre="v_post += w * int(not_refractory_post)", name="recurrent"
    )
    S.connect(i=(pre[None, :] + offsets).ravel(), j=(post[None, :] + offsets).ravel())
    S.w = np.tile(sign, n_copies)
    S.delay = 0 * b2.ms

    if counts is not None:
        counts = np.asarray(counts)
        if counts.shape != (steps, n_cells):
            raise ValueError(f"counts must have shape ({steps}, {n_cells}), got {counts.shape}")
        ext = b2.TimedArray(counts.astype(np.float64), dt=dt, name="ext_counts")
        G.namespace["ext_counts"] = ext
        G.run_regularly(
            "v += f * ext_counts(t, i) * int(not_refractory)", when="synapses", name="kicks"
        )
    else:
        G.run_regularly(
            "v += f * poisson(lam_dt) * int(not_refractory)", when="synapses", name="kicks"
        )
    M = b2.SpikeMonitor(G, name="spikes")
    net = b2.Network(G, S, M)
    net.schedule = ["start", "groups", "synapses", "thresholds", "resets", "end"]
    net.run(duration_ms * b2.ms)
    if target == "cpp_standalone":
        b2.device.build(directory=standalone_dir, run=True, compile=True, clean=False)
    run_s = float(b2.device._last_run_time)
    build_s = time.perf_counter() - t_start - run_s
    t_steps = np.asarray(M.t / b2.ms)
    ids = np.asarray(M.i[:])
    if target == "cpp_standalone":
        b2.device.reinit()
        b2.set_device("runtime")
    spike_steps = np.rint(t_steps / dt_ms).astype(np.int64)
    order = np.lexsort((ids, spike_steps))
    return BrianRun(
        spike_steps=spike_steps[order],
        spike_ids=ids[order].astype(np.int64),
        n_cells=n_cells,
        build_s=build_s,
        run_s=run_s,
        total_s=time.perf_counter() - t_start,
    )
