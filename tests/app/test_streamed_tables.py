"""The streamed preprocessing (deltaprop.app.streamed_tables, stream_stats, stream_sources):
its fitted state against Preprocessor.fit_transform on the same table, exact sums and
medians, the validation split, and the ranks' shares of each kind of input."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from deltaprop.app.errors import DataError
from deltaprop.app.preprocessing import Preprocessor
from deltaprop.app.stream_sources import is_streamed, open_source
from deltaprop.app.stream_stats import ExactSums, MedianSelect, float_keys, key_floats
from deltaprop.app.streamed_tables import stream_table, validation_mask

pytest.importorskip("pyarrow")


def table(n: int = 2500, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "a": rng.normal(size=n) * 1e3 + 7,
            "b": rng.integers(0, 5, n).astype(float),
            "c": rng.choice(["x", "y", "z", None], n),
            "y": rng.integers(0, 3, n),
        }
    )
    frame.loc[frame.index % 11 == 0, "a"] = np.nan
    return frame


def write_parquet(frame: pd.DataFrame, folder: Path, files: int = 3, group: int = 300) -> Path:
    folder.mkdir()
    n = len(frame)
    for i in range(files):
        part = frame.iloc[i * n // files : (i + 1) * n // files]
        part.to_parquet(folder / f"part{i}.parquet", row_group_size=group)
    return folder


@pytest.fixture(params=["parquet", "csv"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    frame = table()
    if request.param == "parquet":
        return write_parquet(frame, tmp_path / "pq"), frame
    frame.to_csv(tmp_path / "t.csv", index=False)
    return tmp_path / "t.csv", frame


def test_state_equals_the_in_memory_preprocessor(
    source: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, frame = source
    t = stream_table(path, "y", tmp_path / "work")
    features = frame.drop(columns="y")
    pre = Preprocessor.for_frame(features)
    X = pre.fit_transform(features)
    assert t.pre.numeric == pre.numeric == ["a", "b"]
    np.testing.assert_array_equal(t.pre.median, pre.median)  # exact selection
    assert t.pre.categories == pre.categories == [["(missing)", "x", "y", "z"]]
    # exactly rounded sums against scikit-learn's float64 sums: a few ulps apart at most
    np.testing.assert_allclose(t.pre.mean, pre.mean, rtol=1e-14)
    np.testing.assert_allclose(t.pre.scale, pre.scale, rtol=1e-14)
    Xs, ys = t.load("train")
    assert Xs.flags["C_CONTIGUOUS"] and Xs.dtype == np.float64
    np.testing.assert_allclose(Xs, X, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(ys, frame["y"].to_numpy())
    assert (t.task, t.classes.tolist(), t.n_train, t.n_val) == (
        "classification",
        [0, 1, 2],
        2500,
        0,
    )
    np.testing.assert_array_equal(t.pre.transform(features), Xs)  # the saved state's arithmetic
    t.cleanup()
    assert not (tmp_path / "work").exists()


def test_regression_target_scaler_and_split(tmp_path: Path) -> None:
    frame = table(3000)
    frame["y"] = frame["b"] * 0.5 + 0.25
    frame.loc[5, "y"] = np.nan
    folder = write_parquet(frame, tmp_path / "pq")
    t = stream_table(folder, "y", tmp_path / "w", validation=0.2, seed=3, scale_target=True)
    assert (t.task, t.n_rows, t.n_dropped) == ("regression", 2999, 1)
    kept = frame.dropna(subset=["y"]).reset_index(drop=True)
    val = validation_mask(np.arange(len(kept)), 0.2, 3)
    assert t.n_val == val.sum() and 450 < t.n_val < 750
    _, yv = t.load("val")
    np.testing.assert_array_equal(yv, kept["y"].to_numpy()[val])
    ytr = kept["y"].to_numpy()[~val]
    assert t.scaler is not None
    assert math.isclose(t.scaler.mean, ytr.mean(), rel_tol=1e-15)
    assert math.isclose(t.scaler.scale, ytr.std(), rel_tol=1e-14)
    pre = Preprocessor.for_frame(kept.drop(columns="y"))
    pre.fit_transform(kept.drop(columns="y").iloc[np.flatnonzero(~val)])
    np.testing.assert_array_equal(t.pre.median, pre.median)
    np.testing.assert_allclose(t.pre.mean, pre.mean, rtol=1e-14)


def test_a_target_whose_squares_overflow_is_scaled(tmp_path: Path) -> None:
    """Deviations above ~1e154 overflowed their squares: the spread was inf and scale 1 kept."""
    frame = table(900)
    frame["y"] = (frame["b"] * 0.5 + 0.25) * 1e200
    folder = write_parquet(frame, tmp_path / "pq")
    t = stream_table(folder, "y", tmp_path / "w", scale_target=True)
    assert t.scaler is not None
    expected = (frame["y"] / 1e200).std(ddof=0) * 1e200
    assert math.isclose(t.scaler.scale, expected, rel_tol=1e-12)


def test_a_row_index_column_is_left_out_as_in_memory(tmp_path: Path) -> None:
    """pandas' ``to_csv`` index (``Unnamed: 0``) was a feature of a streamed table (a sorted
    table's row number predicts its class); the in-memory path left it out, as now."""
    frame = table(600)
    frame.to_csv(tmp_path / "t.csv")  # with the index, as pandas writes it
    t = stream_table(tmp_path / "t.csv", "y", tmp_path / "w")
    assert t.left_out == ["Unnamed: 0"] and t.pre.columns == ["a", "b", "c"]
    frame.to_csv(tmp_path / "plain.csv", index=False)
    assert stream_table(tmp_path / "plain.csv", "y", tmp_path / "w2").left_out == []


