"""Reading tables for the command (deltaprop.app.tables): CSV, TSV, text, Parquet, .npz."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop.app.errors import DataError
from deltaprop.app.tables import read_table
from deltaprop.app.tasks import detect_task

DATA = Path(__file__).parents[1] / "data"
# 150 synthetic rows shaped like the Palmer penguins data (generated, not the real records):
# numeric and categorical columns with missing values, a 3-class and a numeric target.
PENGUINS = DATA / "penguins.csv"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------


# Reading
# ---------------------------------------------------------------------------------------
def test_read_csv_with_numbers_categories_and_missing_values() -> None:
    frame = read_table(PENGUINS)
    assert frame.shape == (150, 7)
    assert frame["bill_length_mm"].dtype == np.float64
    assert frame["bill_length_mm"].isna().sum() == 6
    assert frame["sex"].isna().sum() == 7
    assert detect_task(frame["species"])[0] == "classification"
    assert detect_task(frame["body_mass_g"])[0] == "regression"


def test_text_in_a_numeric_column_names_column_value_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,y\n1,a\n2,b\nthree,a\n4,b\n5,a\n")
    with pytest.raises(DataError) as info:
        read_table(path)
    message = str(info.value)
    assert "column 'x'" in message and "'three'" in message
    assert "row 3 (line 4)" in message
    assert "--na-values 'three'" in message and "--categorical 'x'" in message
    assert "\n" not in message


def test_tab_separated_and_sniffed_text_files(tmp_path: Path) -> None:
    tsv = read_table(write(tmp_path / "d.tsv", "a\tb\n1\tx\n2\ty\n"))
    txt = read_table(write(tmp_path / "d.txt", "a;b\n1;x\n2;y\n"))
    for frame in (tsv, txt):
        assert list(frame.columns) == ["a", "b"] and frame["a"].tolist() == [1, 2]


def test_text_marked_missing_or_categorical_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "x,y\n1,a\n2,b\n?,a\n4,b\n5,a\n")
    frame = read_table(path, na_values=["?"])
    assert frame["x"].dtype == np.float64 and frame["x"].isna().sum() == 1
    frame = read_table(path, categorical=["x"])
    assert frame["x"].tolist() == ["1", "2", "?", "4", "5"]


def test_mostly_text_column_is_categorical_and_all_number_text_is_numeric(tmp_path: Path) -> None:
    np.savez(
        tmp_path / "d.npz",
        code=np.array(["A1", "B2", "7", "C"]),
        amount=np.array(["3", " 4", "5e1", "-6"]),
    )
    frame = read_table(tmp_path / "d.npz")
    assert not pd.api.types.is_numeric_dtype(frame["code"])
    assert frame["amount"].tolist() == [3.0, 4.0, 50.0, -6.0]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", "", "is empty"),
        ("blank.csv", "\n\n  \n", "is empty"),
        ("header.csv", "a,b,y\n", "no data rows"),
        ("ragged.csv", "a,b\n1,2\n3,4,5\n", "cannot parse .* as CSV: .*Expected 2 fields"),
        ("nul.csv", "a,b\x00\n1,2\n", "binary file"),
        ("data.xlsx", "a,b\n", "unsupported file type '.xlsx'"),
    ],
)
def test_bad_files_give_one_line_errors(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match=message) as info:
        read_table(path)
    assert "\n" not in str(info.value)


def test_missing_file_directory_and_latin1(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path)
    (tmp_path / "latin.csv").write_bytes("a,b\ncafé,1\n".encode("latin-1"))
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        read_table(tmp_path / "latin.csv")


def test_parquet_without_pyarrow_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"PAR1")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    with pytest.raises(DataError, match=r"needs pyarrow, which is not installed") as info:
        read_table(path)
    assert "\n" not in str(info.value)


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is None, reason="pyarrow not installed")
def test_parquet_round_trip_with_pyarrow(tmp_path: Path) -> None:  # pragma: no cover
    frame = read_table(PENGUINS)
    frame.to_parquet(tmp_path / "p.parquet")
    back = read_table(tmp_path / "p.parquet")
    assert back.shape == frame.shape


def test_npz_matrix_with_names_and_columns(tmp_path: Path) -> None:
    X = np.arange(12.0).reshape(4, 3)
    np.savez(
        tmp_path / "d.npz", X=X, y=np.array([0, 1, 0, 1]), feature_names=np.array(["a", "b", "c"])
    )
    frame = read_table(tmp_path / "d.npz")
    assert list(frame.columns) == ["a", "b", "c", "y"]
    np.savez(tmp_path / "e.npz", X=X, label=np.array(["u", "v", "u", "v"]))
    assert list(read_table(tmp_path / "e.npz").columns) == ["x0", "x1", "x2", "label"]
    np.savez(tmp_path / "f.npz", a=np.ones(3), b=np.zeros(4))
    with pytest.raises(DataError, match="different numbers of rows"):
        read_table(tmp_path / "f.npz")
    np.savez(tmp_path / "g.npz", X=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="object arrays"):
        read_table(tmp_path / "g.npz")
    write(tmp_path / "h.npz", "not a zip")
    with pytest.raises(DataError, match=r"not a valid .npz file|cannot read"):
        read_table(tmp_path / "h.npz")


# ---------------------------------------------------------------------------------------
