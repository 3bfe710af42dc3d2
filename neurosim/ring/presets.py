"""Parameters of the excitatory/inhibitory integrate-and-fire ring, and the paper's presets.

The model is the current-based LIF ring of Xiao & Lin, "Multilevel Monte Carlo for cortical
circuit models", J. Comput. Neurosci. 50(1), 2022 (doi:10.1007/s10827-021-00807-3), as their MATLAB
code implements it (github Texense/UA_MLMC_JCNS, ``MC_Vseries_for_network_ninput_I_based_norms_Syn``
and, for the synaptic-current variant, ``MLMC_LIF_Current_Based_Syn_Final``). See ``docs/ring.md``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# Fields that may be arrays (one value per parameter set, for sweeps); the others fix array shapes
# or step counts and must be plain scalars.
NUMERIC_FIELDS = (
    "rate_ext_per_ms",
    "f_E",
    "f_I",
    "s_EE",
    "s_EI",
    "s_IE",
    "s_II",
    "rho",
    "tau_L_ms",
    "v_threshold",
    "v_reset",
    "tau_E_ms",
    "tau_I_ms",
    "v0_max",
    "i0_max",
)
STATIC_FIELDS = ("n_per_type", "neighbor_scale", "dt_ms", "tau_ref_ms", "synaptic")
#: Largest mean number of external events per cell and step (rate_ext_per_ms · dt_ms). Every step
#: compares each cell's random bits with about 1.2× this many Poisson thresholds (unrolled), so
#: compile and run time grow with it (1000: ~13 s to compile on 2 cores).
MAX_EVENTS_PER_STEP = 1000.0


@dataclass(frozen=True)
class RingParams:
    """Parameters of the E/I ring (units in the names; voltage is dimensionless, V_T = 1).

    Attributes:
        n_per_type: cells per type; E cells are indices ``0..n-1``, I cells ``n..2n-1`` (default
            300, so 600 cells). E cell k and I cell k sit at ring position k.
        neighbor_scale: ``N_conn = floor(n / neighbor_scale)``; a cell receives from cells at ring
            distance ``d <= N_conn / 2`` (10 → 30 E→E, 31 I→E, 31 E→I, 30 I→I inputs per cell).
        rate_ext_per_ms: λ, rate of each cell's Poisson external drive (events per ms); λ·dt_ms
            is at most :data:`MAX_EVENTS_PER_STEP` (1000).
        f_E, f_I: voltage kick of one external event to an E / I cell.
        s_EE: E→E coupling (kick per presynaptic spike, > 0 excites).
        s_EI: I→E coupling (magnitude; the kick is −s_EI).
        s_IE: E→I coupling.
        s_II: I→I coupling (magnitude; the kick is −s_II).
        rho: shared fraction of the external drive: a rate ρλ comes from one train common to all
            cells, λ(1−ρ) is independent per cell.
        tau_L_ms: membrane (leak) time constant τ_L.
        v_threshold: V_T; a cell spikes when V >= V_T.
        v_reset: V_R; a cell is held at V_R while refractory and restarts from it.
        tau_ref_ms: refractory period; it lasts ``round(tau_ref_ms / dt_ms)`` steps (the original
            code's repeated-addition timer gives 11 steps at dt = 0.1 ms; we use the rounded value).
        dt_ms: time step of the fixed-step scheme.
        synaptic: if True, kicks enter through exponentially decaying synaptic currents
            (τ_E, τ_I) instead of directly into V (the variant the LFP needs).
        tau_E_ms, tau_I_ms: synaptic time constants of the synaptic-current variant.
        v0_max: initial voltages are Uniform(v_reset, v0_max) per cell and trial, with
            v_reset <= v0_max <= v_threshold (default 1 = V_T, so U(V_R, V_T) = U(0, 1)).
        i0_max: synaptic-current variant: initial I_E and I_I are Uniform(0, i0_max) (their code).
    """

    n_per_type: int = 300
    neighbor_scale: float = 10.0
    rate_ext_per_ms: Any = 0.65
    f_E: Any = 0.07
    f_I: Any = 0.06
    s_EE: Any = 0.016
    s_EI: Any = 0.013
    s_IE: Any = 0.018
    s_II: Any = 0.010
    rho: Any = 0.0
    tau_L_ms: Any = 20.0
    v_threshold: Any = 1.0
    v_reset: Any = 0.0
    tau_ref_ms: float = 1.0
    dt_ms: float = 0.05
    synaptic: bool = False
    tau_E_ms: Any = 2.0
    tau_I_ms: Any = 5.0
    v0_max: Any = 1.0
    i0_max: Any = 0.05

    # ------------------------------------------------------------------ derived sizes
    @property
    def n_cells(self) -> int:
        """Total number of cells, 2 · n_per_type."""
        return 2 * int(self.n_per_type)

    @property
    def n_conn(self) -> int:
        """N_conn = floor(n_per_type / neighbor_scale)."""
        return int(math.floor(self.n_per_type / self.neighbor_scale + 1e-12))

    @property
    def half_width(self) -> int | None:
        """h: a cell receives from ring offsets −h..h (h = floor(N_conn / 2)); None if that covers
        the whole ring (all-to-all)."""
        h = self.n_conn // 2
        return None if 2 * h + 1 >= int(self.n_per_type) else h

    @property
    def refractory_steps(self) -> int:
        """R = round(tau_ref_ms / dt_ms): steps from a spike to the step that integrates again."""
        return int(round(self.tau_ref_ms / self.dt_ms))

    @property
    def n_sets(self) -> int | None:
        """Number of parameter sets when numeric fields are arrays (a sweep), else None."""
        sizes = {np.size(getattr(self, f)) for f in NUMERIC_FIELDS if np.ndim(getattr(self, f)) > 0}
        return sizes.pop() if sizes else None

    def replace(self, **changes) -> RingParams:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes).validate()

    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-able values (arrays as lists)."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = (
                np.asarray(v).tolist()
                if np.ndim(v) > 0
                else (v.item() if hasattr(v, "item") else v)
            )
        return out

    def set(self, i: int) -> RingParams:
        """Parameter set ``i`` of a sweep (scalars everywhere)."""
        vals = {
            f: (
                np.asarray(getattr(self, f)).reshape(-1)[i].item()
                if np.ndim(getattr(self, f)) > 0
                else getattr(self, f)
            )
            for f in NUMERIC_FIELDS
        }
        return dataclasses.replace(self, **vals)

    # ------------------------------------------------------------------ validation
    def validate(self) -> RingParams:
        """Check every value; raise ValueError naming the bad one and what was expected."""
        if (
            isinstance(self.n_per_type, bool)
            or int(self.n_per_type) != self.n_per_type
            or self.n_per_type < 2
        ):
            raise ValueError(f"n_per_type must be an integer >= 2, got {self.n_per_type!r}")
        for name in ("neighbor_scale", "dt_ms", "tau_ref_ms"):
            v = getattr(self, name)
            if np.ndim(v) != 0:
                raise ValueError(
                    f"{name} must be a scalar (it fixes array shapes or step counts), got {v!r}"
                )
            if not (
                isinstance(v, (int, float, np.integer, np.floating)) and math.isfinite(v) and v > 0
            ):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        if self.dt_ms > self.tau_ref_ms:
            raise ValueError(
                f"dt_ms = {self.dt_ms} is larger than the refractory period tau_ref_ms = "
                f"{self.tau_ref_ms}: the scheme needs dt_ms <= tau_ref_ms"
            )
        if self.n_conn < 1:
            raise ValueError(
                f"neighbor_scale = {self.neighbor_scale} leaves N_conn = floor({self.n_per_type}/"
                f"{self.neighbor_scale}) = 0 neighbours; expected neighbor_scale <= n_per_type"
            )
        sizes = set()
        for name in NUMERIC_FIELDS:
            v = np.asarray(getattr(self, name), dtype=float)
            if v.ndim > 1:
                raise ValueError(
                    f"{name} must be a number or a 1-D array (one per parameter set), "
                    f"got shape {v.shape}"
                )
            if v.ndim == 1:
                sizes.add(v.size)
            if not np.all(np.isfinite(v)):
                raise ValueError(f"{name} must be finite, got {getattr(self, name)!r}")
        if len(sizes) > 1:
            raise ValueError(
                f"parameter arrays of a sweep must have one length, got lengths {sorted(sizes)}"
            )

        def arr(name):
            return np.asarray(getattr(self, name), dtype=float)

        if np.any(arr("rate_ext_per_ms") < 0):
            raise ValueError(
                f"rate_ext_per_ms (external Poisson rate, events per ms) must be >= 0, "
                f"got {self.rate_ext_per_ms!r}"
            )
        per_step = float(np.max(arr("rate_ext_per_ms"))) * float(self.dt_ms)
        if per_step > MAX_EVENTS_PER_STEP:
            raise ValueError(
                f"rate_ext_per_ms = {self.rate_ext_per_ms!r} at dt_ms = {self.dt_ms} means "
                f"{per_step:g} external events per cell and step on average; at most "
                f"{MAX_EVENTS_PER_STEP:g} are supported: use a smaller dt_ms "
                f"(<= {MAX_EVENTS_PER_STEP / float(np.max(arr('rate_ext_per_ms'))):.3g} ms) "
                "or a lower rate"
            )
        for name in ("s_EE", "s_EI", "s_IE", "s_II"):
            if np.any(arr(name) < 0):
                raise ValueError(
                    f"{name} must be >= 0 (a magnitude: the sign is fixed by the presynaptic "
                    f"type), got {getattr(self, name)!r}"
                )
        if np.any(arr("rho") < 0) or np.any(arr("rho") > 1):
            raise ValueError(
                f"rho (shared fraction of the external drive) must lie in [0, 1], got {self.rho!r}"
            )
        for name in ("tau_L_ms", "tau_E_ms", "tau_I_ms"):
            if np.any(arr(name) <= 0):
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if np.any(arr("v_reset") >= arr("v_threshold")):
            raise ValueError(
                f"v_reset must be below v_threshold, got v_reset={self.v_reset!r}, "
                f"v_threshold={self.v_threshold!r}"
            )
        if np.any(arr("v0_max") < arr("v_reset")) or np.any(arr("v0_max") > arr("v_threshold")):
            raise ValueError(
                f"v0_max (upper end of the initial voltages) must lie in [v_reset, v_threshold] = "
                f"[{self.v_reset!r}, {self.v_threshold!r}], got {self.v0_max!r}"
            )
        if np.any(arr("i0_max") < 0):
            raise ValueError(f"i0_max must be >= 0, got {self.i0_max!r}")
        if self.refractory_steps < 1:
            raise ValueError(
                f"tau_ref_ms / dt_ms rounds to {self.refractory_steps} steps; expected >= 1"
            )
        return self


# Parameter sets of the paper's figures (spec/ring.md). Fig 3's couplings follow one scale ss.
PRESETS: dict[str, dict[str, Any]] = {
    "fig1": dict(
        rate_ext_per_ms=0.65,
        f_E=0.07,
        f_I=0.06,
        neighbor_scale=10.0,
        s_EE=0.016,
        s_EI=0.013,
        s_IE=0.018,
        s_II=0.010,
        rho=0.0,
    ),
    "fig2": dict(
        rate_ext_per_ms=0.55,
        f_E=0.07,
        f_I=0.07,
        neighbor_scale=10.0,
        s_EE=0.003,
        s_EI=0.003,
        s_IE=0.003,
        s_II=0.003,
        rho=0.0,
    ),
    "fig3": dict(rate_ext_per_ms=0.55, f_E=0.07, f_I=0.07, neighbor_scale=10.0, rho=0.0),
}
PRESET_DESCRIPTIONS = {
    "fig1": "Fig 1 (default): λ=0.65/ms, f_E=0.07, f_I=0.06, "
    "s_EE/EI/IE/II = 0.016/0.013/0.018/0.010",
    "fig2": "Fig 2: λ=0.55/ms, f=0.07, all couplings 0.003 (vary rho 0..1, neighbor_scale 5 or 10)",
    "fig3": "Fig 3: λ=0.55/ms, f=0.07, s_EE=s_II=ss, s_EI=s_IE=0.9·ss "
    "(ss in 0.003..0.03; default 0.015)",
}
FIG3_DEFAULT_SS = 0.015


def ring_params(preset: str = "fig1", *, ss: Any = None, **overrides) -> RingParams:
    """The parameters of a preset, with any field overridden.

    Args:
        preset: ``"fig1"`` (default), ``"fig2"`` or ``"fig3"``.
        ss: Fig 3's coupling scale (s_EE = s_II = ss, s_EI = s_IE = 0.9·ss); only with ``fig3``
            (default 0.015). May be an array for a sweep.
        **overrides: any :class:`RingParams` field, e.g. ``rho=0.2``, ``dt_ms=0.1``,
            ``synaptic=True``. Numeric fields may be 1-D arrays (one value per parameter set).

    Returns:
        Validated :class:`RingParams`.

    Raises:
        ValueError: unknown preset, unknown field, ``ss`` without ``fig3``, or a bad value.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown ring preset {preset!r}; known: {', '.join(PRESETS)}")
    values = dict(PRESETS[preset])
    if preset == "fig3":
        ss = FIG3_DEFAULT_SS if ss is None else ss
        ss_arr = np.asarray(ss, dtype=float)
        values.update(
            s_EE=ss,
            s_II=ss,
            s_EI=(0.9 * ss_arr).tolist() if ss_arr.ndim else 0.9 * float(ss),
            s_IE=(0.9 * ss_arr).tolist() if ss_arr.ndim else 0.9 * float(ss),
        )
        if ss_arr.ndim:
            values.update(s_EE=ss_arr.tolist(), s_II=ss_arr.tolist())
    elif ss is not None:
        raise ValueError(
            f"ss (Fig 3's coupling scale) only applies to preset 'fig3', not {preset!r}"
        )
    known = {f.name for f in dataclasses.fields(RingParams)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown ring parameter(s) {unknown}; known: {', '.join(sorted(known))}")
    values.update(overrides)
    return RingParams(**values).validate()
