"""Tasks: what to learn from which dataset. Each task registers itself; the engine does the rest.

A task is a subclass of :class:`Task` with a typed config (a dataclass extending
:class:`neurolearn.config.TrainConfig` whose defaults reproduce the seed's experiment), named
presets (``seed``, ``best``, ``small``) and the few methods that are particular to it: which
arrays it reads (``schema``), its examples (``examples``: rows or windows, with their groups),
how to split them (``split``), its loss, metrics and baselines, and its figure. The model is
a config choice (``config.model``, built through :mod:`neurolearn.models`); shared
preparation (split → normalisation fitted on training data → sources) is
:func:`neurolearn.data.prepare.prepare`. :func:`neurolearn.train.train_and_evaluate` runs
any task the same way.

Add a task = a module ``neurolearn/tasks/NAME.py`` that defines the subclass and calls
``register(MyTask())`` + one import line in ``neurolearn/tasks/__init__.py``.
"""

from __future__ import annotations

import abc
import os
from typing import Any, ClassVar

import numpy as np

from ..config import TrainConfig
from ..data.normalise import Normalisation
from ..data.prepare import Examples, Prepared, prepare, whole_file_split
from ..data.readers import ArraySpec, Dataset, read_dataset
from ..data.splits import Split

__all__ = ["Task", "Prepared", "register", "get", "all_tasks"]


