"""deltaprop.app.csv_shards: each MPI rank parses its share of a CSV file's lines.

The ranks are simulated in one process: one thread per rank, and an ``allgather`` that
pickles what each rank sends, as mpi4py does. Every frame is compared with
:func:`pandas.read_csv` of the whole file (and with a one-process ``read_table``), for 1,
2, 3 and 7 ranks. The real 2-rank run is in ``tests/test_distributed.py``.
"""

from __future__ import annotations

import io
import itertools
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deltaprop.app import csv_shards
from deltaprop.app.csv_shards import byte_range, merge_pieces, read_piece
from deltaprop.app.errors import CSVSyntaxError, DataError
from deltaprop.app.tables import read_table

SIZES = (1, 2, 3, 7)
DATA = Path(__file__).parents[1] / "data"


class _Hub:
    """What the simulated ranks share: the slots of an allgather and a barrier."""

    def __init__(self, size: int) -> None:
        self.barrier = threading.Barrier(size, timeout=30)  # a rank left behind: no hang
        self.slots: list[bytes] = [b""] * size
        self.calls = 0


class FakeComm:
    """The parts of :class:`deltaprop.parallel.MPICommunicator` that reading uses."""

    def __init__(self, hub: _Hub, rank: int, size: int) -> None:
        self.hub, self.rank, self.size = hub, rank, size
        self.comm = self

    def allgather(self, obj: Any) -> list[Any]:
        self.hub.slots[self.rank] = pickle.dumps(obj)
        self.hub.barrier.wait()
        out = [pickle.loads(b) for b in self.hub.slots]
        if self.rank == 0:
            self.hub.calls += 1
        self.hub.barrier.wait()
        return out


