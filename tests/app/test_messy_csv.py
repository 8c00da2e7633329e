"""Messy real-world CSV files given to the command: a trailing separator on the data rows
only, a byte order mark, a huge value in the validation rows, decimal commas and thousands
separators, pandas' index column and identifiers, an empty column, text at prediction time,
a file separated by tabs but named .csv, gzip, case-only column differences."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop.app.csv_text import parse_csv
from deltaprop.app.errors import CSVSyntaxError, DataError
from deltaprop.app.input_notes import prepare_inputs
from deltaprop.app.stream_sources import open_source
from deltaprop.app.tables import number_format_hint, read_table
from deltaprop.train.stopping import StopRecord
from tests.app.clitools import FAST, call, load_quietly, one_line_error


class Notes:
    """An :class:`~deltaprop.app.console.Output` that records its lines and notes."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.notes: list[str] = []

    def line(self, text: str = "") -> None:
        self.lines.append(text)

    def note(self, text: str, keep: bool = True) -> None:
        self.notes.append(text)


def _table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {"a": a.round(3), "b": b.round(3), "kind": np.where(a + b > 0, "yes", "no")}
    )


# 1. a row with more fields than the header ------------------------------------------------
@pytest.mark.parametrize("name", ["f.csv", "f.txt"])
def test_data_rows_with_a_trailing_separator_are_refused_naming_line_and_fields(
    tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    path.write_text("a,b,kind\n1,2,yes,\n3,4,no,\n")
    with pytest.raises(CSVSyntaxError) as info:
        read_table(path)
    assert str(info.value).startswith(
        f"cannot parse '{path}' as CSV: Expected 3 fields in line 2, saw 4 (a row with more "
        "fields than the header names"
    )


def test_the_streamed_reader_refuses_the_same_row(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("a,b,kind\n1,2,yes\n3,4,no,\n")
    with pytest.raises(CSVSyntaxError, match="Expected 3 fields in line 3, saw 4"):
        list(open_source(path, na_values=[]).chunks())
    path.write_text('a,b,kind\n1,2,"y,es"\n3,4,no,\n')  # quoted: the csv module counts
    with pytest.raises(CSVSyntaxError, match="Expected 3 fields in line 3, saw 4"):
        list(open_source(path, na_values=[]).chunks())


def test_a_header_with_a_trailing_separator_is_not_a_row_label() -> None:
    frame = parse_csv(io.BytesIO(b"a,b,\n1,2,\n3,4,\n"), Path("f.csv"), ",", [])
    assert list(frame.columns) == ["a", "b", "Unnamed: 2"]
    assert frame["a"].tolist() == [1, 3]


# 2. a byte order mark -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["f.csv", "f.tsv", "f.txt", "f.csv.gz"])
def test_a_byte_order_mark_is_no_part_of_a_column_name(tmp_path: Path, name: str) -> None:
    sep = "\t" if name == "f.tsv" else ";" if name == "f.txt" else ","
    data = "\ufeff" + _table().to_csv(index=False, sep=sep)
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(data.encode()))
    else:
        path.write_text(data, encoding="utf-8")
    assert list(read_table(path).columns) == ["a", "b", "kind"]


# 3. a huge value in the validation rows -----------------------------------------------------
def test_a_validation_value_too_large_to_train_on_is_refused_by_column_and_row() -> None:
    frame = _table()
    frame.loc[7, "a"] = 1e300
    train, val = np.arange(0, 40), np.arange(40, 60)
    with pytest.raises(DataError, match="column 'a' cannot be standardized"):
        prepare_inputs(frame, [], train, val, "float64", Notes())  # in the training rows
    frame.loc[[7, 45], "a"] = [0.5, 1e300]
    with pytest.raises(DataError) as info:
        prepare_inputs(frame, [], train, val, "float64", Notes())
    assert str(info.value).startswith("column 'a': validation row 46 holds 1e+300, ")
    frame.loc[45, "a"] = 1e20  # too large for float32 only
    prepare_inputs(frame, [], train, val, "float64", Notes())
    with pytest.raises(DataError, match=r"validation row 46 holds 1e\+20, .* \(float32\)"):
        prepare_inputs(frame, [], train, val, "float32", Notes())


def test_a_stop_message_without_a_finite_best_names_no_epoch() -> None:
    record = StopRecord(
        "early_stopping", 12, monitor="validation loss", count=10, patience=10, tol=1e-4,
        best=float("inf"), best_at=None,
    )  # fmt: skip
    assert "epoch None" not in record.message
    assert record.message.endswith("; it never had a finite value")


# 4. decimal commas, thousands separators ----------------------------------------------------
@pytest.mark.parametrize(
    ("values", "hint"),
    [
        (["5,1", "4,9", "6"], "with a decimal comma? Read them with --decimal ','"),
        (["2,960.0", "970.5"], "with thousands separators? Read them with --thousands ','"),
        (["15,100", "1,250"], "--thousands ',' or --decimal ','"),
        (["1.234,5", "7,25"], "--decimal ',' --thousands '.'"),
        (["red", "5,1"], None),
        (["5.1", "6"], None),
    ],
)
def test_number_format_hint(values: list[str], hint: str | None) -> None:
    found = number_format_hint(pd.Series(values))
    assert found == hint if hint is None else hint in str(found)


def test_decimal_commas_are_refused_with_the_option_that_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "euro.txt"
    _table().to_csv(path, index=False, sep=";", decimal=",")
    first = _table()["a"].map(lambda v: f"{v}".replace(".", ",")).iloc[0]
    with pytest.raises(DataError) as info:
        read_table(path)
    assert str(info.value) == (
        f"column 'a' of '{path}' holds text such as {first!r}: numbers with a decimal comma? "
        "Read them with --decimal ',', or make it categorical with --categorical 'a'"
    )
    assert read_table(path, decimal=",")["a"].tolist() == _table()["a"].tolist()


def test_a_thousands_target_is_refused_and_read_with_thousands(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('x,y\n1,"15,100"\n2,"1,250"\n3,"980"\n')
    with pytest.raises(DataError, match=r"column 'y' .* such as '15,100'.* --thousands ','"):
        read_table(path)
    assert read_table(path, thousands=",")["y"].tolist() == [15100, 1250, 980]


# 5, 6. index columns, identifiers, empty columns -------------------------------------------
def test_index_and_empty_columns_are_left_out_and_identifiers_noted() -> None:
    frame = _table()
    frame.insert(0, "Unnamed: 0", np.random.default_rng(1).permutation(len(frame)))
    frame["id"] = np.arange(1000, 1000 + len(frame))
    frame["empty"] = np.nan
    notes = Notes()
    pre, X_train, _, left_out = prepare_inputs(
        frame.drop(columns="kind"), [], np.arange(40), np.arange(40, 60), "float64", notes
    )
    assert left_out == ["empty", "Unnamed: 0"]
    assert pre.columns == ["a", "b", "id"]
    assert X_train.shape == (40, 3)
    assert notes.notes == [
        "column 'empty' has no value in any row: left out of the inputs",
        "column 'Unnamed: 0' is a row index (as pandas' to_csv writes): left out of the inputs",
        "column 'id' holds a distinct integer in every row: an identifier? Leave it out with "
        "--ignore 'id'",
    ]
    notes = Notes()
    prepare_inputs(frame[["a", "id"]], ["id"], np.arange(40), np.arange(40, 60), "float64", notes)
    assert notes.notes == []  # --categorical: noted as a category with many values, if at all


def test_an_empty_column_is_not_required_at_prediction(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "d.csv"
    (_table().assign(blank=np.nan)).to_csv(data, index=False)
    out = tmp_path / "run"
    code, text, _ = call(capsys, "train", data, "--target", "kind", "--out", out, *FAST,
                         "--no-report")  # fmt: skip
    assert code == 0
    assert "note: column 'blank' has no value in any row: left out of the inputs" in text
    model = out / "model.safetensors"
    _, extra = load_quietly(model, return_extra=True)
    assert extra[0]["run"]["columns_left_out"] == ["blank"]
    new = tmp_path / "new.csv"
    _table(10, seed=3).drop(columns="kind").to_csv(new, index=False)
    assert call(capsys, "predict", model, new)[0] == 0
    code, text, _ = call(capsys, "inspect", model)
    assert "  numeric: a, b\n" in text
    assert "  left out (no value in any row, or a row index): blank\n" in text

    # 7. text in a numeric column: file, line, value; 4. a decimal comma's option
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n0.5,1\n0.1,n.a.\n")
    line = one_line_error(call(capsys, "predict", model, bad)[::2])
    assert line == (
        f"deltaprop: error: column 'b' of '{bad}' must hold numbers (as when the model was "
        "trained), but row 2 (line 3) has 'n.a.', which is not a number; fix it or mark it "
        "missing with --na-values 'n.a.'"
    )
    euro = tmp_path / "euro.txt"
    euro.write_text("a;b\n0,5;1\n0,1;2,5\n")
    line = one_line_error(call(capsys, "predict", model, euro)[::2])
    assert line.endswith("row 1 (line 2) has '0,5' (and 1 more), which is not a number; "
                         "numbers with a decimal comma? Read them with --decimal ','")  # fmt: skip
    assert call(capsys, "predict", model, euro, "--decimal", ",")[0] == 0

    # 8. a tab-separated .csv; case; evaluate without --target; .csv.gz
    tab = tmp_path / "tab.csv"
    _table(10).to_csv(tab, index=False, sep="\t")
    line = one_line_error(call(capsys, "evaluate", model, tab)[::2])
    assert line.startswith("deltaprop: error: the model's target 'kind': no such column")
    assert line.endswith("the header looks separated by tab, not commas: name the file .txt "
                         "(the separator is sniffed) or .tsv")  # fmt: skip
    upper = tmp_path / "upper.csv"
    _table(10).rename(columns={"a": "A"}).to_csv(upper, index=False)
    line = one_line_error(call(capsys, "predict", model, upper)[::2])
    assert line == (
        f"deltaprop: error: '{upper}' lacks the column 'a' that the model was trained on; "
        "did you mean 'A'?"
    )
    packed = tmp_path / "new.csv.gz"
    packed.write_bytes(gzip.compress(new.read_bytes()))
    assert call(capsys, "predict", model, packed)[1] == call(capsys, "predict", model, new)[1]


def test_a_gzip_file_that_is_not_gzip_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv.gz"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=f"cannot read '{path}' as gzip-compressed CSV"):
        read_table(path)


def test_a_gzip_table_trains_into_the_folder_of_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = "".join(f"{i % 7},{i % 3},{i % 2}\n" for i in range(40))
    (tmp_path / "f.csv.gz").write_bytes(gzip.compress(("a,b,y\n" + rows).encode()))
    monkeypatch.chdir(tmp_path)
    code, _, err = call(capsys, "train", "f.csv.gz", "--target", "y", "--hidden", "4",
                        "--epochs", "2", "--quiet", "--no-report")  # fmt: skip
    assert code == 0, err
    assert (tmp_path / "runs" / "f" / "model.safetensors").is_file()  # not runs/f.csv


@pytest.mark.parametrize("options", [["--thousands", "."], ["--decimal", ",", "--thousands", ","]])
def test_a_thousands_separator_equal_to_the_decimal_mark_is_refused(
    options: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "f.csv").write_text("a,y\n5.1,0\n5,1\n" * 10)
    code, _, err = call(capsys, "train", tmp_path / "f.csv", "--target", "y", *options,
                        "--out", tmp_path / "run")  # fmt: skip
    assert code == 2 and "is also the decimal mark" in err, err
    assert not (tmp_path / "run").exists()


def test_a_column_named_twice_is_refused_before_pandas_renames_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "f.csv").write_text("\ufeffa, y,y\n" + "1,0,1\n2,1,0\n" * 10)
    code, _, err = call(capsys, "train", tmp_path / "f.csv", "--target", "y",
                        "--out", tmp_path / "run")  # fmt: skip
    assert code == 2, err
    assert "names the column 'y' more than once (columns 2, 3 of its header)" in err
    (tmp_path / "g.csv").write_text('a,"a,b",y\n' + "1,2,0\n3,4,1\n" * 10)  # a quoted comma
    assert read_table(tmp_path / "g.csv").columns.tolist() == ["a", "a,b", "y"]
