"""The errors of model and checkpoint files, and the context that names the file in them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["ModelFileError", "ModelFileNotFoundError", "naming_file"]


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be loaded; the message says what is wrong."""


class ModelFileNotFoundError(ModelFileError, FileNotFoundError):
    """The model or checkpoint file does not exist (also a :class:`FileNotFoundError`)."""


@contextlib.contextmanager
def naming_file(path: str | os.PathLike[str]) -> Iterator[None]:
    """Prefix every :class:`ModelFileError` raised inside with the file's name.

    Parameters
    ----------
    path : str or path-like
        The file being read, as the messages should name it.

    Examples
    --------
    >>> try:
    ...     with naming_file("m.safetensors"):
    ...         raise ModelFileError("truncated")
    ... except ModelFileError as exc:
    ...     print(exc)
    cannot load 'm.safetensors': truncated
    """
    try:
        yield
    except ModelFileNotFoundError as exc:
        raise ModelFileNotFoundError(f"cannot load {str(path)!r}: {exc}") from None
    except ModelFileError as exc:
        raise ModelFileError(f"cannot load {str(path)!r}: {exc}") from None
