"""Output files of the command: never overwrite what the user did not ask to."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from deltaprop.app.errors import UsageError

__all__ = ["check_new", "check_not_input", "check_parent", "remove_stale_temp_files"]


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
