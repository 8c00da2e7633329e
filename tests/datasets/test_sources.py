"""The out-of-core sources read the same rows as the arrays they were written from, by any
row range, whatever the files' chunking (deltaprop/data/sources.py, parquet.py, csv_source.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deltaprop.data import CSVDataset, NpyDataset, ParquetDataset, open_dataset, rank_rows

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def table(m: int = 537, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(m, n)), 6)
    return X, np.round(X[:, 0] - 2 * X[:, 1], 6)


def write_parquet(folder: Path, X: np.ndarray, y: np.ndarray, files: int, group: int) -> None:
    folder.mkdir()
    cuts = np.array_split(np.arange(X.shape[0]), files)
    for k, rows in enumerate(cuts):
        cols = {f"x{j}": X[rows, j] for j in range(X.shape[1])} | {"target": y[rows]}
        pq.write_table(pa.table(cols), folder / f"part-{k:03d}.parquet", row_group_size=group)


def write_csv(path: Path, X: np.ndarray, y: np.ndarray) -> None:
    header = ",".join([*(f"x{j}" for j in range(X.shape[1])), "target"])
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=header, comments="", fmt="%.6f")


RANGES = [(0, 1), (0, 537), (100, 101), (63, 300), (536, 537), (200, 200)]


def test_npy_file_reads_rows_by_range(tmp_path: Path) -> None:
    X, y = table()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    data = open_dataset(tmp_path / "X.npy", tmp_path / "y.npy")
    assert isinstance(data, NpyDataset) and isinstance(data.X, np.memmap)
    assert (data.n_rows, data.n_features, data.target_shape) == (537, 4, ())
    for a, b in RANGES:
        Xr, yr = data.read(a, b)
        np.testing.assert_array_equal(Xr, X[a:b])
        np.testing.assert_array_equal(yr, y[a:b])
        assert Xr.flags.c_contiguous and Xr.dtype == np.float64


@pytest.mark.parametrize(("files", "group"), [(1, 1000), (3, 50), (5, 7)])
def test_parquet_directory_reads_the_same_rows_whatever_the_row_groups(
    tmp_path: Path, files: int, group: int
) -> None:
    X, y = table()
    write_parquet(tmp_path / "pq", X, y, files, group)
    data = open_dataset(tmp_path / "pq", "target")
    assert isinstance(data, ParquetDataset)
    assert data.feature_names == ["x0", "x1", "x2", "x3"] and data.n_rows == 537
    for a, b in RANGES:
        Xr, yr = data.read(a, b)
        np.testing.assert_array_equal(Xr, X[a:b])
        np.testing.assert_array_equal(yr, y[a:b])
    rng = np.random.default_rng(files)
    for rows in (rng.permutation(537), rng.choice(537, 40), np.array([536, 0]), np.arange(0)):
        Xr, yr = data.take(rows)  # every row group touched decoded once
        np.testing.assert_array_equal(Xr, X[rows])
        np.testing.assert_array_equal(yr, y[rows])
        assert Xr.flags.c_contiguous and Xr.shape == (len(rows), 4)
    with pytest.raises(ValueError, match="outside the rows this dataset can read"):
        data.take(np.array([537]))


@pytest.mark.parametrize("spill_dir", ["auto", None])
def test_parquet_takes_by_small_blocks_and_mixed_column_types(
    tmp_path: Path, spill_dir: str | None
) -> None:
    """Rows spread thinly over many blocks and densely over a few read the same; integer,
    float32 and boolean columns convert as NumPy casts them (Arrow's row-major conversion
    where every column is a number, column by column with a boolean)."""
    X = table()[0]
    ints = np.arange(537, dtype=np.int32) * 3 - 700
    flags = ints % 2 == 0
    for name, extra in [("numbers", {}), ("with_bool", {"flag": flags})]:
        cols = {"i": ints, "f": X[:, 0].astype(np.float32), **extra, "target": ints % 5}
        folder = tmp_path / name
        folder.mkdir()
        pq.write_table(pa.table(cols), folder / "a.parquet", row_group_size=61)
        want = np.column_stack(
            [np.asarray(c, np.float64) for k, c in cols.items() if k != "target"]
        )
        data = ParquetDataset(folder, "target", block_rows=8, spill_dir=spill_dir)
        rng = np.random.default_rng(2)
        for rows in (np.array([536, 0, 300]), rng.permutation(537)[:200], np.arange(530, 537)):
            Xr, yr = data.take(rows)
            np.testing.assert_array_equal(Xr, want[rows])
            np.testing.assert_array_equal(yr, (ints % 5)[rows].astype(np.float64))


def test_take_gives_the_rows_in_their_order(tmp_path: Path) -> None:
    X, y = table()
    write_csv(tmp_path / "t.csv", X, y)
    for data in (NpyDataset(X, y, block_rows=50), CSVDataset(tmp_path / "t.csv", "target")):
        rows = np.random.default_rng(1).permutation(537)[:300]
        Xr, yr = data.take(rows)
        np.testing.assert_allclose(Xr, X[rows], rtol=1e-12)
        np.testing.assert_allclose(yr, y[rows], rtol=1e-12)


@pytest.mark.parametrize("chunk_rows", [1, 10, 64, 1000])
def test_csv_reads_the_same_rows_whatever_the_chunk(tmp_path: Path, chunk_rows: int) -> None:
    X, y = table()
    write_csv(tmp_path / "t.csv", X, y)
    data = CSVDataset(tmp_path / "t.csv", "target", chunk_rows=chunk_rows)
    assert data.n_rows == 537 and data.feature_names == ["x0", "x1", "x2", "x3"]
    for a, b in RANGES:
        Xr, yr = data.read(a, b)
        np.testing.assert_array_equal(Xr, X[a:b])
        np.testing.assert_array_equal(yr, y[a:b])


def test_csv_without_a_final_newline_and_by_index(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n7,8,9")
    data = CSVDataset(path, 0, chunk_rows=2, dtype="float32")
    X, y = data.read(0, 3)
    assert X.dtype == np.float32
    np.testing.assert_array_equal(X, [[2, 3], [5, 6], [8, 9]])
    np.testing.assert_array_equal(y, [1, 4, 7])


def test_csv_missing_values_are_refused_with_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2\n3,\n")
    data = CSVDataset(path, "b")
    with pytest.raises(ValueError, match="rows 0 to 2 are not 2 numbers"):
        data.read(0, 2)


def test_a_rank_file_reads_only_its_rows(tmp_path: Path) -> None:
    X, y = table()
    share = rank_rows(537, 1, 2, block_rows=100)
    assert share == slice(300, 537)
    data = NpyDataset(X[share], y[share], offset=share.start, n_rows=537, block_rows=100)
    np.testing.assert_array_equal(data.read(310, 320)[0], X[310:320])
    with pytest.raises(ValueError, match=r"outside the rows this dataset can read, \[300, 537\)"):
        data.read(0, 10)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: NpyDataset(np.zeros(3), np.zeros(3)), "X must be a numeric 2-D array"),
        (lambda p: NpyDataset(np.zeros((3, 2)), np.zeros(4)), r"y must be numeric of shape \(3,\)"),
        (lambda p: NpyDataset(np.zeros((3, 2)), np.zeros(3), dtype="int32"), "dtype must be"),
        (lambda p: NpyDataset(np.zeros((3, 2)), np.zeros(3), block_rows=0), "block_rows must be"),
        (lambda p: open_dataset(p / "x.json", "t"), "path must be a .npy file"),
        (lambda p: CSVDataset(p / "t.csv", "nope"), "target must name a column"),
        (lambda p: ParquetDataset(p / "none", "t"), "no such file or directory"),
    ],
)
def test_bad_arguments_are_named(tmp_path: Path, make, match: str) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises((ValueError, FileNotFoundError), match=match):
        make(tmp_path)
