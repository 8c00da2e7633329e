"""The command's output: what it prints, and nothing else prints.

:class:`Output` prints lines, notes and rich tables on standard output (only on rank 0 under
``mpiexec``) and owns the console a progress bar draws on; :func:`write_data` writes
machine-readable output (CSV, JSON) as it is; :func:`write_message` writes the command's
one-line warnings and errors on standard error.
"""

from __future__ import annotations

import json
import math
import os
import sys
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "Output",
    "cell_text",
    "json_text",
    "plural",
    "print_traceback",
    "silence_stdout",
    "write_data",
    "write_message",
]


class Output:
    """Printing that only rank 0 does; rich tables and a progress bar on stdout."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.notes: list[str] = []
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            class _Console(Console):
                def on_broken_pipe(self) -> None:
                    """``deltaprop demo | head``: stop printing but finish the work (rich's
                    default exits)."""
                    self.quiet = True
                    silence_stdout()

            self._console = _Console(highlight=False, soft_wrap=True)
        return self._console

    def _print(self, *objects: Any, **kwargs: Any) -> None:
        if self.enabled:
            self.console.print(*objects, **kwargs)

    def line(self, text: str = "") -> None:
        self._print(text, markup=False)

    def note(self, text: str, keep: bool = True) -> None:
        """``note: text``; ``keep``: also in :attr:`notes` (the report's)."""
        if keep:
            self.notes.append(text)
        self._print(f"note: {text}", markup=False, style="yellow")

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not self.enabled:
            return
        from rich.table import Table

        t = Table(title=title, title_justify="left", title_style="bold")
        for k, c in enumerate(columns):
            numeric = all(isinstance(r[k], int | float) for r in rows if r[k] is not None)
            t.add_column(c, justify="right" if k > 0 and numeric else "left")
        for row in rows:
            t.add_row(*[cell_text(v) for v in row])
        self._print(t)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def cell_text(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)


def silence_stdout() -> None:
    """Send what is still written to standard output to ``os.devnull`` (its reader has
    gone: ``deltaprop ... | head``)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def write_data(text: str) -> None:
    """Machine-readable output (CSV, JSON) on standard output, as it is."""
    sys.stdout.write(text)


def json_text(value: Any) -> str:
    """``value`` as strict JSON on one line: a non-finite float (NaN, ±inf, e.g. a log-loss
    that is n/a) is ``null``, as JSON has no such numbers; NumPy scalars and arrays are
    their Python values, anything else that JSON cannot hold its ``str``."""
    return json.dumps(_finite(value), allow_nan=False, default=str)


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by ``None``, recursively."""
    import numpy as np

    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def write_message(text: str) -> None:
    """``deltaprop: <text>`` on standard error (warnings, errors, an interruption)."""
    sys.stderr.write(f"deltaprop: {text}\n")


def print_traceback() -> None:
    """The traceback of the exception being handled, on standard error (``--debug``)."""
    traceback.print_exc()
