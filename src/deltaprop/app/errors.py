"""The errors the command reports in one line, and its exit codes.

:class:`UsageError` (the command line, the user's files), :class:`DataError` (the data)
and :class:`CSVSyntaxError` (a CSV file that cannot be cut into rows) end the command with
:data:`EXIT_USAGE`; any other failure with :data:`EXIT_FAILURE`.
"""

from __future__ import annotations

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "CSVSyntaxError", "DataError", "UsageError"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A problem with the command line or the user's files: exit code 2."""


class DataError(ValueError):
    """A problem with the user's data or files; the message is one line that says what."""


class CSVSyntaxError(DataError):
    """A CSV file that the parser cannot cut into rows of fields (wrong field counts)."""
