"""Inputs that drive HH neurons: currents and conductances.

An input gives, for every time step, a current ``I`` and a conductance ``G``; the neuron receives
``I − G·V`` during the step (G is zero for current inputs). Units follow the neuron's parameters:
µA/cm² and mS/cm² for ``HHParams.area()``, pA and nS for ``HHParams.point()``.

Step ``s`` covers ``[s·dt, (s+1)·dt)``; an input's value during step ``s`` is its value at the
start of the step. Amplitudes and rates may be scalars or arrays of shape (B,) (one per neuron).

Inputs add up: ``OU(...) + Step(...)``.

Stochastic inputs (:class:`OU`, :class:`PoissonSynapses`) draw counter-based random numbers
(:mod:`neurosim.rng`): neuron ``i`` uses stream ``streams[i]`` (default ``i``), so its input does not
depend on how many neurons are simulated with it.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .. import rng

_STEP_TOL = 1e-6


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _per_neuron(name: str, value, n: int, dtype, *, finite=True, minimum=None, strict=False):
    """A parameter as a 0-d array (shared by all neurons) or shape (n,), checked if concrete.

    Shared values stay 0-d so that the simulation loop treats them as constants.
    """
    arr = jnp.asarray(value, dtype=dtype)
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] not in (1, n)):
        raise ValueError(f"{name} has shape {tuple(arr.shape)}; expected a scalar or shape ({n},)")
    if not _is_traced(value):
        v = np.asarray(value, dtype=np.float64)
        if finite and not np.all(np.isfinite(v)):
            raise ValueError(f"{name} must be finite, got {value}")
        if minimum is not None:
            bad = v <= minimum if strict else v < minimum
            if np.any(bad):
                rel = ">" if strict else ">="
                raise ValueError(f"{name} must be {rel} {minimum}, got {value}")
    return arr.reshape(()) if arr.size == 1 else arr


def _steps(name: str, ms: float, dt: float) -> int:
    k = ms / dt
    if abs(k - round(k)) > _STEP_TOL * max(1.0, abs(k)):
        raise ValueError(f"{name}={ms} ms is not a multiple of dt={dt} ms")
    return int(round(k))


class Input(abc.ABC):
    """Base class. Subclasses implement :meth:`compile`, giving a :class:`CompiledInput` (the
    arrays and the step rule; see there for how to write a new input)."""

    #: number of independent random streams per neuron the input needs
    n_random: int = 0

    @abc.abstractmethod
    def compile(self, *, n: int, dt: float, n_steps: int, dtype) -> CompiledInput:
        """The input for ``n`` neurons and ``n_steps`` steps of ``dt`` ms, as arrays."""

    def batch_size(self) -> int | None:
        """B if the input has per-neuron values of length B, else None."""
        return None

    def __add__(self, other: Input) -> Sum:
        if not isinstance(other, Input):
            return NotImplemented
        return Sum(*_parts(self), *_parts(other))

    def describe(self) -> dict[str, Any]:
        """The input's parameters, for file attributes."""
        out: dict[str, Any] = {"type": type(self).__name__}
        for k, v in vars(self).items():
            out[k] = v if np.ndim(v) == 0 else np.asarray(v).tolist()
        return out


def _parts(x: Input) -> tuple[Input, ...]:
    return x.parts if isinstance(x, Sum) else (x,)


def _batch_of(*values) -> int | None:
    sizes = {np.shape(v)[0] for v in values if np.ndim(v) == 1 and np.shape(v)[0] != 1}
    if len(sizes) > 1:
        raise ValueError(f"per-neuron values have different lengths {sorted(sizes)}")
    return sizes.pop() if sizes else None


