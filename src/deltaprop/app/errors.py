"""The errors the command reports in one line, and its exit codes.

:class:`UsageError` (the command line, the user's files), :class:`DataError` (the data)
and :class:`CSVSyntaxError` (a CSV file that cannot be cut into rows) end the command with
:data:`EXIT_USAGE`; any other failure with :data:`EXIT_FAILURE`, :class:`WriteError` (the
machine could not write an output: a full disk) among them.
"""

from __future__ import annotations

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "CSVSyntaxError",
    "DataError",
    "UsageError",
    "WriteError",
    "shown",
]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line or the user's files: exit code 2."""


class WriteError(RuntimeError):
    """An output that the machine could not write (a full disk, an I/O error), though the
    path is one the command may write: exit code 1."""


class DataError(ValueError):
    """A problem with the user's data or files; the message is one line that says what."""


class CSVSyntaxError(DataError):
    """A CSV file that the parser cannot cut into rows of fields (wrong field counts)."""


def shown(value: object, limit: int = 60) -> str:
    """``repr(str(value))`` for a message, cut to about ``limit`` characters (a 20 MB field
    is not repeated in an error line).

    >>> shown("abc")
    "'abc'"
    >>> shown("x" * 1000, limit=10)
    "'xxxxxxxxxx…' (1000 characters)"
    """
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}"[:-1] + f"…' ({len(text)} characters)"


def not_a_number(name: str, path: object, row: int, line: int | None, value: str,
                 n_bad: int) -> DataError:  # fmt: skip
    """The error for a column of numbers with text in it: ``row`` (0-based data row; its
    file ``line`` where the file has one), the first such ``value`` and how many there are;
    the same words whether the table was read whole or streamed."""
    where = f"row {row + 1}" + (f" (line {line})" if line is not None else "")
    more = f" (and {n_bad - 1} more)" if n_bad > 1 else ""
    hint = f" {value!r}" if len(value) <= 60 else ""
    return DataError(
        f"column {name!r} of '{path}' holds numbers, but {where} has "
        f"{shown(value)}{more}, which is not a number; fix it, mark it missing with "
        f"--na-values{hint}, or make the column categorical with --categorical {name!r}"
    )