def test_columns_without_a_value_are_left_out_as_in_memory(tmp_path: Path) -> None:
    """A column empty in every row (numbers; text, where only the imputed category is left)
    was a constant feature of a streamed table; the in-memory path left it out, as now,
    and the rest is fitted and transformed as without it."""
    frame = table(900)
    frame.insert(1, "none", np.nan)
    frame.insert(3, "no_text", pd.Series([None] * len(frame), dtype=object))
    t = stream_table(write_parquet(frame, tmp_path / "pq"), "y", tmp_path / "w",
                     categorical=["no_text"])  # fmt: skip
    assert t.empty == ["none", "no_text"] and t.pre.columns == ["a", "b", "c"]
    bare = stream_table(write_parquet(table(900), tmp_path / "pq2"), "y", tmp_path / "w2")
    assert bare.empty == []
    np.testing.assert_array_equal(t.load("train")[0], bare.load("train")[0])
    np.testing.assert_array_equal(t.pre.mean, bare.pre.mean)
    frame = table(900)[["y"]].assign(none=np.nan)
    with pytest.raises(DataError, match="no feature column with a value besides the target"):
        stream_table(write_parquet(frame, tmp_path / "pq3"), "y", tmp_path / "w3")


def test_npy_directory_and_single_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 4))
    folder = tmp_path / "npy"
    folder.mkdir()
    np.save(folder / "X.npy", X)
    np.save(folder / "y.npy", X[:, 0] * 2.5)
    t = stream_table(folder, "y", tmp_path / "w1")
    assert t.pre.numeric == ["x0", "x1", "x2", "x3"] and t.task == "regression"
    np.testing.assert_array_equal(t.pre.median, np.median(X, axis=0))
    np.testing.assert_allclose(t.pre.scale, X.std(axis=0), rtol=1e-14)
    np.save(tmp_path / "m.npy", np.column_stack([X, X[:, 0] > 0]).astype(np.float64))
    t2 = stream_table(tmp_path / "m.npy", "x4", tmp_path / "w2")
    assert t2.task == "classification" and t2.classes.tolist() == [0, 1]
    assert t2.pre.numeric == ["x0", "x1", "x2", "x3"]
    assert is_streamed(folder) and is_streamed(tmp_path / "m.npy")
    assert not is_streamed(tmp_path / "small.csv")