class CompiledInput:
    """An input ready for the simulation loop: a pytree of arrays and its step rule.

    Each kind of input has its own compiled type (a frozen dataclass registered with
    ``jax.tree_util.register_dataclass``), written for **one neuron**: the simulator vmaps it
    over the batch with the axes that :meth:`batch_axes` declares. To add an input, subclass
    :class:`Input` with a ``compile`` that returns a subclass of this, implementing:

    - :meth:`init`: the input's own state at t = 0 (any pytree; ``()`` if it has none);
    - :meth:`__call__`: ``(state, step, seeds, dt) -> (I, G, new_state)``, the current and
      conductance during step ``step`` (the neuron receives ``I − G·V``);
    - :meth:`batch_axes` (optional): which leaves are per neuron.

    ``n_random`` is the number of random streams the input draws from (``seeds`` holds one uint32
    seed per stream for this neuron, to pass to :mod:`neurosim.rng`).
    """

    n_random: int = 0

    def init(self, seeds):
        """The input's state at t = 0 for one neuron (default: none)."""
        return ()

    def __call__(self, state, step, seeds, dt):  # pragma: no cover - abstract
        raise NotImplementedError(
            f"{type(self).__name__} must define __call__(state, step, seeds, dt) -> (I, G, state)"
        )

    def batch_axes(self):
        """vmap axes of this pytree's leaves: 0 for per-neuron (n,) arrays, None for shared ones.

        The default follows :func:`_per_neuron`: a 0-d leaf is shared by every neuron, a 1-d leaf
        has one value per neuron. Inputs with other leaves (e.g. a shared trace) override it.
        """
        return jax.tree.map(lambda x: 0 if jnp.ndim(x) else None, self)


def _drive(cls):
    return jax.tree_util.register_dataclass(dataclass(frozen=True)(cls))


@_drive
class ConstantDrive(CompiledInput):
    """Compiled :class:`Constant`: ``amp`` at every step."""

    amp: jax.Array

    def __call__(self, state, step, seeds, dt):
        return self.amp, 0.0, state


@_drive
class StepDrive(CompiledInput):
    """Compiled :class:`Step`: ``amp`` during steps [s_on, s_off), ``baseline`` elsewhere."""

    amp: jax.Array
    baseline: jax.Array
    s_on: int = field(metadata=dict(static=True))
    s_off: int = field(metadata=dict(static=True))

    def __call__(self, state, step, seeds, dt):
        on = (step >= self.s_on) & (step < self.s_off)
        return jnp.where(on, self.amp, self.baseline), 0.0, state


@_drive
class RampDrive(CompiledInput):
    """Compiled :class:`Ramp`: linear from ``a0`` at step s_on towards ``a1`` at s_off; 0 elsewhere."""

    a0: jax.Array
    a1: jax.Array
    s_on: int = field(metadata=dict(static=True))
    s_off: int = field(metadata=dict(static=True))

    def __call__(self, state, step, seeds, dt):
        frac = (step - self.s_on).astype(self.a0.dtype) / max(self.s_off - self.s_on, 1)
        on = (step >= self.s_on) & (step < self.s_off)
        return jnp.where(on, self.a0 + (self.a1 - self.a0) * frac, 0.0), 0.0, state


