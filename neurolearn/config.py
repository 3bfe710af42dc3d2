"""Typed training configs and how the command line changes them.

Every task's config is a dataclass extending :class:`TrainConfig` (the engine's settings:
optimiser, schedule, epochs, early stopping, seed, batching). Defaults reproduce the task's
documented experiment. ``--config`` takes a named preset of the task (``seed``, ``best``,
``small``), a JSON file, a JSON object, or ``key=value`` pairs (values parsed as JSON, else as
text), later ones winning: ``--config small learning_rate=3e-4 model.channels=[4,8,16]``.

The model is a config choice: ``model`` holds a model config (:mod:`neurolearn.models`),
``model=lstm`` switches the family, ``model.KEY=VALUE`` changes one of its settings.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .models.cnn import CNNConfig

__all__ = [
    "TrainConfig",
    "parse_overrides",
    "parse_config_args",
    "make_config",
    "config_to_dict",
    "config_diff",
    "monitor_mode",
]

OPTIMIZERS = ("adam", "adamw", "sgd", "adagrad")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "exponential")


@dataclass(frozen=True)
class TrainConfig:
    """Engine settings shared by every task.

    Attributes:
        epochs: passes over the training split.
        batch_size: examples per optimiser step.
        learning_rate: peak learning rate.
        optimizer: ``"adam"``, ``"adamw"`` (with ``weight_decay``), ``"sgd"`` (with
            ``momentum``) or ``"adagrad"`` (Keras 2's: accumulators start at 0, ε = 1e-7).
        weight_decay: decoupled weight decay of adamw.
        momentum: SGD momentum (0: plain SGD).
        schedule: ``"constant"``; ``"cosine"`` (to 0 at the last epoch); ``"warmup_cosine"``
            (linear warm-up over ``warmup_epochs``, then cosine); ``"exponential"`` (times
            ``decay_rate`` every ``decay_epochs``).
        warmup_epochs, decay_rate, decay_epochs: schedule parameters.
        clip_norm: clip gradients to this global norm (None: no clipping).
        patience: stop after this many epochs without improvement of the monitored metric
            (None: never stop early).
        min_delta: smallest change that counts as an improvement.
        model: the model family and its settings (a config of :mod:`neurolearn.models`).
        l2: L2 penalty ``l2 · Σ w²`` over the parameters whose path matches ``l2_params``.
        l2_params: regular expression over parameter paths (``convs/0/kernel``, ...;
            ``re.search``); ``""`` matches every parameter.
        monitor: metric for early stopping and the best checkpoint (None: the task's).
        monitor_mode: ``"min"`` or ``"max"`` (None: the task's for its own metric; otherwise
            "max" for accuracies, AUCs, F1, R², explained variance and correlations, else
            "min").
        restore_best: evaluate, report and predict with the best epoch's weights (else the last).
        seed: everything random (initialisation, split, order, dropout) derives from it.
        eval_batch_size: examples per evaluation call.
        steps_per_call: training steps per compiled call (``lax.scan``); larger means less
            Python overhead, a coarser progress bar.
        device_budget_mb: most MB of training data to place on the device (None: automatic).

    ``eval_batch_size``, ``steps_per_call`` and ``device_budget_mb`` may change on ``--resume``
    (they decide how the same steps are run, not which), but they change the compiled program:
    a resumed run is bit-identical to an uninterrupted one only when they are unchanged
    (otherwise it agrees up to floating-point rounding).
        checkpoint_every: epochs between "latest" checkpoints (the best is saved when it
            improves).
    """

    epochs: int = 100
    batch_size: int = 100
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.0
    schedule: str = "constant"
    warmup_epochs: float = 0.0
    decay_rate: float = 0.1
    decay_epochs: float = 10.0
    clip_norm: float | None = None
    model: Any = CNNConfig()
    l2: float = 0.0
    l2_params: str = ""
    patience: int | None = None
    min_delta: float = 0.0
    monitor: str | None = None
    monitor_mode: str | None = None
    restore_best: bool = True
    seed: int = 0
    eval_batch_size: int = 256
    steps_per_call: int = 64
    device_budget_mb: float | None = None
    checkpoint_every: int = 1

    def __post_init__(self):
        for name in (
            "epochs",
            "batch_size",
            "eval_batch_size",
            "steps_per_call",
            "checkpoint_every",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"config {name} must be >= 1, got {getattr(self, name)}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"config learning_rate must be > 0, got {self.learning_rate}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(
                f"config optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"config schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"config patience must be >= 1 or null, got {self.patience}")
        if self.clip_norm is not None and not self.clip_norm > 0:
            raise ValueError(f"config clip_norm must be > 0 or null, got {self.clip_norm}")
        if self.seed < 0:
            raise ValueError(f"config seed must be >= 0, got {self.seed}")
        if self.monitor_mode not in (None, "min", "max"):
            raise ValueError(
                f"config monitor_mode must be min, max or null, got {self.monitor_mode!r}"
            )
        if self.decay_epochs <= 0 or self.decay_rate <= 0:
            raise ValueError("config decay_epochs and decay_rate must be > 0")
        if not (self.l2 >= 0 and math.isfinite(self.l2)):
            raise ValueError(f"config l2 must be >= 0, got {self.l2}")
        import re

        try:
            re.compile(self.l2_params)
        except re.error as e:
            raise ValueError(
                f"config l2_params {self.l2_params!r} is not a regular expression: {e}"
            ) from None


# Settings that may differ when a run is resumed: how long it trains (epochs; patience and
# min_delta, which also decide the best epoch) and how it runs (batching of steps and of
# evaluation, data placement, checkpoint frequency), not the model, data, optimiser or seed.
# `epochs` may change only with a schedule that does not depend on it (EPOCH_DEPENDENT_SCHEDULES
# fit the learning rate to the number of epochs set at the first start). run.json records every
# resume and what it changed ("resumes"); config.json holds the config of the latest start.
RESUMABLE_CHANGES = (
    "epochs",
    "patience",
    "min_delta",
    "steps_per_call",
    "eval_batch_size",
    "device_budget_mb",
    "checkpoint_every",
)


# Schedules whose learning rate at a step depends on `epochs` (they end at the last epoch).
EPOCH_DEPENDENT_SCHEDULES = ("cosine", "warmup_cosine")


def config_to_dict(cfg) -> dict[str, Any]:
    """The config as JSON-able values (tuples as lists, the model as ``{"name": ...}``)."""
    from .models.registry import model_to_dict

    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if f.name == "model" and dataclasses.is_dataclass(v):
            v = model_to_dict(v)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Convert a JSON value to the field's type, or raise ValueError naming the field."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(name, value, a)
            except ValueError as e:
                errors.append(str(e))
        raise ValueError(errors[0] if errors else f"config {name}: bad value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config {name} must be a list, got {value!r}")
        (item,) = typing.get_args(tp)[:1]
        return tuple(_coerce(name, v, item) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"config {name} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ValueError(f"config {name} must be an integer, got {value!r}")
        return int(value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"config {name} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ValueError(f"config {name} must be text, got {value!r}")
        return value
    return value


def parse_config_args(items: list[str] | None) -> tuple[str | None, dict[str, Any]]:
    """``--config`` arguments → ``(preset, overrides)``: at most one bare word names a preset
    (``seed``, ``best``, ``small``); the rest as :func:`parse_overrides`."""
    presets = [
        t.strip()
        for t in items or []
        if t.strip() and "=" not in t and not t.strip().startswith("{") and not t.endswith(".json")
    ]
    if len(presets) > 1:
        raise ValueError(f"--config names more than one preset: {presets}; give one")
    rest = [t for t in items or [] if t.strip() not in presets]
    return (presets[0] if presets else None), parse_overrides(rest)


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``--config`` arguments → a dict: JSON files, JSON objects and ``key=value`` pairs, later
    ones winning."""
    out: dict[str, Any] = {}
    for item in items or []:
        text = item.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"--config {item!r} is not valid JSON: {e}") from None
            out.update(obj)
        elif "=" in text:
            k, v = text.split("=", 1)
            try:
                out[k.strip()] = json.loads(v)
            except json.JSONDecodeError:
                out[k.strip()] = v
        elif text.endswith(".json"):
            path = Path(text)
            if not path.exists():
                raise FileNotFoundError(f"config file {text!r} does not exist")
            try:
                obj = json.loads(path.read_text())
            except json.JSONDecodeError as e:
                raise ValueError(f"config file {text!r} is not valid JSON: {e}") from None
            if not isinstance(obj, dict):
                raise ValueError(f"config file {text!r} should hold a JSON object")
            out.update(obj)
        else:
            raise ValueError(
                f"--config {item!r}: expected a preset name, KEY=VALUE, a JSON object or a "
                ".json file"
            )
    return out


def _nest(source: dict[str, Any]) -> dict[str, Any]:
    """``{"model.hidden": 8}`` → ``{"model": {"hidden": 8}}`` (merged with a ``model`` entry)."""
    out: dict[str, Any] = {}
    for k, v in source.items():
        head, dot, rest = k.partition(".")
        if not dot:
            if isinstance(out.get(k), dict) and isinstance(v, dict):
                out[k] = {**out[k], **v}
            elif isinstance(out.get(k), dict) and isinstance(v, str):
                out[k] = {"name": v, **out[k]}
            else:
                out[k] = v
            continue
        cur = out.get(head)
        if isinstance(cur, str):
            cur = {"name": cur}
        elif not isinstance(cur, dict):
            cur = {}
        out[head] = {**cur, rest: v}
    return out


def make_config(
    config_cls: type,
    overrides: dict[str, Any] | None = None,
    *,
    base: dict[str, Any] | None = None,
    prefix: str = "",
):
    """Build a config from defaults, then ``base`` (e.g. a saved run), then ``overrides``.

    Keys may be dotted (``model.hidden``) to change one field of a nested config.

    Raises:
        ValueError: an unknown key (the message lists the valid ones) or a bad value.
    """
    hints = typing.get_type_hints(config_cls)
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    names = list(fields)
    values: dict[str, Any] = {}
    for source in (base or {}, overrides or {}):
        source = _nest(source)
        unknown = sorted(set(source) - set(names))
        if unknown:
            raise ValueError(
                f"unknown config key(s) {[prefix + k for k in unknown]} for "
                f"{config_cls.__name__}; valid keys: {', '.join(prefix + n for n in names)}"
            )
        for k, v in source.items():
            if k == "model" and not prefix:
                from .models.registry import model_config

                f = fields["model"]
                default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
                current = values.get("model", default)
                values[k] = model_config(v, current=current)
            else:
                values[k] = _coerce(prefix + k, v, hints[k])
    return config_cls(**values)


def config_diff(a, b) -> dict[str, tuple[Any, Any]]:
    """``{field: (a value, b value)}`` for every field that differs."""
    da, db = config_to_dict(a), config_to_dict(b)
    return {k: (da[k], db.get(k)) for k in da if da[k] != db.get(k)}


_HIGHER_IS_BETTER = (
    "accuracy",
    "auc",
    "f1",
    "r2",
    "explained_variance",
    "corr",
    "precision",
    "recall",
)


def monitor_mode(monitor: str, task_monitor: tuple[str, str], cfg) -> str:
    """Whether smaller (``"min"``) or larger (``"max"``) values of ``monitor`` are better."""
    if cfg.monitor_mode:
        return cfg.monitor_mode
    if monitor == task_monitor[0]:
        return task_monitor[1]
    return "max" if any(s in monitor for s in _HIGHER_IS_BETTER) else "min"
