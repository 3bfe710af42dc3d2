"""Progress bars: tqdm's (a dependency of the installed package), or a silent stand-in where tqdm
cannot be imported, so that a source tree run with ``PYTHONPATH=.`` on a machine that has JAX but
not tqdm (a GPU image without network access) still generates datasets and trains."""

from __future__ import annotations

from typing import Any


class SilentBar:
    """The part of tqdm's interface this package uses, showing nothing."""

    def __init__(self, *args: Any, total: float | None = None, initial: float = 0, **kwargs: Any):
        self.total, self.n = total, initial

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> SilentBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress_bar(**kwargs: Any):
    """``tqdm.auto.tqdm(**kwargs)``, or a :class:`SilentBar` if tqdm is not installed."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return SilentBar(**kwargs)
    return tqdm(**kwargs)
