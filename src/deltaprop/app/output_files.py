"""Output files of the command: never overwrite what the user did not ask to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from deltaprop.app.errors import UsageError

__all__ = ["check_new", "check_parent"]


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