def on_ranks(size: int, fn: Callable[[FakeComm], Any]) -> list[Any]:
    """``fn(comm)`` on ``size`` simulated ranks; each rank's result or exception."""
    hub = _Hub(size)
    results: list[Any] = [None] * size

    def run(rank: int) -> None:
        try:
            results[rank] = fn(FakeComm(hub, rank, size))
        except Exception as exc:
            results[rank] = exc

    threads = [threading.Thread(target=run, args=(r,), name=f"rank-{r}") for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def whole(path: Path, sep: str = ",", na_values: tuple[str, ...] = ()) -> pd.DataFrame:
    """The one-process frame, as ``tabular._read_csv`` reads it."""
    return pd.read_csv(
        path, sep=sep, na_values=list(na_values) or None, skipinitialspace=True, low_memory=False
    )


def sharded(
    path: Path, size: int, sep: str = ",", na_values: tuple[str, ...] = ()
) -> list[pd.DataFrame | None]:
    return on_ranks(size, lambda comm: csv_shards.read_csv(path, sep, list(na_values), comm))


def error_of(fn: Callable[[], Any]) -> str:
    with pytest.raises(DataError) as info:
        fn()
    return str(info.value)


def rows(n: int, fmt: Callable[[int], str]) -> str:
    return "".join(fmt(i) for i in range(n))


# name -> (file text, separator, na_values); each is cut and must read as one whole read.
CUT: dict[str, tuple[str, str, tuple[str, ...]]] = {
    # ints on the first lines, floats and missing values on the last: float64 overall
    "ints_then_floats": (
        "a,b,c\n" + rows(12, lambda i: f"{i},{i * 3},x{i % 3}\n") + "1.5,,y\n2.25,7,\n",
        ",",
        (),
    ),
    "blank_lines": ("a,b\n1,2\n\n\n3,4\n\n5,6\n\n7,8\n\n\n", ",", ()),
    "crlf": ("a,b,c\r\n" + rows(9, lambda i: f"{i},{i / 4},k{i % 2}\r\n") + "\r\n1,,\r\n", ",", ()),
    "no_trailing_newline": ("a,b\n" + rows(8, lambda i: f"{i},{-i}\n") + "9,-9", ",", ()),
    "fewer_rows_than_ranks": ("a,b\n1,x\n2,y\n", ",", ()),
    "one_row": ("a,b\n1,2\n", ",", ()),
    # a sparse text column: some pieces hold only missing values (float64 there)
    "sparse_categories": (
        "id,colour,size\n" + rows(15, lambda i: f"{i},{'red' if i in (1, 13) else ''},{i % 4}\n"),
        ",",
        (),
    ),
    "na_values": (
        "a,b,c\n" + rows(10, lambda i: f"{'?' if i % 4 == 0 else i},{'-' if i == 7 else i},z\n"),
        ",",
        ("?", "-"),
    ),
    "initial_spaces": ("a, b, c\n" + rows(10, lambda i: f" {i},  {i}.5,   w{i}\n"), ",", ()),
    "tabs_and_unicode": (
        "nom\tvaleur\tété\n" + rows(10, lambda i: f"ç{i}\t{i}\tœ{'é' * i}\n"),
        "\t",
        (),
    ),
    "booleans": ("a,b\n" + rows(10, lambda i: f"{i % 2 == 0},{i}\n"), ",", ()),
    "all_missing_column": ("a,b,c\n" + rows(10, lambda i: f"{i},,NA\n"), ",", ()),
    "big_integers": (
        "a,b\n" + rows(10, lambda i: f"{2**62 + 12345 * i},{-(2**60) - i}\n") + "1.5,2\n",
        ",",
        (),
    ),
}

# name -> file text whose cut pieces could read otherwise: every rank reads it whole.
WHOLE: dict[str, str] = {
    "quote": 'a,b\n1,"x\ny"\n' + rows(10, lambda i: f"{i},z\n"),
    "quote_in_header": '"a",b\n' + rows(10, lambda i: f"{i},z\n"),
    "lone_carriage_return": "a,b\r1,2\r3,4\r" + rows(10, lambda i: f"{i},{i}\r"),
    "text_in_numeric_column": "x,y\n" + rows(20, lambda i: f"{i},a\n") + "three,b\n",
    "booleans_with_missing": "a,b\n" + rows(10, lambda i: f"{'' if i == 9 else i % 2 == 0},{i}\n"),
    "blank_first_line": "\na,b\n" + rows(10, lambda i: f"{i},{i}\n"),
    "header_only": "a,b,c\n",
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("name", list(CUT))
def test_cut_pieces_merge_into_the_whole_file_read(tmp_path: Path, name: str, size: int) -> None:
    text, sep, na = CUT[name]
    path = tmp_path / ("f.tsv" if sep == "\t" else "f.csv")
    path.write_bytes(text.encode("utf-8"))
    expected = whole(path, sep, na)
    frames = sharded(path, size, sep, na)
    for frame in frames:
        assert isinstance(frame, pd.DataFrame), frame
        pd.testing.assert_frame_equal(frame, expected)
        assert isinstance(frame.index, pd.RangeIndex)
    frames = on_ranks(size, lambda comm: read_table(path, na_values=na, comm=comm))
    for frame in frames:
        if isinstance(frame, Exception):
            assert str(frame) == error_of(lambda: read_table(path, na_values=na))
        else:
            pd.testing.assert_frame_equal(frame, read_table(path, na_values=na))


def test_the_dtypes_that_the_pieces_merge_into(tmp_path: Path) -> None:
    text, _, _ = CUT["ints_then_floats"]
    path = tmp_path / "f.csv"
    path.write_text(text)
    frame = sharded(path, 3)[0]
    assert frame is not None
    assert frame.dtypes.astype(str).to_dict() == {"a": "float64", "b": "float64", "c": "str"}
    assert (
        frame["a"].iloc[-2:].tolist() == [1.5, 2.25] and frame["b"].iloc[-2] != frame["b"].iloc[-2]
    )
    path.write_text(CUT["sparse_categories"][0])
    frame = sharded(path, 7)[0]
    assert frame is not None and str(frame["colour"].dtype) == "str"
    assert frame["colour"].notna().tolist() == [i in (1, 13) for i in range(15)]
    assert frame["size"].dtype == np.int64 and frame["size"].sum() == sum(i % 4 for i in range(15))


@pytest.mark.parametrize("size", [2, 3, 7])
@pytest.mark.parametrize("name", list(WHOLE))
def test_files_that_cannot_be_cut_are_read_whole_by_every_rank(
    tmp_path: Path, name: str, size: int
) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(WHOLE[name].encode())
    assert sharded(path, size) == [None] * size  # every rank decides alike
    results = on_ranks(size, lambda comm: read_table(path, comm=comm))
    try:
        single = read_table(path)
    except DataError as exc:
        assert [str(r) for r in results] == [str(exc)] * size
    else:
        for frame in results:
            pd.testing.assert_frame_equal(frame, single)


def test_one_rank_reads_every_line_itself(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(CUT["ints_then_floats"][0])
    (frame,) = sharded(path, 1)
    pd.testing.assert_frame_equal(frame, whole(path))


# ---------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("bad_line", [3, 9, 17, 30, 31])
def test_a_malformed_line_is_reported_with_its_line_in_the_file(
    tmp_path: Path, bad_line: int, size: int
) -> None:
    lines = ["a,b,c"] + [f"{i},{i},{i}" for i in range(2, 32)]
    lines[bad_line - 1] += ",extra"
    lines[5] = ""  # a blank line counts as a line, as in one read
    (tmp_path / "line 1").mkdir()
    path = tmp_path / "line 1" / "f.csv"  # only the parser's line numbers move
    path.write_text("\r\n".join(lines) + "\r\n")
    single = error_of(lambda: read_table(path))
    assert single == (
        f"cannot parse '{path}' as CSV: Expected 3 fields in line {bad_line}, saw 4 (a row "
        "with more fields than the header names: a separator at its end, or a field holding "
        "the separator unquoted? Remove it, or name the field in the header)"
    )
    results = on_ranks(size, lambda comm: read_table(path, comm=comm))
    assert [str(r) for r in results] == [single] * size
    assert all(isinstance(r, DataError) for r in results)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("bad_line", [2, 17, 31])
def test_a_row_with_too_few_fields_is_refused_with_its_line_in_the_file(
    tmp_path: Path, bad_line: int, size: int
) -> None:
    lines = ["a,b,c"] + [f"{i},,{i}" for i in range(2, 32)]  # a,,b: a missing value, fine
    lines[bad_line - 1] = "5,6"
    lines[5] = ""  # a blank line is no row, but counts as a line
    path = tmp_path / "f.csv"
    path.write_text("\n".join(lines) + "\n")
    single = error_of(lambda: read_table(path))
    assert single.startswith(
        f"cannot parse '{path}' as CSV: Expected 3 fields in line {bad_line}, saw 2 ("
    )
    results = on_ranks(size, lambda comm: read_table(path, comm=comm))
    assert [str(r) for r in results] == [single] * size
    assert all(isinstance(r, CSVSyntaxError) for r in results)
    lines[bad_line - 1] = "5,,"  # the same row with its fields present and empty
    path.write_text("\n".join(lines) + "\n")
    assert read_table(path)["b"].isna().all()


@pytest.mark.parametrize("size", [2, 3, 7])
def test_a_malformed_line_comes_before_a_byte_that_is_not_utf8(tmp_path: Path, size: int) -> None:
    body = [f"{i},x{i}\n".encode() for i in range(40)]
    body[3] = b"3,caf\xe9\n"  # latin-1, early in the file
    body[35] = b"35,x,y\n"  # a malformed line, late
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n" + b"".join(body))
    single = error_of(lambda: read_table(path))
    assert "Expected 2 fields in line 37, saw 3" in single
    results = on_ranks(size, lambda comm: read_table(path, comm=comm))
    assert [str(r) for r in results] == [single] * size
    assert all(isinstance(r, CSVSyntaxError) for r in results)
    body[35] = b"35,x\n"
    path.write_bytes(b"a,b\n" + b"".join(body))
    single = error_of(lambda: read_table(path))
    assert "not a UTF-8 text file" in single
    results = on_ranks(size, lambda comm: read_table(path, comm=comm))
    assert [str(r) for r in results] == [single] * size


@pytest.mark.parametrize("text", ["", "   \n\n", "\x00\x01binary", "a,y,y\n" + "1,0,1\n" * 20])
def test_empty_binary_and_twice_named_files_fail_alike_on_every_rank(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "f.csv"
    path.write_text(text)
    single = error_of(lambda: read_table(path))
    assert [str(r) for r in on_ranks(3, lambda comm: read_table(path, comm=comm))] == [single] * 3


def test_a_rank_that_fails_unexpectedly_does_not_leave_the_others_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.csv"
    path.write_text("a,b\n" + rows(30, lambda i: f"{i},{i}\n"))
    real = csv_shards.read_piece

    def fail_on_rank_2(data: bytes, *args: Any) -> Any:
        if b"\n25,25\n" in data:
            raise MemoryError("out of memory on purpose")
        return real(data, *args)

    monkeypatch.setattr(csv_shards, "read_piece", fail_on_rank_2)
    results = on_ranks(3, lambda comm: read_table(path, comm=comm))
    assert isinstance(results[2], MemoryError)
    for r in (0, 1):
        assert isinstance(results[r], RuntimeError)
        assert str(results[r]) == (
            f"reading '{path}' failed on MPI rank 2: MemoryError: out of memory on purpose"
        )


def test_a_file_that_one_rank_cannot_see_fails_on_every_rank(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.csv"
    path.write_text("a,b\n1,2\n")
    real = csv_shards.check_readable

    def missing_on_rank_1(p: Path) -> None:
        if threading.current_thread().name == "rank-1":
            real(tmp_path / "elsewhere.csv")
        real(p)

    monkeypatch.setattr(csv_shards, "check_readable", missing_on_rank_1)
    results = on_ranks(3, lambda comm: read_table(path, comm=comm))
    assert [str(r) for r in results] == [f"no such file: '{tmp_path / 'elsewhere.csv'}'"] * 3
    missing = tmp_path / "missing.csv"
    results = on_ranks(2, lambda comm: read_table(missing, comm=comm))
    assert [str(r) for r in results] == [f"no such file: '{missing}'"] * 2


# ---------------------------------------------------------------------------------------
# The pieces
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 40])
def test_byte_ranges_tile_the_data_in_whole_lines(size: int) -> None:
    rng = np.random.default_rng(size)
    lines = [b"x" * int(k) + b"\n" for k in rng.integers(0, 30, 25)]
    data = b"head\n" + b"".join(lines) + b"tail"
    f = io.BytesIO(data)
    ranges = [byte_range(f, 5, len(data), r, size) for r in range(size)]
    assert ranges[0][0] == 5 and ranges[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    starts = {5} | {i + 1 for i in range(5, len(data)) if data[i : i + 1] == b"\n"}
    n = len(data) - 5
    for r, (start, stop) in enumerate(ranges):
        assert start <= stop and start in starts | {len(data)}
        lo, hi = 5 + n * r // size, 5 + n * (r + 1) // size
        assert {s for s in starts if start <= s < stop} == {s for s in starts if lo <= s < hi}


def test_read_piece_counts_lines_from_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    piece = read_piece(b"1,2\n\n3,4\n", ["a", "b"], 10, path, ",", [])
    assert piece is not None
    assert piece.to_dict("list") == {"a": [1, 3], "b": [2, 4]}
    with pytest.raises(CSVSyntaxError, match=r"Expected 2 fields in line 13, saw 3"):
        read_piece(b"1,2\n\n3,4\n5,6,7\n", ["a", "b"], 10, path, ",", [])
    with pytest.raises(
        CSVSyntaxError, match=r"Expected 2 fields in line 12, saw 3 \(a row with more"
    ):
        read_piece(b"\n   \n1,2,3\n", ["a", "b"], 10, path, ",", [])  # never an index
    with pytest.raises(CSVSyntaxError, match=r"Expected 2 fields in line 10, saw 4"):
        read_piece(b"\t\t\t\n1\t2\n", ["a", "b"], 10, path, "\t", [])
    empty = read_piece(b"", ["a", "b"], 10, path, ",", [])
    assert empty is not None and empty.shape == (0, 2)


def test_merge_pieces_dtype_rules() -> None:
    ints = pd.DataFrame({"a": [1, 2], "t": pd.Series(["x", "y"], dtype="str")})
    floats = pd.DataFrame({"a": [0.5, np.nan], "t": [np.nan, np.nan]})
    empty = pd.DataFrame({"a": pd.Series(dtype=object), "t": pd.Series(dtype=object)})
    merged = merge_pieces([ints, empty, floats], ["a", "t"])
    assert merged is not None
    assert merged["a"].dtype == np.float64 and merged["a"].tolist()[:3] == [1.0, 2.0, 0.5]
    assert str(merged["t"].dtype) == "str" and merged["t"].isna().tolist() == [0, 0, 1, 1]
    assert list(merged.index) == [0, 1, 2, 3]
    text = pd.DataFrame({"a": pd.Series(["q", "r"], dtype="str"), "t": ["u", "v"]})
    assert merge_pieces([ints, text], ["a", "t"]) is None  # numbers and text
    flags = pd.DataFrame({"a": [True, False], "t": ["u", "v"]})
    no_flags = pd.DataFrame({"a": [np.nan, np.nan], "t": ["u", "v"]})
    assert merge_pieces([flags, no_flags], ["a", "t"]) is None  # pandas makes objects
    assert merge_pieces([empty, empty], ["a", "t"]) is None  # no rows
    assert merge_pieces([ints.set_axis([5, 3])], ["a", "t"]) is None  # an index


# ---------------------------------------------------------------------------------------
# Random files
# ---------------------------------------------------------------------------------------
def _random_file(rng: np.random.Generator) -> str:
    kinds = rng.choice(["int", "float", "text", "sparse", "bool", "mixed"], size=4)
    n = int(rng.integers(1, 40))
    cells = []
    for kind in kinds:
        column = []
        for _ in range(n):
            u = rng.random()
            if kind == "int":
                column.append("" if u < 0.1 else str(int(rng.integers(-50, 50))))
            elif kind == "float":
                column.append(str(int(rng.integers(0, 9))) if u < 0.6 else f"{rng.normal():.3f}")
            elif kind == "text":
                column.append("" if u < 0.2 else f"w{int(rng.integers(0, 5))}")
            elif kind == "sparse":
                column.append("s" if u < 0.05 else "")
            elif kind == "bool":
                column.append("True" if u < 0.5 else "False")
            else:
                column.append(str(int(rng.integers(0, 9))) if u < 0.97 else "oops")
        cells.append(column)
    eol = "\r\n" if rng.random() < 0.3 else "\n"
    body = [
        ",".join(row) + eol + (eol if rng.random() < 0.1 else "")
        for row in zip(*cells, strict=True)
    ]
    return ",".join(f"c{j}" for j in range(4)) + eol + "".join(body)


@pytest.mark.parametrize("seed", range(12))
def test_random_files_read_alike_on_any_number_of_ranks(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path = tmp_path / "f.csv"
    cut = 0
    for _ in range(5):
        path.write_bytes(_random_file(rng).encode())
        expected = whole(path)
        for size in (2, 3, 7):
            frames = sharded(path, size)
            assert all(f is None for f in frames) or all(f is not None for f in frames)
            for frame in frames:
                if frame is not None:  # else every rank reads the whole file
                    pd.testing.assert_frame_equal(frame, expected)
            cut += frames[0] is not None
    assert cut >= 5  # most random files are cut (134 of the 180 reads over these seeds)


def test_read_table_under_mpi_equals_one_process_on_the_penguins() -> None:
    single = read_table(DATA / "penguins.csv", categorical=["id"])
    assert sharded(DATA / "penguins.csv", 3)[0] is not None  # cut, not read whole
    for size in (2, 3, 7):
        frames = on_ranks(
            size, lambda comm: read_table(DATA / "penguins.csv", categorical=["id"], comm=comm)
        )
        for frame in frames:
            pd.testing.assert_frame_equal(frame, single)
