"""The errors of model and checkpoint files, and the context that names the file in them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["ModelFileError", "ModelFileNotFoundError", "WrongKindError", "naming_file"]


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be loaded; the message says what is wrong."""


class WrongKindError(ModelFileError):
    """A checkpoint given where a model file is expected, or the reverse.

    The fields let a caller word its own advice (the command names its subcommands, the
    library its functions): ``path`` (set by :func:`naming_file`, else ``None``), ``found``
    and ``expected`` (``"model"``, ``"checkpoint"`` or what the file says), and ``hint``, the
    library's advice for Python users, which ends the message.
    """

    def __init__(self, found: object, expected: str, path: str | None = None) -> None:
        self.found, self.expected, self.path = found, expected, path
        self.hint = {
            "checkpoint": "use load_checkpoint(path, trainer)",
            "model": "use load(path)",
        }.get(str(found), "")
        where = "" if path is None else f"cannot load {path!r}: "
        super().__init__(
            f"{where}the file's kind is {found!r}, expected {expected!r}"
            + (f"; {self.hint}" if self.hint else "")
        )


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
    except WrongKindError as exc:
        raise WrongKindError(exc.found, exc.expected, str(path)) from None
    except ModelFileError as exc:
        raise ModelFileError(f"cannot load {str(path)!r}: {exc}") from None
