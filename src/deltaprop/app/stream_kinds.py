"""The column kinds of a streamed table checked on every row, in the read pass.

The streamed preprocessing (:func:`deltaprop.app.streamed_tables.stream_table`) reads a
column as numbers or as categories from the table's first rows
(:meth:`deltaprop.app.stream_sources.ChunkSource.head`); :class:`KindTally` then counts,
chunk by chunk and over the ranks, what every value of each column is, so that the kinds
are the in-memory rule's on the whole table (:func:`deltaprop.app.tables.check_numeric_text`:
a text column is numeric when at least half of its non-missing values are numbers, and
then any that is not is an error naming the column, its first such row and value):

* a column read as numbers whose later rows hold text: an error naming the first such row
  and value when at most half of its values are text, else it is a categorical column
  (:meth:`KindTally.result` says so and the caller reads the table again);
* a column read as text (not declared ``--categorical``) whose values are mostly numbers
  over the whole table: the same error as in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from deltaprop.app.columns import is_numeric
from deltaprop.app.errors import not_a_number
from deltaprop.app.stream_stats import allgather

if TYPE_CHECKING:
    from deltaprop.parallel import MPICommunicator

__all__ = ["KindTally"]

_CSV = (".csv", ".tsv")  # files whose line 1 is the header: messages give the line too


class KindTally:
    """Per column: values present, values that are not numbers, and the first of those
    (rank-local row, value).

    Parameters
    ----------
    numeric : list of str
        The columns read as numbers (their text values become NaN in :meth:`add`'s chunk).
    text : list of str
        The columns read as text that the rule may still find numeric (not declared
        categorical).
    """

    def __init__(self, numeric: list[str], text: list[str]) -> None:
        self.numeric, self.text = numeric, text
        self.present = dict.fromkeys([*numeric, *text], 0)
        self.bad = dict.fromkeys([*numeric, *text], 0)
        self.first: dict[str, tuple[int, str]] = {}

    def add(self, chunk: pd.DataFrame, row: int) -> pd.DataFrame:
        """Count ``chunk`` (its first row is rank-local row ``row``, 0-based); return it
        with the numeric columns as float64 (text values as NaN: the caller stops after
        the pass, see :meth:`result`)."""
        for name in [*self.numeric, *self.text]:
            col = chunk[name]
            if is_numeric(col) and name in self.numeric:
                self.present[name] += int(col.notna().sum())
                continue
            present = col.notna().to_numpy()
            text = col.astype(str).str.strip().where(col.notna())
            values = pd.to_numeric(text, errors="coerce").to_numpy(np.float64)
            bad = np.flatnonzero(present & np.isnan(values))
            self.present[name] += int(present.sum())
            self.bad[name] += int(bad.size)
            if bad.size and name not in self.first:
                self.first[name] = (row + int(bad[0]), str(col.iloc[bad[0]]))
            if name in self.numeric:
                chunk[name] = values
        return chunk

    def result(self, comm: MPICommunicator | None, rows_before: int, path: Path) -> list[str]:
        """The columns read as numbers that are categories by the rule (collective);
        ``rows_before``: the rank's first row in the file (0-based).

        Raises
        ------
        DataError
            A column of numbers some of whose values (fewer than half) are not numbers.
        """
        first = {k: (rows_before + r, v) for k, (r, v) in self.first.items()}
        parts = allgather(comm, (self.present, self.bad, first))
        categories = []
        for name in [*self.numeric, *self.text]:
            present = sum(p[0][name] for p in parts)
            bad = sum(p[1][name] for p in parts)
            if bad == 0:
                continue
            if 2 * (present - bad) < present:  # mostly text: categories
                if name in self.numeric:
                    categories.append(name)
                continue
            row, value = min(p[2][name] for p in parts if name in p[2])
            line = row + 2 if path.suffix.lower() in _CSV else None
            raise not_a_number(name, path, row, line, value, bad)
        return categories
