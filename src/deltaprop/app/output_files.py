"""Output files of the command: never overwrite what the user did not ask to, and say in one
line which output could not be written and why (:func:`writing`).

Every output is written whole or not at all (:func:`deltaprop.io.atomic_write`: a temporary
file beside it, renamed; removed on failure), so a failed write leaves the files written
before it and nothing half-written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from deltaprop.app.errors import UsageError, WriteError

__all__ = [
    "check_new",
    "check_not_input",
    "check_parent",
    "check_writable",
    "is_full_disk",
    "output_error",
    "remove_stale_temp_files",
    "writing",
]


def check_new(paths: Sequence[Path], force: bool, allowed: Sequence[Path] = ()) -> None:
    """Fail if one of ``paths`` exists, unless ``force`` (or it is in ``allowed``)."""
    if force:
        return
    keep = {p.resolve() for p in allowed}
    for path in paths:
        if path.exists() and path.resolve() not in keep:
            raise UsageError(
                f"'{path}' exists; use --force to overwrite it, or write somewhere else"
            )


def check_parent(path: Path) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write '{path}': the folder '{parent}' does not exist")


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same resolved path, or the same inode
    (a hard link, a bind mount)."""
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def check_not_input(
    outputs: Sequence[tuple[str, Path]], inputs: Sequence[tuple[str, Path]]
) -> None:
    """Refuse to write an output over one of the command's inputs, even with ``--force``
    (as ``cp a a`` does): ``outputs`` and ``inputs`` are ``(argument, path)`` pairs.

    Raises
    ------
    UsageError
        ``'OUT' (ARG) is the input 'IN' (ARG); write the output somewhere else``.
    """
    for out_name, out in outputs:
        for in_name, source in inputs:
            if _same_file(out, source):
                raise UsageError(
                    f"{out_name} '{out}' is the input {in_name} '{source}'; writing it would "
                    "destroy the input: write the output somewhere else"
                )


def remove_stale_temp_files(path: Path) -> list[Path]:
    """Remove what an interrupted :func:`deltaprop.io.atomic_write` of ``path`` left beside
    it (:func:`deltaprop.io.stale_temp_files`). Returns the files removed."""
    from deltaprop.io import stale_temp_files

    removed = stale_temp_files(path)
    for tmp in removed:
        tmp.unlink()
    return removed


_USER_ERRNOS = frozenset(
    {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.ENOENT,
     errno.EEXIST, errno.ENAMETOOLONG, errno.ELOOP}
)  # fmt: skip
"""The errors of writing that the path given is the cause of (exit 2); any other (a full
disk, an I/O error) is the machine's (exit 1)."""


_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""The errors that only a write meets (a full disk, a quota, a file too large)."""


def is_full_disk(exc: BaseException) -> bool:
    """Whether ``exc`` is an error that only a write meets: a full disk or quota."""
    return isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS


def output_error(exc: OSError, what: str, path: Path, option: str, given: Path) -> Exception:
    """The one-line error of a failed write of the ``what`` file ``path``, for the path
    ``given`` to ``option``: never the name of a temporary file (``exc.filename``).

    Returns
    -------
    UsageError or WriteError
        ``OPTION 'GIVEN' is not writable: REASON`` for a path that cannot be written (a
        read-only file system, no permission, not a folder); ``could not write the WHAT
        'PATH': REASON`` (a full disk) otherwise.
    """
    reason = os.strerror(exc.errno).lower() if exc.errno else (exc.strerror or "unknown error")
    if exc.errno in _USER_ERRNOS:
        where = "" if path == given else f" (writing '{path}')"
        return UsageError(f"{option} '{given}' is not writable: {reason}{where}")
    return WriteError(f"could not write the {what} '{path}': {reason}")


@contextlib.contextmanager
def writing(what: str, path: Path, option: str, given: Path | None = None) -> Iterator[None]:
    """Run a write of the ``what`` file (or folder) ``path`` (of the path ``given`` to
    ``option``; ``path`` by default): an :class:`OSError` becomes :func:`output_error`'s."""
    try:
        yield
    except OSError as exc:
        raise output_error(exc, what, path, option, path if given is None else given) from None


def check_writable(folder: Path, option: str, given: Path | None = None) -> None:
    """Fail now, not after the training, if the existing ``folder`` cannot be written:
    create and remove an empty file in it (what :func:`deltaprop.io.atomic_write` does
    first). Raises :func:`output_error`'s error."""
    with writing("folder", folder if given is None else given, option, given):
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".deltaprop-probe.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
