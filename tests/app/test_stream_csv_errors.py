"""A malformed row of a streamed CSV (deltaprop.app.stream_sources): refused in one line
that names the file and the row's line in the file (not in the block parsed), as the
in-memory read refuses it; a row with too few fields alike; no work folder is left."""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import call

from deltaprop.app import stream_sources
from deltaprop.app.tables import read_table

FAST = ["--epochs", "1", "--quiet", "--hidden", "8"]


def table(path: Path, bad: int, fields: str, quoted: bool = False) -> Path:
    """300 rows of 4 fields; data row ``bad`` (1 = the first, line ``bad + 1``) ends in
    ``fields`` instead of its own last two."""
    word = '"u"' if quoted else "u"
    lines = ["a,b,c,y"] + [f"{i % 7},{(i * 3) % 11 / 4},{word},{i % 2}" for i in range(300)]
    lines[bad] = lines[bad].rsplit(",", 2)[0] + fields
    path.write_text("\n".join(lines) + "\n")
    return path


def in_memory_error(path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(stream_sources, "STREAM_CSV_BYTES", 64 << 20)
    with pytest.raises(Exception) as info:
        read_table(path)
    monkeypatch.setattr(stream_sources, "STREAM_CSV_BYTES", 1)
    return str(info.value)


@pytest.mark.parametrize("quoted", [False, True], ids=["cut", "quoted"])
@pytest.mark.parametrize("bad", [3, 150, 299])
@pytest.mark.parametrize(("fields", "seen"), [(",u,1,1.5", 5), ("", 2)], ids=["long", "short"])
def test_a_malformed_row_names_its_line_in_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    bad: int, fields: str, seen: int, quoted: bool,
) -> None:  # fmt: skip
    monkeypatch.setattr(stream_sources, "STREAM_CSV_BYTES", 1)  # "large": all of them
    monkeypatch.setattr(stream_sources, "CSV_BLOCK_BYTES", 512)  # many blocks
    monkeypatch.setattr(stream_sources, "HEAD_ROWS", 2)  # the bad row only in the blocks
    path = table(tmp_path / "bad.csv", bad, fields, quoted)
    out = tmp_path / "run"
    code, stdout, err = call(capsys, "train", path, "--target", "y", "--out", out, *FAST)
    assert code == 2, stdout + err
    expected = f"Expected 4 fields in line {bad + 1}, saw {seen}"
    assert err.count("\n") == 1 and err.startswith(f"deltaprop: error: cannot parse '{path}'")
    assert expected in err
    assert err.strip() == f"deltaprop: error: {in_memory_error(path, monkeypatch)}"
    assert not (out / ".streamed").exists()


def test_empty_fields_are_missing_values_in_a_streamed_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_sources, "STREAM_CSV_BYTES", 1)
    path = table(tmp_path / "gaps.csv", 40, ",,1")  # b and c empty in one row: fine
    code, stdout, err = call(capsys, "train", path, "--target", "y", "--out", tmp_path / "r", *FAST)
    assert code == 0, err
    assert "300 rows" in stdout and "(streamed)" in stdout


def test_a_streamed_csv_that_names_a_column_twice_is_refused_as_in_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("a,y,y\n" + "1,0,1\n2,1,0\n" * 20)
    expected = in_memory_error(path, monkeypatch)  # leaves STREAM_CSV_BYTES at 1: streamed
    assert "names the column 'y' more than once" in expected
    out = tmp_path / "run"
    code, stdout, err = call(capsys, "train", path, "--target", "y", "--out", out, *FAST)
    assert code == 2, stdout + err
    assert err.strip() == f"deltaprop: error: {expected}"
    assert not (out / ".streamed").exists()
