"""The notes on a table's input columns (deltaprop.app.input_notes): the columns left out
(no value in any row, pandas' row index) and the likely identifiers, with their words."""

from __future__ import annotations

import numpy as np
import pandas as pd

from deltaprop.app.input_notes import (
    category_identifier_notes,
    drop_empty_columns,
    drop_index_columns,
    empty_note,
    identifier_notes,
    index_note,
    inputs_line,
)
from deltaprop.app.preprocessing import Preprocessor


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "Unnamed: 0": np.arange(n),
            "x": rng.normal(size=n),
            "none": np.nan,
            "blank": pd.Series([None] * n, dtype=object),
            "id": rng.permutation(n) + 1000,
            "code": [f"k{i}" for i in range(n)],
            "c": rng.choice(["u", "v"], n),
        }
    )


def test_the_empty_and_the_index_columns_are_left_out_with_their_notes() -> None:
    kept, empty = drop_empty_columns(_frame())
    assert empty == ["none", "blank"] and "none" not in kept and "x" in kept
    kept, index = drop_index_columns(kept)
    assert index == ["Unnamed: 0"] and list(kept) == ["x", "id", "code", "c"]
    assert empty_note(["none"]) == "column 'none' has no value in any row: left out of the inputs"
    assert empty_note(empty).startswith("columns 'none', 'blank' have no value")
    assert "row index" in index_note("Unnamed: 0")
    frame = _frame().rename(columns={"Unnamed: 0": "Unnamed: 1"})
    frame.loc[3, "Unnamed: 1"] = 2  # not one distinct integer per row: kept
    assert drop_index_columns(frame)[1] == []


def test_identifiers_are_noted_numbers_and_text() -> None:
    frame = drop_empty_columns(_frame())[0].drop(columns="Unnamed: 0")
    assert identifier_notes(frame, []) == [
        "column 'id' holds a distinct integer in every row: an identifier? "
        "Leave it out with --ignore 'id'"
    ]
    assert identifier_notes(frame, ["id"]) == []  # named a category: not a number
    assert identifier_notes(frame.iloc[:19], []) == []  # too few rows to tell
    pre = Preprocessor.for_frame(frame)
    pre.fit_transform(frame)
    assert category_identifier_notes(pre, len(frame)) == [
        "column 'code' has 60 distinct values, almost one per row: an identifier? "
        "Leave it out with --ignore 'code'"
    ]  # 'c' has two
    assert category_identifier_notes(pre, 121) == []  # fewer than one for every two rows
    assert inputs_line(pre) == "inputs: 2 numeric and 2 categorical columns -> 64 features"