@_drive
class ArrayDrive(CompiledInput):
    """Compiled :class:`ArrayInput`: ``values[..., k]`` during steps [k·sub, (k+1)·sub).

    ``values`` is (K,) when ``per_neuron`` is False (one trace shared by every neuron: not
    batched, whatever K is) and (B, K) otherwise.
    """

    values: jax.Array
    sub: int = field(metadata=dict(static=True))
    per_neuron: bool = field(metadata=dict(static=True))

    def __call__(self, state, step, seeds, dt):
        k = jnp.minimum(step // self.sub, self.values.shape[-1] - 1)
        return lax.dynamic_index_in_dim(self.values, k, axis=-1, keepdims=False), 0.0, state

    def batch_axes(self):
        return ArrayDrive(
            values=0 if self.per_neuron else None, sub=self.sub, per_neuron=self.per_neuron
        )


@_drive
class OUDrive(CompiledInput):
    """Compiled :class:`OU`: exact AR(1) updates every ``every`` steps; its state is the current."""

    mean: jax.Array
    decay: jax.Array
    kick: jax.Array
    i0: jax.Array
    every: int = field(metadata=dict(static=True))
    n_random = 1

    def init(self, seeds):
        return self.i0

    def __call__(self, state, step, seeds, dt):
        def draw(c):
            xi = rng.normal(seeds[0], step // self.every, c.dtype)
            return self.mean + (c - self.mean) * self.decay + self.kick * xi

        if self.every == 1:
            nxt = draw(state)
        else:
            nxt = lax.cond((step + 1) % self.every == 0, draw, lambda c: c, state)
        return state, 0.0, nxt


@_drive
class SynapseDrive(CompiledInput):
    """Compiled :class:`PoissonSynapses`; its state is the conductances ``(g_e, g_i)``."""

    lam_e: jax.Array
    lam_i: jax.Array
    w_e: jax.Array
    w_i: jax.Array
    dec_e: jax.Array
    dec_i: jax.Array
    e_e: jax.Array
    e_i: jax.Array
    g0_e: jax.Array
    g0_i: jax.Array
    kmax_e: int = field(metadata=dict(static=True))
    kmax_i: int = field(metadata=dict(static=True))
    n_random = 2

    def init(self, seeds):
        return (self.g0_e, self.g0_i)

    def __call__(self, state, step, seeds, dt):
        ge, gi = state
        cur_i = ge * self.e_e + gi * self.e_i
        cur_g = ge + gi
        ke = rng.poisson_small(seeds[0], step, self.lam_e, self.kmax_e, ge.dtype)
        ki = rng.poisson_small(seeds[1], step, self.lam_i, self.kmax_i, ge.dtype)
        ge = ge * self.dec_e + self.w_e * ke
        gi = gi * self.dec_i + self.w_i * ki
        return cur_i, cur_g, (ge, gi)


@_drive
class CompiledSum(CompiledInput):
    """Several compiled inputs added together; its state is the tuple of theirs."""

    parts: tuple
    n_random: int = field(default=0, metadata=dict(static=True))

    def init(self, seeds):
        return tuple(p.init(self._seeds(seeds, i)) for i, p in enumerate(self.parts))

    def _seeds(self, seeds, i):
        start = sum(p.n_random for p in self.parts[:i])
        return tuple(seeds[start : start + self.parts[i].n_random])

    def __call__(self, state, step, seeds, dt):
        I_tot, G_tot, new = 0.0, 0.0, []
        for i, (p, s) in enumerate(zip(self.parts, state, strict=True)):
            I, G, s2 = p(s, step, self._seeds(seeds, i), dt)
            I_tot = I_tot + I
            G_tot = G_tot + G
            new.append(s2)
        return I_tot, G_tot, tuple(new)

    def batch_axes(self):
        return CompiledSum(parts=tuple(p.batch_axes() for p in self.parts), n_random=self.n_random)


class Sum(Input):
    """The sum of several inputs (``a + b`` builds one)."""

    def __init__(self, *parts: Input):
        if not parts or not all(isinstance(p, Input) for p in parts):
            raise ValueError(f"Sum needs one or more Input objects, got {parts!r}")
        self.parts = tuple(parts)
        self.n_random = sum(p.n_random for p in parts)

    def compile(self, *, n, dt, n_steps, dtype):
        parts = tuple(p.compile(n=n, dt=dt, n_steps=n_steps, dtype=dtype) for p in self.parts)
        return CompiledSum(parts=parts, n_random=self.n_random)

    def batch_size(self):
        sizes = {p.batch_size() for p in self.parts} - {None}
        if len(sizes) > 1:
            raise ValueError(f"inputs have different batch sizes {sorted(sizes)}")
        return sizes.pop() if sizes else None

    def describe(self):
        return {"type": "Sum", "parts": [p.describe() for p in self.parts]}


@dataclass(frozen=True)
class Constant(Input):
    """A constant current ``amp``."""

    amp: Any = 0.0

    def compile(self, *, n, dt, n_steps, dtype):
        amp = _per_neuron("Constant.amp", self.amp, n, dtype)
        return ConstantDrive(amp=amp)

    def batch_size(self):
        return _batch_of(self.amp)


@dataclass(frozen=True)
class Step(Input):
    """A current step: ``amp`` during [start_ms, stop_ms), ``baseline`` elsewhere."""

    amp: Any
    start_ms: float = 0.0
    stop_ms: float = math.inf
    baseline: Any = 0.0

    def compile(self, *, n, dt, n_steps, dtype):
        if not self.start_ms < self.stop_ms:
            raise ValueError(
                f"Step needs start_ms < stop_ms, got {self.start_ms} and {self.stop_ms}"
            )
        s_on = max(0, math.ceil(self.start_ms / dt - _STEP_TOL))
        s_off = (
            n_steps + 1 if math.isinf(self.stop_ms) else math.ceil(self.stop_ms / dt - _STEP_TOL)
        )
        return StepDrive(
            amp=_per_neuron("Step.amp", self.amp, n, dtype),
            baseline=_per_neuron("Step.baseline", self.baseline, n, dtype),
            s_on=s_on,
            s_off=s_off,
        )

    def batch_size(self):
        return _batch_of(self.amp, self.baseline)


@dataclass(frozen=True)
class Ramp(Input):
    """A linear ramp from ``amp_start`` at ``start_ms`` to ``amp_stop`` at ``stop_ms``; 0 elsewhere."""

    amp_start: Any
    amp_stop: Any
    start_ms: float
    stop_ms: float

    def compile(self, *, n, dt, n_steps, dtype):
        if not self.start_ms < self.stop_ms:
            raise ValueError(
                f"Ramp needs start_ms < stop_ms, got {self.start_ms} and {self.stop_ms}"
            )
        s_on = max(0, math.ceil(self.start_ms / dt - _STEP_TOL))
        s_off = math.ceil(self.stop_ms / dt - _STEP_TOL)
        return RampDrive(
            a0=_per_neuron("Ramp.amp_start", self.amp_start, n, dtype),
            a1=_per_neuron("Ramp.amp_stop", self.amp_stop, n, dtype),
            s_on=s_on,
            s_off=s_off,
        )

    def batch_size(self):
        return _batch_of(self.amp_start, self.amp_stop)


class ArrayInput(Input):
    """A user-given current, piecewise constant: ``values[..., k]`` during [k·dt_ms, (k+1)·dt_ms).

    Args:
        values: shape (K,) (the same for every neuron) or (B, K) (one row per neuron).
        dt_ms: the time per value, a multiple of the simulation dt (e.g. 1.0 ms).

    The last value is held if the simulation runs longer than K·dt_ms. NaN or inf values and
    wrong shapes raise ValueError naming them.
    """

    def __init__(self, values, dt_ms: float):
        if not _is_traced(values):
            arr = np.asarray(values)
            if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
                raise ValueError(
                    f"ArrayInput values must have shape (K,) or (B, K) with K >= 1, got {arr.shape}"
                )
            if not np.issubdtype(arr.dtype, np.number):
                raise ValueError(f"ArrayInput values must be numbers, got dtype {arr.dtype}")
            bad = np.argwhere(~np.isfinite(arr))
            if bad.size:
                raise ValueError(
                    f"ArrayInput values contain {len(bad)} non-finite value(s), first at index "
                    f"{tuple(int(i) for i in bad[0])} ({arr[tuple(bad[0])]})"
                )
        elif jnp.ndim(values) not in (1, 2):
            raise ValueError(
                f"ArrayInput values must have shape (K,) or (B, K), got {jnp.shape(values)}"
            )
        if not (isinstance(dt_ms, (int, float)) and math.isfinite(dt_ms) and dt_ms > 0):
            raise ValueError(f"ArrayInput dt_ms must be a positive number, got {dt_ms!r}")
        self.values = values
        self.dt_ms = float(dt_ms)

    def compile(self, *, n, dt, n_steps, dtype):
        sub = _steps("ArrayInput dt_ms", self.dt_ms, dt)
        if sub < 1:
            raise ValueError(f"ArrayInput dt_ms={self.dt_ms} is smaller than dt={dt}")
        v = jnp.asarray(self.values, dtype)
        if v.ndim == 1:  # the same current for every neuron: not batched
            return ArrayDrive(values=v, sub=sub, per_neuron=False)
        if v.shape[0] != n:
            raise ValueError(f"ArrayInput has {v.shape[0]} rows but {n} neurons are simulated")
        return ArrayDrive(values=v, sub=sub, per_neuron=True)

    def batch_size(self):
        return np.shape(self.values)[0] if np.ndim(self.values) == 2 else None

    def describe(self):
        return {"type": "ArrayInput", "shape": list(np.shape(self.values)), "dt_ms": self.dt_ms}


@dataclass(frozen=True)
class OU(Input):
    """Ornstein–Uhlenbeck current ``dI = (mean − I)/tau dt + sd·sqrt(2/tau) dW``.

    Sampled exactly (no discretisation error) every ``update_ms`` (default: every step) and held
    constant in between: ``I ← mean + (I − mean)·a + sd·sqrt(1 − a²)·ξ`` with ``a = exp(−Δ/tau)``.

    Args:
        mean: stationary mean.
        sd: stationary standard deviation (σ·sqrt(tau/2) in terms of the noise intensity σ).
        tau_ms: correlation time (1/θ).
        update_ms: time between updates (a multiple of dt), or None for every step.
        i0: the current at t = 0 (default: ``mean``).
    """

    mean: Any = 0.0
    sd: Any = 1.0
    tau_ms: Any = 5.0
    update_ms: float | None = None
    i0: Any = None
    n_random = 1

    @classmethod
    def from_sigma(cls, mean, sigma, theta, **kw) -> OU:
        """From ``dI = θ(μ − I)dt + σ dW`` (θ in 1/ms, σ in current/√ms)."""
        return cls(mean=mean, sd=sigma / math.sqrt(2.0 * theta), tau_ms=1.0 / theta, **kw)

    def compile(self, *, n, dt, n_steps, dtype):
        every = 1 if self.update_ms is None else _steps("OU update_ms", self.update_ms, dt)
        if every < 1:
            raise ValueError(f"OU update_ms={self.update_ms} is smaller than dt={dt}")
        tau = _per_neuron("OU.tau_ms", self.tau_ms, n, dtype, minimum=0.0, strict=True)
        sd = _per_neuron("OU.sd", self.sd, n, dtype, minimum=0.0)
        mean = _per_neuron("OU.mean", self.mean, n, dtype)
        i0 = mean if self.i0 is None else _per_neuron("OU.i0", self.i0, n, dtype)
        a = jnp.exp(-(every * dt) / tau)
        return OUDrive(mean=mean, decay=a, kick=sd * jnp.sqrt(1.0 - a * a), i0=i0, every=every)

    def batch_size(self):
        return _batch_of(self.mean, self.sd, self.tau_ms, *([] if self.i0 is None else [self.i0]))


@dataclass(frozen=True)
class PoissonSynapses(Input):
    """Conductance-based excitatory and inhibitory input from Poisson spike trains.

    Each arrival adds ``w_e`` (``w_i``) to an exponentially decaying conductance with time constant
    ``tau_e_ms`` (``tau_i_ms``); the current is ``g_e·(e_e − V) + g_i·(e_i − V)``. Arrivals are
    Poisson counts per step, drawn exactly by inversion; the conductance during a step is its value
    at the start of the step, and the step's arrivals are added at its end.

    Args:
        rate_e_hz, rate_i_hz: total arrival rates (Hz) of excitatory and inhibitory events.
        w_e, w_i: conductance increments per event (mS/cm² or nS, as the neuron's units).
        tau_e_ms, tau_i_ms: decay time constants (ms).
        e_e, e_i: reversal potentials (mV).

    The defaults (area units) give about 10 Hz irregular firing (ISI CV ≈ 0.85).
    """

    rate_e_hz: Any = 2000.0
    rate_i_hz: Any = 1000.0
    w_e: Any = 0.015
    w_i: Any = 0.02
    tau_e_ms: Any = 3.0
    tau_i_ms: Any = 10.0
    e_e: Any = 0.0
    e_i: Any = -80.0
    n_random = 2

    def compile(self, *, n, dt, n_steps, dtype):
        lam_e = _per_neuron("rate_e_hz", self.rate_e_hz, n, dtype, minimum=0.0) * (dt * 1e-3)
        lam_i = _per_neuron("rate_i_hz", self.rate_i_hz, n, dtype, minimum=0.0) * (dt * 1e-3)

        def kmax(name, rate, lam):
            if _is_traced(rate):  # differentiating w.r.t. a rate: assume ≤ 1 event per step
                return rng.poisson_kmax(1.0)
            top = float(np.max(np.asarray(lam)))
            if top > rng.MAX_POISSON_MEAN:
                raise ValueError(
                    f"PoissonSynapses.{name}={float(np.max(np.asarray(rate))):g} Hz gives {top:g} "
                    f"events per step of dt={dt} ms; at most {rng.MAX_POISSON_MEAN:g} are supported "
                    "(use a smaller dt, or a lower rate with larger weights)"
                )
            return rng.poisson_kmax(top)

        kmax_e = kmax("rate_e_hz", self.rate_e_hz, lam_e)
        kmax_i = kmax("rate_i_hz", self.rate_i_hz, lam_i)
        tau_e = _per_neuron("tau_e_ms", self.tau_e_ms, n, dtype, minimum=0.0, strict=True)
        tau_i = _per_neuron("tau_i_ms", self.tau_i_ms, n, dtype, minimum=0.0, strict=True)
        w_e = _per_neuron("w_e", self.w_e, n, dtype, minimum=0.0)
        w_i = _per_neuron("w_i", self.w_i, n, dtype, minimum=0.0)
        return SynapseDrive(
            lam_e=lam_e,
            lam_i=lam_i,
            w_e=w_e,
            w_i=w_i,
            dec_e=jnp.exp(-dt / tau_e),
            dec_i=jnp.exp(-dt / tau_i),
            e_e=_per_neuron("e_e", self.e_e, n, dtype),
            e_i=_per_neuron("e_i", self.e_i, n, dtype),
            # start at the mean conductance, so there is no start-up transient
            g0_e=w_e * lam_e / (1.0 - jnp.exp(-dt / tau_e)),
            g0_i=w_i * lam_i / (1.0 - jnp.exp(-dt / tau_i)),
            kmax_e=kmax_e,
            kmax_i=kmax_i,
        )

    def batch_size(self):
        return _batch_of(
            self.rate_e_hz,
            self.rate_i_hz,
            self.w_e,
            self.w_i,
            self.tau_e_ms,
            self.tau_i_ms,
            self.e_e,
            self.e_i,
        )


def as_input(x) -> Input:
    """An :class:`Input`, or a single number (a constant current).

    Arrays are refused: a 1-D array could be a current trace (``ArrayInput(values, dt_ms)``) or
    one constant per neuron (``Constant(values)``), so the caller must say which.
    """
    if isinstance(x, Input):
        return x
    if np.ndim(x) >= 1 and not isinstance(x, (str, bytes)):
        raise ValueError(
            f"input is an array of shape {np.shape(x)}: pass ArrayInput(values, dt_ms) for a "
            "current trace, or Constant(values) for one constant current per neuron"
        )
    if isinstance(x, (int, float, np.number)) and not isinstance(x, bool):
        return Constant(float(x))
    raise ValueError(
        f"input must be an Input (OU, Step, Ramp, ArrayInput, PoissonSynapses, Constant, or a sum) "
        f"or a number; got {type(x).__name__}. For a current array use ArrayInput(values, dt_ms)."
    )