class Task(abc.ABC):
    """Base class of a learning task. Subclasses set the class attributes and the methods below.

    Class attributes:
        name: registry name (``neurolearn train NAME``).
        description: one line for ``neurolearn tasks``.
        dataset: the ``dataset`` attribute its data files carry (e.g. ``"hh-voltage"``).
        other_datasets: further dataset kinds it reads (e.g. ``("spikefinder",)`` for a task
            on calcium recordings that also takes Spikefinder-layout CSVs).
        Config: its config dataclass (a :class:`TrainConfig` subclass).
        kind: ``"regression"`` (targets normalised, metrics in physical units) or ``"binary"``
            (0/1 labels, predictions are probabilities).
        monitor: ``(metric, "min" | "max")`` for early stopping and the best checkpoint, e.g.
            ``("val_rmse", "min")``; ``config.monitor`` overrides the metric.
        units: unit of each metric (for reports), e.g. ``{"rmse": "mV"}``.
        frame_rate_hz: samples per second the model works at (prediction inputs must match, or
            the task must resample them in :meth:`predict_traces`).
        presets: named configs, ``{name: overrides of the defaults}``: ``seed`` reproduces the
            seed's architecture and training, ``best`` is this package's, ``small`` trains in
            seconds for the quickstart (``neurolearn train TASK --config small``).
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    dataset: ClassVar[str] = ""
    other_datasets: ClassVar[tuple[str, ...]] = ()
    Config: ClassVar[type[TrainConfig]] = TrainConfig
    kind: ClassVar[str] = "regression"
    monitor: ClassVar[tuple[str, str]] = ("val_loss", "min")
    units: ClassVar[dict[str, str]] = {}
    frame_rate_hz: ClassVar[float | None] = None
    predict_key: ClassVar[str] = "X"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"seed": {}}

    def preset(self, name: str | None) -> dict[str, Any]:
        """The overrides of preset ``name`` (None: the defaults, ``{}``).

        Raises:
            ValueError: no such preset (the message lists the task's).
        """
        if name is None:
            return {}
        if name not in self.presets:
            raise ValueError(
                f"task {self.name!r} has no config preset {name!r}; its presets: "
                f"{', '.join(self.presets)} (or give KEY=VALUE pairs)"
            )
        return dict(self.presets[name])

    # ------------------------------------------------------------------ data
    @abc.abstractmethod
    def schema(self, cfg) -> dict[str, ArraySpec]:
        """Arrays the task reads from its data files."""

    def load(self, path: str | os.PathLike, cfg) -> Dataset:
        """Read and check a data file (dataset kind, shapes, dtypes, NaN, labels)."""
        return read_dataset(path, self.schema(cfg), dataset=self.dataset)

    @abc.abstractmethod
    def examples(self, data: Dataset, cfg) -> tuple[Examples, Examples | None]:
        """The examples of a data file, and separate test examples if the file has them."""

    @abc.abstractmethod
    def split(self, ex: Examples, cfg, *, key) -> Split:
        """Which examples train, validate and test (by whole traces, trials, cells or time
        blocks: never interleaved overlapping windows)."""

    def balance_labels(self, ex: Examples, cfg) -> np.ndarray | None:
        """Class of every example for class-balanced sampling (None: no balancing)."""
        return None

    def epoch_size(self, cfg) -> int | None:
        """Examples drawn per epoch (None: as many as there are training examples): balanced
        draws when :meth:`balance_labels` balances the classes, else a fresh random subset of
        the training examples each epoch."""
        return None

    def describe(self, data: Dataset, ex: Examples, test: Examples | None, cfg) -> dict:
        """What to record about the data in run.json's ``info``."""
        return {}

    def prepare(
        self,
        data: Dataset,
        cfg,
        *,
        key,
        normalisation: Normalisation | None = None,
        whole: bool = False,
    ) -> Prepared:
        """Examples → split → normalisation fitted on the training examples → sources.

        Args:
            normalisation: apply it instead of fitting one (evaluating a trained model).
            whole: hold out every example (an independent file: score all of it).
        """
        ex, test = self.examples(data, cfg)
        if whole:
            split = whole_file_split(len(ex), reason="an independent file: every example scored")
        else:
            split = self.split(ex, cfg, key=key)
        return prepare(
            ex,
            split,
            normalisation=normalisation,
            test=test,
            balance=self.balance_labels(ex, cfg),
            out_features=self.out_features(ex, cfg),
            info=self.describe(data, ex, test, cfg),
        )

    def out_features(self, ex: Examples, cfg) -> int | None:
        """The model's outputs per example/step (None: from ``y``'s shape)."""
        return None

    # ------------------------------------------------------------------ model
    def build_model(self, cfg, *, in_features: int, out_features: int, rngs):
        """The Flax NNX model of ``cfg.model`` (through the model registry)."""
        from ..models import build

        return build(cfg.model, in_features=in_features, out_features=out_features, rngs=rngs)

    def init_model(self, model, prepared: Prepared, cfg) -> None:
        """Change the freshly initialised model before training (e.g. start its read-out at
        the training data's mean); default: nothing. Must be deterministic."""
        return None

    def receptive_field(self, model) -> int | None:
        """Input frames one output depends on (None: unbounded, e.g. a recurrent model)."""
        return getattr(model, "receptive_field", None)

    def forward(self, model, x, cfg, *, train: bool, rngs=None):
        """Model outputs for a batch of normalised inputs (a pytree). ``rngs`` has the streams
        ``dropout`` and ``noise``: per step in training, fixed at evaluation."""
        return model(x, train=train, rngs=rngs)

    @abc.abstractmethod
    def example_loss(self, outputs, batch: dict[str, Any], cfg):
        """Loss of each example, shape (batch,), in normalised units."""

    def penalty(self, model, cfg):
        """Regularisation added to the mean loss besides the config's L2; default 0."""
        return 0.0

    def predictions(self, outputs, cfg):
        """Predictions from outputs: normalised targets (regression) or P(y=1) (binary)."""
        return outputs

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, ev, split: str, cfg) -> dict[str, float]:
        """Metrics of one split. ``ev`` predicts (:meth:`~neurolearn.engine.Engine.predict`,
        normalised units), gives targets, the split's group ids (``ev.groups(split)``) and the
        normalisation; tasks with grouped metrics (per trial, cell, block) or whole-sequence
        predictions override this. The default pools every example: ``loss`` and
        :meth:`metrics`."""
        pred, losses = ev.predict(split)
        norm = ev.normalisation
        y = ev.targets(split)
        return {
            "loss": float(losses.mean()),
            **self.metrics(norm.invert_y(y), norm.invert_y(pred), cfg),
        }

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

    def plot_metrics(self, path, metrics: dict, baselines: dict, cfg) -> bool:
        """An extra figure of the final metrics (e.g. a score against a noise level) at
        ``path``; returns whether one was drawn. Optional: the default draws none."""
        return False

    # ------------------------------------------------------------------ prediction on new data
    def prediction_input(self, path, *, key: str, cfg) -> tuple[list[np.ndarray], float | None]:
        """Traces to predict from a file, ``(list of (T, C) arrays, frame rate or None)``.

        The default reads a Spikefinder-layout CSV (one trace per column, frame rate unknown)
        or the HDF5 array ``key`` of shape (N, T, C), whose frame rate comes from the file's
        attributes (``config.sample_rate_hz``, ``frame_rate``, ``config.frame_rate``,
        ``config.sample_ms``, ``dt_sample_ms``, ``sample_ms``, ``bin_ms``)."""
        from ..data.readers import frame_rate_of, is_spikefinder_path

        if is_spikefinder_path(path):
            from neurosim.spikefinder import read_table

            return [c.reshape(-1, 1) for c in read_table(path)], None
        ds = read_dataset(path, {key: ArraySpec(3, kind="f")}, purpose="prediction")
        return list(ds[key]), frame_rate_of(ds.attrs)

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
        windows = self.prediction_windows(run.config)
        if windows is not None:
            return [self._predict_by_window(run, tr, *windows) for tr in traces]
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

    def prediction_windows(self, cfg) -> tuple[int, str | int] | None:
        """``(window, target)`` for tasks whose examples are windows with one target each
        (predictions of a trace are then made window by window); None: whole traces."""
        return None

    @staticmethod
    def _predict_by_window(run, trace: np.ndarray, window: int, target) -> np.ndarray:
        """One prediction per frame of ``trace`` (T, C): the window whose target is that frame,
        NaN for frames no window targets (e.g. the first ``window`` of a forecast).

        ``target`` is a name (``"next"``, ``"centre"``, ``"last"``) or the frame's offset in
        the window (an int in [0, window))."""
        from ..data.windows import sliding_windows, target_offset

        trace = np.asarray(trace)
        span = window + (1 if target == "next" else 0)
        if len(trace) < span:
            raise ValueError(
                f"a trace of {len(trace)} frames is shorter than one window ({span} frames)"
            )
        if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
            if not 0 <= target < window:
                raise ValueError(f"a target offset must be in [0, {window}), got {target}")
            offset = int(target)
        else:
            offset = target_offset(window, target)
        views = sliding_windows(trace[: len(trace) - (span - window)], window)
        chunk = max(1, (1 << 24) // max(1, window * trace[0].size))  # ~64 MB of float32
        pred = np.concatenate(
            [run.predict(views[i : i + chunk]) for i in range(0, len(views), chunk)]
        )
        out = np.full((len(trace),) + pred.shape[1:], np.nan)
        out[offset : offset + len(pred)] = pred
        return out

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
