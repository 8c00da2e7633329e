"""The column kinds of a streamed table are the in-memory rule's on every row, not only on
the first ones (deltaprop/app/stream_kinds.py, in deltaprop/app/streamed_tables.py's read
pass): the same errors, naming the column, the row and the value, and the same
categories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop.app import stream_sources
from deltaprop.app.errors import DataError
from deltaprop.app.streamed_tables import stream_table
from deltaprop.app.tables import check_numeric_text

N = 300


@pytest.fixture(autouse=True)
def short_head(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_sources, "HEAD_ROWS", 50)  # the kinds read from 50 rows


def base() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    a = rng.normal(size=N)
    return pd.DataFrame({"a": a, "y": (a > 0).astype(np.int64)})


def in_memory_error(path: Path) -> str:
    with pytest.raises(DataError) as info:
        check_numeric_text(pd.read_csv(path), path, line_offset=2)
    return str(info.value)


def test_text_after_the_first_rows_of_a_numeric_column_is_the_in_memory_error(
    tmp_path: Path,
) -> None:
    frame = base().astype({"a": object})
    frame.loc[149, "a"], frame.loc[260, "a"] = "oops", "n/a?"
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        stream_table(path, "y", tmp_path / "work")
    message = str(info.value)
    assert "column 'a'" in message and "row 150 (line 151) has 'oops' (and 1 more)" in message
    assert message == in_memory_error(path)


def test_a_column_mostly_text_after_the_first_rows_is_categorical(tmp_path: Path) -> None:
    frame = base()
    frame["b"] = [str(k) for k in range(50)] + ["u", "v", "w"] * ((N - 50) // 3) + ["u"] * (
        (N - 50) % 3)  # fmt: skip
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    table = stream_table(path, "y", tmp_path / "work")
    assert table.pre.numeric == ["a"] and table.pre.categorical == ["b"]
    assert table.pre.categories == [sorted({*map(str, range(50)), "u", "v", "w"})]
    assert not pd.api.types.is_numeric_dtype(check_numeric_text(pd.read_csv(path), path)["b"])
    table.cleanup()


def test_a_text_column_mostly_numbers_over_all_rows_is_the_in_memory_error(
    tmp_path: Path,
) -> None:
    frame = base()
    frame["c"] = ["x"] * 40 + [str(float(k)) for k in range(N - 40)]
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError) as info:
        stream_table(path, "y", tmp_path / "work")
    assert "column 'c'" in str(info.value) and "row 1 (line 2) has 'x'" in str(info.value)
    assert str(info.value) == in_memory_error(path)
    # declared categorical, it is read as categories
    table = stream_table(path, "y", tmp_path / "work2", categorical=["c"])
    assert table.pre.categorical == ["c"]
    table.cleanup()