def test_errors_name_the_column(tmp_path: Path) -> None:
    frame = table(200)
    frame.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"--target 'Y': no such column .*columns: a, b, c, y"):
        stream_table(tmp_path / "t.csv", "Y", tmp_path / "w")
    frame["y"] = 1
    frame.to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(DataError, match="single class"):
        stream_table(tmp_path / "one.csv", "y", tmp_path / "w2")
    with pytest.raises(DataError, match=r"holds no \.parquet/\.pq files and no \.npy"):
        (tmp_path / "empty").mkdir()
        stream_table(tmp_path / "empty", "y", tmp_path / "w3")


class _OneProcessComm:
    """A communicator of ``size`` ranks for the sources' share arithmetic (no messages)."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size
        self.comm = SimpleNamespace(allreduce=lambda v: v)


@pytest.mark.parametrize("kind", ["parquet", "csv", "quoted_csv", "npy"])
def test_shares_tile_the_table_in_order(kind: str, tmp_path: Path) -> None:
    frame = table(2000)[["a", "b", "y"]]
    if kind == "parquet":
        path = write_parquet(frame, tmp_path / "pq", files=2, group=170)
    elif kind == "npy":
        path = tmp_path / "m.npy"
        np.save(path, frame.to_numpy(dtype=np.float64))
        frame.columns = ["x0", "x1", "x2"]
    else:
        path = tmp_path / "t.csv"
        if kind == "quoted_csv":
            frame = frame.assign(q='say "hi"')
        frame.to_csv(path, index=False)
    for size in (1, 3):
        parts = []
        for rank in range(size):
            src = open_source(path, na_values=[], comm=_OneProcessComm(rank, size))
            parts += list(src.chunks())
        got = pd.concat(parts, ignore_index=True)
        assert len(got) == len(frame)
        np.testing.assert_array_equal(
            got["a" if kind != "npy" else "x0"].astype(float).to_numpy(),
            frame.iloc[:, 0].to_numpy(),
        )


def test_exact_sums_and_medians_do_not_depend_on_the_blocks() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(5001, 3)) * [1.0, 1e12, 1e-300]
    X[::7, 1] = np.nan
    X[:100, 2] = 5e-324  # subnormals
    for cuts in ([5001], [1, 2000, 5001], [2500, 5001]):
        sums, lo = ExactSums(3), 0
        for hi in cuts:
            sums.add(X[lo:hi])
            lo = hi
        for j in range(3):
            col = X[:, j][~np.isnan(X[:, j])]
            assert float(sums.fractions()[j]) == math.fsum(col)  # correctly rounded
    for rows in (X, X[:-1]):  # odd and even counts
        select = MedianSelect((~np.isnan(rows)).sum(axis=0))
        while not select.done:
            select.start_round()
            select.add(rows[:1234])
            select.add(rows[1234:])
            select.end_round(None)
        np.testing.assert_array_equal(select.medians(), np.nanmedian(rows, axis=0))
    v = np.array([-np.inf, -2.5, -0.0, 0.0, 1e-310, 3.0, np.inf])
    keys = float_keys(v)
    assert (np.diff(keys.astype(object)) > 0).all()
    np.testing.assert_array_equal(key_floats(keys), v)


def test_validation_mask_is_per_row() -> None:
    rows = np.arange(10_000)
    whole = validation_mask(rows, 0.25, 7)
    np.testing.assert_array_equal(
        np.concatenate(
            [validation_mask(rows[:3333], 0.25, 7), validation_mask(rows[3333:], 0.25, 7)]
        ),
        whole,
    )
    assert 2300 < whole.sum() < 2700
    assert (validation_mask(rows, 0.25, 8) != whole).any()


def test_small_table_preprocessing_is_c_ordered() -> None:
    frame = pd.DataFrame({"a": np.arange(9.0), "b": np.r_[np.nan, np.arange(8.0)]})
    pre = Preprocessor.for_frame(frame)
    assert pre.fit_transform(frame).flags["C_CONTIGUOUS"]
    assert pre.transform(frame).flags["C_CONTIGUOUS"]
