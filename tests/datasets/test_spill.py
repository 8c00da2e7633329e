"""The decoded copy on a local disk and where it goes by default (deltaprop/data/spill.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from deltaprop.data import spill as spill_module
from deltaprop.data.spill import Spill, default_spill_dir


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_written_read_back_at_their_place(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(100, 5)).astype(dtype), rng.normal(size=(100, 2)).astype(dtype)
    s = Spill(tmp_path, 100, 5, 2, dtype)
    s.write(60, X[60:], Y[60:])  # out of order, as row groups are first touched
    s.write(0, X[:60], Y[:60])
    Xo, Yo = np.zeros((31, 5), dtype), np.zeros((31, 2), dtype)
    s.read_into(37, Xo, Yo)  # across the two writes
    np.testing.assert_array_equal(Xo, X[37:68])
    np.testing.assert_array_equal(Yo, Y[37:68])
    s.read_into(37, Xo[:0], Yo[:0])  # nothing
    assert os.listdir(tmp_path) == []  # unnamed
    s.close()


def test_a_read_past_what_the_file_holds_raises(tmp_path: Path) -> None:
    s = Spill(tmp_path, 10, 2, 1, np.float64)
    with pytest.raises(OSError, match="ended early"):
        s.read_into(9, np.zeros((5, 2)), np.zeros((5, 1)))


def test_the_default_directory_is_on_a_disk_with_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk, memory = tmp_path / "disk", tmp_path / "memory"
    disk.mkdir(), memory.mkdir()
    monkeypatch.delenv("TMPDIR", raising=False)
    monkeypatch.setattr(spill_module.tempfile, "gettempdir", lambda: str(disk))
    kinds = {str(memory): "tmpfs", str(disk): "ext4", "/var/tmp": "tmpfs"}
    monkeypatch.setattr(spill_module, "_filesystem", lambda p: kinds.get(str(p), "tmpfs"))
    assert default_spill_dir(1000) == disk  # /var/tmp is held in memory here
    free = spill_module.shutil.disk_usage(disk).free
    assert default_spill_dir(int(free * 0.6)) is None  # more than half the free space
    monkeypatch.setenv("TMPDIR", str(memory))  # the user's own choice wins, even tmpfs
    assert default_spill_dir(1000) == memory
    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))
    assert default_spill_dir(1000) == disk


def test_the_filesystem_is_read_from_the_mount_table(tmp_path: Path) -> None:
    if not Path("/proc/mounts").exists():
        pytest.skip("no /proc/mounts")
    points = {
        line.split()[1]: line.split()[2] for line in Path("/proc/mounts").read_text().splitlines()
    }
    assert spill_module._filesystem(Path("/")) == points["/"]
    assert spill_module._filesystem(Path("/proc")) == "proc"


def _small_table(path: Path) -> np.ndarray:
    """A Parquet file of 100 rows in row groups of 10 (columns x0, x1, target); its
    values as one ``(100, 3)`` array."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    X = np.arange(300.0).reshape(100, 3)
    cols = {f"x{j}": X[:, j] for j in range(2)} | {"target": X[:, 2]}
    pq.write_table(pa.table(cols), path, row_group_size=10)
    return X


def test_a_full_disk_drops_the_copy_with_a_warning_and_reads_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltaprop.data import ParquetDataset

    X = _small_table(tmp_path / "t.parquet")
    data = ParquetDataset(tmp_path / "t.parquet", "target", spill_dir=tmp_path)
    np.testing.assert_array_equal(data.read(0, 25)[0], X[:25, :2])  # in the copy

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Spill, "write", full)
    with pytest.warns(RuntimeWarning, match="could not be written .*No space left"):
        Xr, yr = data.read(20, 60)
    np.testing.assert_array_equal(Xr, X[20:60, :2])
    np.testing.assert_array_equal(yr, X[20:60, 2])
    assert data.spill_path is None
    rows = np.array([99, 3, 50])
    np.testing.assert_array_equal(data.take(rows)[0], X[rows, :2])


def test_a_csv_is_parsed_once_into_the_copy_and_reads_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltaprop.data import CSVDataset

    rng = np.random.default_rng(1)
    T = np.round(rng.normal(size=(230, 4)), 6)
    np.savetxt(tmp_path / "t.csv", T, delimiter=",", header="a,b,c,y", comments="", fmt="%.6f")
    plain = CSVDataset(tmp_path / "t.csv", "y", chunk_rows=50, spill_dir=None)
    data = CSVDataset(tmp_path / "t.csv", "y", chunk_rows=50, spill_dir=tmp_path)
    assert (plain.spill_path, data.spill_path) == (None, tmp_path)
    parsed: list[tuple[int, int]] = []
    chunks = data._chunks

    def counting(first: int, last: int) -> np.ndarray:
        parsed.append((first, last))
        return chunks(first, last)

    monkeypatch.setattr(data, "_chunks", counting)
    for a, b in [(0, 230), (17, 140), (229, 230), (60, 60)] * 2:
        for got, want in zip(data.read(a, b), plain.read(a, b), strict=True):
            np.testing.assert_array_equal(got, want)
    rows = rng.permutation(230)
    for got, want in zip(data.take(rows), plain.take(rows), strict=True):
        np.testing.assert_array_equal(got, want)
    assert sorted(k for a, b in parsed for k in range(a, b)) == [0, 1, 2, 3, 4]  # once each


def test_an_unwritable_spill_dir_is_named_in_a_warning_and_reads_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltaprop.data import ParquetDataset

    X = _small_table(tmp_path / "t.parquet")
    folder = tmp_path / "ro"
    folder.mkdir()

    def read_only(*args: object, **kw: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(spill_module.tempfile, "TemporaryFile", read_only)
    with pytest.warns(RuntimeWarning, match=f"spill_dir='{folder}' cannot be created .*Read-only"):
        data = ParquetDataset(tmp_path / "t.parquet", "target", spill_dir=folder)
    assert data.spill_path is None
    Xr, yr = data.read(15, 80)
    np.testing.assert_array_equal(Xr, X[15:80, :2])
    np.testing.assert_array_equal(yr, X[15:80, 2])
