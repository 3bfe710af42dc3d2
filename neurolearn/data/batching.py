"""Batches that keep the accelerator busy, reproducibly.

The order of an epoch is a pure function of ``(key, epoch)``: an interrupted run that resumes at
epoch k sees exactly the batches it would have seen. Each epoch is an int32 array of example
indices of shape (steps, batch) and a float32 weight array of the same shape; the last batch is
filled up with weight-0 copies of the first index, so every step has the same shape (one
compilation) and the loss is still the mean over the real examples.

Class balancing by sampling (:class:`Batcher` with ``balance=labels``): each epoch draws the same
number of examples of every class, without replacement where a class has enough examples and
with replacement otherwise (the calcium tutorial trained on balanced spike/no-spike windows).

Where the data lives: :func:`fits_on_device` decides whether the source's arrays go to the
device once (then batches are gathered there, inside the compiled step) or stay on the host
(then :func:`prefetch` prepares the next batches on a background thread while the device works).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .splits import numpy_rng

__all__ = ["Batcher", "fits_on_device", "nbytes", "prefetch"]


class Batcher:
    """Epochs of batch indices over a subset of examples.

    Args:
        indices: the examples to draw from (e.g. ``split.train``), shape (N,).
        batch_size: examples per step.
        key: JAX key or int seed; epoch e uses a generator derived from ``(key, e)``.
        shuffle: permute each epoch (False: the given order, e.g. for evaluation).
        balance: class label of every example in ``indices`` (0/1 or small ints): draw equal
            numbers per class each epoch.
        epoch_size: examples per epoch (default: ``len(indices)``); without balancing, fewer
            than ``len(indices)`` draws a new random subset (without replacement) each epoch.
    """

    def __init__(
        self,
        indices,
        batch_size: int,
        *,
        key,
        shuffle: bool = True,
        balance=None,
        epoch_size: int | None = None,
    ):
        self.indices = np.asarray(indices, dtype=np.int64)
        if self.indices.ndim != 1 or self.indices.size == 0:
            raise ValueError("a batcher needs a non-empty 1-D array of example indices")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self._seed = numpy_rng(key).integers(0, 2**63 - 1)
        self.balance = None
        if balance is not None:
            labels = np.asarray(balance)
            if labels.shape != self.indices.shape:
                raise ValueError(
                    f"balance labels have shape {labels.shape}, expected {self.indices.shape}"
                )
            self.classes = np.unique(labels)
            if self.classes.size < 2:
                raise ValueError(
                    f"class balancing needs at least two classes in the training split, got "
                    f"only {self.classes.tolist()}"
                )
            self.balance = labels
        self.epoch_size = int(epoch_size or self.indices.size)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.epoch_size // self.batch_size)

    def rng(self, epoch: int) -> np.random.Generator:
        return np.random.default_rng([int(self._seed), int(epoch)])

    def order(self, epoch: int) -> np.ndarray:
        """The examples of ``epoch``, in order, shape (epoch_size,)."""
        if self.balance is None:
            if self.epoch_size < self.indices.size:  # a fresh random subset every epoch
                pick = self.rng(epoch).choice(self.indices.size, self.epoch_size, replace=False)
                return self.indices[pick if self.shuffle else np.sort(pick)]
            if not self.shuffle:
                return self.indices
            return self.indices[self.rng(epoch).permutation(self.indices.size)]
        rng = self.rng(epoch)
        k = self.classes.size
        per = [self.epoch_size // k + (1 if i < self.epoch_size % k else 0) for i in range(k)]
        parts = []
        for c, n in zip(self.classes, per, strict=True):
            pool = self.indices[self.balance == c]
            parts.append(rng.choice(pool, size=n, replace=n > pool.size))
        out = np.concatenate(parts)
        return out[rng.permutation(out.size)] if self.shuffle else out

    def epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """``(idx, weight)``, both of shape (steps_per_epoch, batch_size)."""
        order = self.order(epoch)
        steps = self.steps_per_epoch
        pad = steps * self.batch_size - order.size
        idx = np.concatenate([order, np.full(pad, order[0])]).astype(np.int32)
        w = np.concatenate([np.ones(order.size, np.float32), np.zeros(pad, np.float32)])
        return idx.reshape(steps, self.batch_size), w.reshape(steps, self.batch_size)


def nbytes(arrays: dict[str, Any]) -> int:
    return int(
        sum(np.asarray(a).nbytes if not hasattr(a, "nbytes") else a.nbytes for a in arrays.values())
    )


def fits_on_device(arrays: dict[str, Any], *, budget_bytes: int | None = None) -> bool:
    """Whether ``arrays`` should live on the device for the whole run.

    Args:
        budget_bytes: the most bytes of data to place on the device. Default: half the device's
            memory limit when the backend reports one (GPU), else 4 GiB (CPU: the "device" is
            host memory, and gathering there inside the compiled step is still fastest).
    """
    if budget_bytes is None:
        import jax

        stats = None
        try:
            stats = jax.devices()[0].memory_stats()
        except Exception:  # noqa: BLE001 - backends without memory stats
            stats = None
        limit = (stats or {}).get("bytes_limit")
        budget_bytes = int(limit * 0.5) if limit else 4 << 30
    return nbytes(arrays) <= budget_bytes


def prefetch(make_batch: Callable[[int], Any], n: int, *, size: int = 2) -> Iterator[Any]:
    """Yield ``make_batch(0) … make_batch(n-1)``, computing up to ``size`` ahead on a thread.

    ``make_batch`` should return device arrays (e.g. ``jax.device_put`` of host batches), so the
    transfer of the next batch overlaps the computation on the current one. An exception in the
    thread is re-raised here.
    """
    q: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()

    def work():
        try:
            for i in range(n):
                if stop.is_set():
                    return
                q.put((True, make_batch(i)))
        except BaseException as e:  # noqa: BLE001 - forwarded to the consumer
            q.put((False, e))

    t = threading.Thread(target=work, daemon=True)
    t.start()
    try:
        for _ in range(n):
            ok, item = q.get()
            if not ok:
                raise item
            yield item
    finally:
        stop.set()
        while not q.empty():
            q.get_nowait()
        t.join(timeout=5)
