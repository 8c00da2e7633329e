"""deltaprop.data.CSVDataset: a malformed row is refused naming its line in the file, not
in the chunk that a read parses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deltaprop.data import CSVDataset


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ("1,2,3,4", "line 31 has 4 fields, not 3 as the header"),
        ("1,2", "rows 16 to 40 are not 3 numbers each: line 31 has a missing value"),
        ("1,,3", "rows 16 to 40 are not 3 numbers each: line 31 has a missing value"),
    ],
    ids=["extra-field", "short-row", "missing-value"],
)
def test_a_malformed_row_names_its_line_in_the_file(tmp_path: Path, row: str, match: str) -> None:
    lines = ["a,b,y"] + [f"{i},{i / 2},{i % 2}" for i in range(50)]
    lines[30] = row  # data row 30, line 31
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    ds = CSVDataset(path, "y", chunk_rows=8, spill_dir=None)
    X, y = ds._read(0, 24)  # the chunks before the bad row read
    np.testing.assert_array_equal(X[:, 0], np.arange(24.0))
    np.testing.assert_array_equal(y, np.arange(24) % 2)
    with pytest.raises(ValueError, match=f"{path}: {match}"):
        ds._read(20, 40)
