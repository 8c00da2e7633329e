"""``deltaprop`` ARGS with every CSV file streamed (:data:`STREAM_CSV_BYTES` set to 1 byte),
for the streamed-CSV command tests under MPI (the file stays small). The column kinds are
decided from the first 100 rows (:data:`HEAD_ROWS`), so that a row further on is read only
by its own rank.

``mpiexec -n 2 python streamed_cli.py train data.csv --target y ...``; exits with the
command's code.
"""

from __future__ import annotations

import sys

from deltaprop.app import stream_sources
from deltaprop.app.cli import main

if __name__ == "__main__":  # only then: pytest's doctest collection imports this module
    stream_sources.STREAM_CSV_BYTES = 1  # "large": every CSV file
    stream_sources.HEAD_ROWS = 100
    sys.exit(main(sys.argv[1:]))
