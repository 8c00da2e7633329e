"""Bad input files are named by the data layer, the same words for Python and the command
(deltaprop/data/parquet.py ``open_parts``, sources.py ``open_npy``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deltaprop.app.errors import DataError
from deltaprop.app.stream_sources import open_source
from deltaprop.data import NpyDataset, ParquetDataset

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

X = np.round(np.random.default_rng(0).normal(size=(90, 3)), 6)


def write_parts(folder: Path, orders: list[list[str]]) -> None:
    """One part per entry of ``orders`` (its columns, in that order), 30 rows each."""
    folder.mkdir()
    cols = {"x0": X[:, 0], "x1": X[:, 1], "target": X[:, 2]}
    for k, names in enumerate(orders):
        part = pa.table({c: cols[c][30 * k : 30 * (k + 1)] for c in names})
        pq.write_table(part, folder / f"part-{k:03d}.parquet", row_group_size=7)


def test_a_part_without_a_column_is_named_when_the_dataset_opens(tmp_path: Path) -> None:
    full = ["x0", "x1", "target"]
    write_parts(tmp_path / "pq", [full, ["x0", "target"], full])
    part, first = str(tmp_path / "pq/part-001.parquet"), str(tmp_path / "pq/part-000.parquet")
    expected = (
        "the parts of a Parquet table must hold the same columns (in any order): "
        f"{part!r} lacks ['x1']; its columns are ['x0', 'target'], those of {first!r} are "
        "['x0', 'x1', 'target']"
    )
    with pytest.raises(ValueError) as raised:
        ParquetDataset(tmp_path / "pq", "target")
    assert str(raised.value) == expected
    with pytest.raises(DataError) as by_command:  # the same rule and words
        open_source(tmp_path / "pq", na_values=[])
    assert str(by_command.value) == expected


def test_an_added_column_is_named(tmp_path: Path) -> None:
    write_parts(tmp_path / "pq", [["x0", "target"], ["x0", "x1", "target"]])
    with pytest.raises(ValueError, match=r"part-001.parquet' adds \['x1'\]; its columns"):
        ParquetDataset(tmp_path / "pq", "target")


def test_parts_with_their_columns_in_another_order_read_by_name(tmp_path: Path) -> None:
    write_parts(tmp_path / "pq", [["x0", "x1", "target"], ["target", "x1", "x0"]] * 1
                + [["x1", "target", "x0"]])  # fmt: skip
    for spill in ("auto", None):
        data = ParquetDataset(tmp_path / "pq", "target", spill_dir=spill)
        assert data.feature_names == ["x0", "x1"]
        Xr, yr = data.read(0, 90)
        np.testing.assert_array_equal(Xr, X[:, :2])
        np.testing.assert_array_equal(yr, X[:, 2])
        rows = np.array([75, 2, 40, 31])
        np.testing.assert_array_equal(data.take(rows)[0], X[rows, :2])
    source = open_source(tmp_path / "pq", na_values=[])  # the command takes them too
    assert source.columns == ["x0", "x1", "target"]
    chunks = list(source.chunks())
    assert [list(c.columns) for c in chunks] == [["x0", "x1", "target"]] * len(chunks)
    np.testing.assert_array_equal(np.concatenate([c.to_numpy() for c in chunks]), X)


def test_a_truncated_part_is_named(tmp_path: Path) -> None:
    full = ["x0", "x1", "target"]
    write_parts(tmp_path / "pq", [full, full])
    part = tmp_path / "pq/part-001.parquet"
    part.write_bytes(part.read_bytes()[:100])
    match = f"cannot read '{part}' as a Parquet file: Parquet magic bytes not found"
    with pytest.raises(ValueError, match=match):
        ParquetDataset(tmp_path / "pq", "target")
    with pytest.raises(DataError, match=match):
        open_source(tmp_path / "pq", na_values=[])


@pytest.mark.parametrize("spill_dir", ["auto", None])
def test_a_value_that_is_not_a_number_is_named_with_its_row(
    tmp_path: Path, spill_dir: str | None
) -> None:
    (tmp_path / "pq").mkdir()
    for k in range(3):
        text = [repr(float(v)) for v in X[30 * k : 30 * (k + 1), 1]]
        if k == 2:
            text[14] = "oops"
        part = pa.table({"x0": X[30 * k : 30 * (k + 1), 0], "x1": text,
                         "target": X[30 * k : 30 * (k + 1), 2]})  # fmt: skip
        pq.write_table(part, tmp_path / f"pq/part-{k:03d}.parquet", row_group_size=7)
    data = ParquetDataset(tmp_path / "pq", "target", columns=["x0", "x1"], spill_dir=spill_dir)
    np.testing.assert_array_equal(data.read(0, 60)[0], X[:60, :2])  # numbers as text parse
    where = str(tmp_path / "pq/part-002.parquet")
    match = (
        f"column 'x1', row 74 of the table \\(counted from 0; in '{where}'\\): the value "
        "'oops' is not a number"
    )
    with pytest.raises(ValueError, match=match):
        data.read(60, 90)
    with pytest.raises(ValueError, match=match):
        data.take(np.array([80, 3]))


def test_a_truncated_npy_is_named(tmp_path: Path) -> None:
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", X[:, 0])
    whole = (tmp_path / "X.npy").read_bytes()
    (tmp_path / "X.npy").write_bytes(whole[: len(whole) // 2])
    path = str(tmp_path / "X.npy")
    with pytest.raises(ValueError, match=f"X: cannot map '{path}' as a .npy array: mmap length"):
        NpyDataset(tmp_path / "X.npy", tmp_path / "y.npy")
    with pytest.raises(DataError, match=f"cannot map '{path}' as a .npy array: mmap length"):
        open_source(tmp_path / "X.npy", na_values=[])
