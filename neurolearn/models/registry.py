"""The model registry: every model family is a module with a config dataclass and a builder.

A task's config holds a model config (``config.model``); the engine builds the model from it
with :func:`build`, so the model is a config choice and not task code::

    neurolearn train ring-counts --data ring.h5 --out run --config model=lstm model.hidden=[128]

On the command line and in ``config.json`` a model config is a dict with the family's ``name``
and its fields (``{"name": "lstm", "hidden": [128], ...}``); ``model=NAME`` switches the family
(its defaults), ``model.KEY=VALUE`` changes one field.

Every model is called as ``model(x, train=False, rngs=None)`` with ``x`` of shape
``(batch, steps, in_features)``; ``rngs`` (an ``nnx.Rngs`` with the streams ``dropout`` and
``noise``) is given in training and, with fixed keys, at evaluation. A model exposes
``receptive_field`` (input steps one output depends on, or None when unbounded).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = [
    "register_model",
    "model_names",
    "model_config",
    "model_to_dict",
    "describe_model",
    "build",
]

_MODELS: dict[str, tuple[type, Callable[..., Any]]] = {}


def register_model(name: str, config_cls: type, builder: Callable[..., Any]) -> None:
    """Register a model family: ``builder(cfg, *, in_features, out_features, rngs)``."""
    if name in _MODELS and _MODELS[name][0] is not config_cls:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = (config_cls, builder)


def model_names() -> list[str]:
    return sorted(_MODELS)


def _family(name: str) -> tuple[type, Callable[..., Any]]:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(
            f"config model: unknown model {name!r}; known models: {', '.join(model_names())}"
        ) from None


def name_of(cfg) -> str:
    """The registry name of a model config."""
    for name, (cls, _) in _MODELS.items():
        if type(cfg) is cls:
            return name
    raise ValueError(f"{type(cfg).__name__} is not a registered model config")


def model_to_dict(cfg) -> dict[str, Any]:
    """``{"name": family, field: value, ...}`` (tuples as lists): the JSON form."""
    out: dict[str, Any] = {"name": name_of(cfg)}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


def describe_model(cfg) -> str:
    """One line: ``cnn(channels=[2, 6, 16], kernels=[11, 5, 1], causal=False)``."""
    d = model_to_dict(cfg)
    name = d.pop("name")
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in d.items()) + ")"


def model_config(value, *, current=None):
    """A model config from a family name, a dict (``{"name": ..., fields}``) or a config.

    Args:
        value: ``"lstm"`` (that family's defaults), ``{"name": "lstm", "hidden": [32]}`` (a dict
            without ``name`` changes fields of ``current``), or a model config.
        current: the config that a dict without ``name`` (or with the same name) updates.

    Raises:
        ValueError: an unknown family, an unknown field (the message lists the valid ones) or a
            bad value.
    """
    from ..config import make_config

    if isinstance(value, str):
        cls, _ = _family(value)
        if current is not None and type(current) is cls:
            return current
        return cls()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name_of(value)
        return value
    if not isinstance(value, dict):
        raise ValueError(
            f"config model must be a model name ({', '.join(model_names())}) or an object of "
            f"its settings, got {value!r}"
        )
    fields = dict(value)
    name = fields.pop("name", None)
    if name is None and current is None:
        raise ValueError("config model needs a 'name' (the model family)")
    if name is None or (current is not None and name == name_of(current)):
        base = current
        cls = type(current)
    else:
        cls, _ = _family(name)
        base = None
    base_dict = (
        {} if base is None else {k: v for k, v in model_to_dict(base).items() if k != "name"}
    )
    return make_config(cls, fields, base=base_dict, prefix="model.")


def build(cfg, *, in_features: int, out_features: int, rngs):
    """The Flax NNX model of model config ``cfg``."""
    _, builder = _family(name_of(cfg))
    return builder(cfg, in_features=in_features, out_features=out_features, rngs=rngs)
