"""Tasks: what to learn from which dataset. Each task registers itself; the engine does the rest.

A task is a subclass of :class:`Task` with a typed config (a dataclass extending
:class:`neurolearn.config.TrainConfig` whose defaults reproduce the documented experiment) and a
handful of methods: which arrays it needs (``schema``), how to window, split and normalise them
(``prepare``), the model (``build_model``), its forward pass, per-example loss, metrics and
figures. :func:`neurolearn.train.train_and_evaluate` runs any task the same way.

Add a task = a module ``neurolearn/tasks/NAME.py`` that defines the subclass and calls
``register(MyTask())`` + one import line at the end of ``neurolearn/tasks/__init__.py``.
"""

from __future__ import annotations

import abc
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..config import TrainConfig
from ..data.normalise import Normalisation
from ..data.readers import ArraySpec, Dataset, read_dataset

__all__ = ["Task", "Prepared", "register", "get", "all_tasks"]


@dataclass
class Prepared:
    """A dataset made ready for training: sources per split, normalisation, and the record.

    Attributes:
        sources: ``{"train": ..., "val": ..., ["test": ...]}``, each an
            :class:`~neurolearn.data.ArraySource` or :class:`~neurolearn.data.WindowSource`
            holding *normalised* float32 inputs (and targets for regression), host arrays.
        normalisation: fitted on the training split only (or given, when evaluating).
        split: description of the split (method, sizes, held-out groups/blocks).
        balance: class label of each training example, for class-balanced sampling (None: off).
        info: anything else worth recording (shapes, units, frame rate).
    """

    sources: dict[str, Any]
    normalisation: Normalisation
    split: dict[str, Any]
    balance: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Task(abc.ABC):
    """Base class of a learning task. Subclasses set the class attributes and the methods below.

    Class attributes:
        name: registry name (``neurolearn train NAME``).
        description: one line for ``neurolearn tasks``.
        dataset: the ``dataset`` attribute its data files carry (e.g. ``"hh-voltage"``).
        Config: its config dataclass (a :class:`TrainConfig` subclass).
        kind: ``"regression"`` (targets normalised, metrics in physical units) or ``"binary"``
            (0/1 labels, predictions are probabilities).
        monitor: ``(metric, "min" | "max")`` for early stopping and the best checkpoint, e.g.
            ``("val_rmse", "min")``; ``config.monitor`` overrides the metric.
        units: unit of each metric (for reports), e.g. ``{"rmse": "mV"}``.
        frame_rate_hz: samples per second the model works at (prediction inputs must match, or
            the task must resample them in :meth:`predict_traces`).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    dataset: ClassVar[str] = ""
    Config: ClassVar[type[TrainConfig]] = TrainConfig
    kind: ClassVar[str] = "regression"
    monitor: ClassVar[tuple[str, str]] = ("val_loss", "min")
    units: ClassVar[dict[str, str]] = {}
    frame_rate_hz: ClassVar[float | None] = None
    predict_key: ClassVar[str] = "X"

    # ------------------------------------------------------------------ data
    @abc.abstractmethod
    def schema(self, cfg) -> dict[str, ArraySpec]:
        """Arrays the task reads from its data files."""

    def load(self, path: str | os.PathLike, cfg) -> Dataset:
        """Read and check a data file (dataset kind, shapes, dtypes, NaN, labels)."""
        return read_dataset(path, self.schema(cfg), dataset=self.dataset)

    @abc.abstractmethod
    def prepare(
        self, data: Dataset, cfg, *, key, normalisation: Normalisation | None = None
    ) -> Prepared:
        """Window, split and normalise. With ``normalisation`` given (evaluation), apply it
        instead of fitting a new one."""

    # ------------------------------------------------------------------ model
    @abc.abstractmethod
    def build_model(self, cfg, *, rngs):
        """The Flax NNX model for ``cfg``."""

    def receptive_field(self, model) -> int | None:
        """Input frames one output depends on (None: unbounded, e.g. a recurrent model)."""
        return getattr(model, "receptive_field", None)

    def forward(self, model, x, cfg, *, train: bool, rngs=None):
        """Model outputs for a batch of normalised inputs (a pytree)."""
        return model(x)

    @abc.abstractmethod
    def example_loss(self, outputs, batch: dict[str, Any], cfg):
        """Loss of each example, shape (batch,), in normalised units."""

    def penalty(self, model, cfg):
        """Regularisation added to the mean loss (e.g. L2 on weights); default 0."""
        return 0.0

    def predictions(self, outputs, cfg):
        """Predictions from outputs: normalised targets (regression) or P(y=1) (binary)."""
        return outputs

    # ------------------------------------------------------------------ evaluation
    @abc.abstractmethod
    def metrics(self, y_true: np.ndarray, y_pred: np.ndarray, cfg) -> dict[str, float]:
        """Metrics in physical units (targets and predictions already de-normalised)."""

    def baselines(self, prepared: Prepared, cfg) -> dict[str, dict[str, float]]:
        """Metrics of trivial predictors on the validation (and test) data, for the report."""
        return {}

    def plot_examples(self, path, examples: dict[str, dict[str, np.ndarray]], cfg) -> None:
        """Figure of predictions vs truth. ``examples[split] = {"x", "y", "pred"}`` (physical
        units, a few examples each). Optional: the default draws none."""
        return None

    # ------------------------------------------------------------------ prediction on new data
    def predict_traces(
        self, run, traces: list[np.ndarray], *, frame_rate: float | None = None
    ) -> list[np.ndarray]:
        """Predict each trace (physical units in and out, one array (T, C) per trace).

        The default runs the model on whole traces, grouped by length, at the task's frame
        rate. Window-based tasks (e.g. calcium → rate at the window centre) override this to
        slide windows over each trace, and tasks that can resample convert ``frame_rate`` to
        their own and the predictions back, so the output has one value per input frame.

        Raises:
            ValueError: wrong frame rate, or a trace shorter than the receptive field.
        """
        self.check_frame_rate(frame_rate)
        rf = self.receptive_field(run.model)
        out: list[np.ndarray | None] = [None] * len(traces)
        by_length: dict[int, list[int]] = {}
        for i, tr in enumerate(traces):
            by_length.setdefault(len(tr), []).append(i)
        for length, idx in by_length.items():
            if rf is not None and length < rf:
                raise ValueError(
                    f"trace {idx[0]} has {length} frames, shorter than the model's receptive "
                    f"field ({rf} frames)"
                )
            pred = run.predict(np.stack([traces[i] for i in idx]))
            for j, i in enumerate(idx):
                out[i] = pred[j]
        return out  # type: ignore[return-value]

    def check_frame_rate(self, frame_rate: float | None) -> None:
        if (
            frame_rate is not None
            and self.frame_rate_hz is not None
            and not np.isclose(frame_rate, self.frame_rate_hz)
        ):
            raise ValueError(
                f"task {self.name!r} predicts at {self.frame_rate_hz:g} Hz but the input is at "
                f"{frame_rate:g} Hz; resample the input first (this task does not resample)"
            )


_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add a task to the registry (its ``name`` must be new)."""
    if not task.name:
        raise ValueError("a task needs a name")
    if task.name in _REGISTRY and type(_REGISTRY[task.name]) is not type(task):
        raise ValueError(f"task {task.name!r} is already registered")
    _REGISTRY[task.name] = task
    return task


def get(name: str) -> Task:
    """The task called ``name``.

    Raises:
        KeyError: no such task (the message lists the known ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise KeyError(f"unknown task {name!r}; known tasks: {known}") from None


def all_tasks() -> dict[str, Task]:
    return dict(sorted(_REGISTRY.items()))
