"""deltaprop.app.csv_text: a row with too few fields is refused as pandas refuses one with
too many, naming the file, the line, the fields expected and seen; an empty field is a
missing value, not a missing field."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from deltaprop.app.csv_text import parse_csv, short_row, short_row_of_file
from deltaprop.app.errors import CSVSyntaxError, DataError


@pytest.mark.parametrize(
    ("text", "names", "found"),
    [
        (b"a,b,c\n1,2,3\n1,2\n", None, (3, 3, 2)),
        (b"a,b,c\n1,,3\n,,\n1,2,3", None, None),  # empty fields: missing values
        (b"a,b,c\n1,2,3\n\n   \n\r\n4,5,6\n7\n", None, (7, 3, 1)),  # blank lines are no rows
        (b"a,b,c\r\n1,2,3\r\n1,2\r\n", None, (3, 3, 2)),
        (b"\na,b\n1,2\n3\n", None, (4, 2, 1)),  # the header: the first line not blank
        (b"1,2,3\n4,5\n", 3, (2, 3, 2)),  # without a header, as many fields as names
        (b"1,2,3\n4,5,6", 3, None),
        (b'a,b,c\n1,"x,y",3\n1,"x,y"\n', None, (3, 3, 2)),  # a quoted separator is no field
        (b'a,b,c\n1,"x\ny",3\n4,5\n', None, (4, 3, 2)),  # a quoted line break: one row
        (b'"a,1",b,c\n1,2,3\n1,2\n', None, (3, 3, 2)),
        (b"a,b\r1,2\r3\r4,5\r", None, (3, 2, 1)),  # lines ending in a lone carriage return
        (b"", 3, None),
    ],
)
def test_short_row_finds_the_first_row_with_too_few_fields(
    text: bytes, names: int | None, found: tuple[int, int, int] | None
) -> None:
    assert short_row(text, ",", names) == found


def test_short_row_of_a_tsv_and_of_a_file(tmp_path: Path) -> None:
    text = b"a\tb\tc\n1\t\t3\n1\t2\n"
    assert short_row(text, "\t", None) == (3, 3, 2)
    assert short_row(text, ",", None) is None  # one field each with another separator
    path = tmp_path / "f.tsv"
    path.write_bytes(b'a\tb\tc\n"x\ty"\t2\t3\n' + text[7:])
    assert short_row_of_file(path, "\t", 3) == (4, 3, 2)


def test_parse_csv_refuses_a_short_row_naming_file_line_and_fields(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("a,b,c\n" + "1,2,3\n" * 20 + "1,2\n")
    with pytest.raises(CSVSyntaxError) as info:
        parse_csv(path, path, ",", [])
    assert str(info.value) == (
        f"cannot parse '{path}' as CSV: Expected 3 fields in line 22, saw 2 (a row with "
        "fields missing at its end; an empty field, as in a,,b, is a missing value)"
    )
    assert len(parse_csv(path, path, ",", [], nrows=5)) == 5  # a read of the first rows


@pytest.mark.parametrize(("short", "long", "first"), [(5, 9, 5), (9, 5, 5)])
def test_the_first_malformed_row_in_the_file_is_reported(short: int, long: int, first: int) -> None:
    lines = ["a,b"] + [f"{i},{i}" for i in range(12)]
    lines[short - 1], lines[long - 1] = "1", "1,2,3"
    data = io.BytesIO(("\n".join(lines) + "\n").encode())
    with pytest.raises(CSVSyntaxError) as info:
        parse_csv(data, Path("f.csv"), ",", [])
    assert f"in line {first}, saw {1 if first == short else 3}" in str(info.value)


def test_a_short_row_comes_before_a_byte_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,caf\xe9\n" + b"1,2\n" * 5 + b"3\n")
    with pytest.raises(CSVSyntaxError, match="Expected 2 fields in line 8, saw 1"):
        parse_csv(path, path, ",", [])
    path.write_bytes(b"a,b\n1,caf\xe9\n" + b"1,2\n" * 5)
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        parse_csv(path, path, ",", [])


def test_short_row_counts_lines_across_its_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from deltaprop.app import csv_text

    text = b"a,b,c\n" + b"1,2,3\n\n" * 40 + b"1,2\n" + b"1,2,3\n" * 5
    assert short_row(text, ",", None) == (82, 3, 2)
    monkeypatch.setattr(csv_text, "_SCAN", 10)  # blocks of a few lines
    assert short_row(text, ",", None) == (82, 3, 2)
    assert short_row(text[:-24], ",", 3) == (82, 3, 2)
