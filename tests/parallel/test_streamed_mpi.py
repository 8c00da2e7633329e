"""The streamed preprocessing under MPI (deltaprop.app.streamed_tables): 2 ranks fit the
state of 1 process bit for bit, each holding only its half of the rows, and each needing
about half of one process's resident memory for the data (its own mapped rows; the
private memory is blocks and statistics, not proportional to the rows)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mpirun import SCRIPTS, run_mpi

pytest.importorskip("pyarrow")


def write_table(folder: Path, rows: int, files: int = 4) -> Path:
    rng = np.random.default_rng(2)
    folder.mkdir()
    per = rows // files
    for i in range(files):
        X = rng.normal(size=(per, 12)) * np.arange(1, 13)
        part = pd.DataFrame(X, columns=[f"f{j}" for j in range(12)])
        part.loc[part.index % 13 == 0, "f3"] = np.nan
        part["c"] = rng.choice(["p", "q", "r"], per)
        part.loc[part.index % 17 == 0, "c"] = None
        part["y"] = X[:, 0] * 0.5 + X[:, 1]
        part.to_parquet(folder / f"part{i}.parquet", row_group_size=per // 3)
    return folder


def run(n: int, data: Path, out: Path) -> tuple[dict[str, np.ndarray], dict]:
    out.mkdir()
    proc = run_mpi(n, str(SCRIPTS / "stream_table.py"), str(data), str(out))
    assert proc.returncode == 0, f"the MPI job failed:\n{proc.stdout}\n{proc.stderr}"
    with np.load(out / "state.npz") as f:
        state = {k: f[k] for k in f.files}
    return state, json.loads((out / "result.json").read_text())


@pytest.mark.mpi
def test_two_ranks_fit_the_one_process_state(tmp_path: Path) -> None:
    data = write_table(tmp_path / "data", 6000)
    one, r1 = run(1, data, tmp_path / "one")
    two, r2 = run(2, data, tmp_path / "two")
    for key in ("median", "mean", "scale", "target"):
        np.testing.assert_array_equal(two[key], one[key])  # exact: any number of ranks
    assert r2["categories"] == r1["categories"] == [["(missing)", "p", "q", "r"]]
    assert (r2["task"], r2["n_train"], r2["n_val"]) == (r1["task"], r1["n_train"], r1["n_val"])
    assert r1["task"] == "regression" and 1000 < r1["n_val"] < 1400
    (a, b), (whole,) = r2["ranks"], r1["ranks"]
    assert a["train"] + b["train"] == whole["train"] and a["val"] + b["val"] == whole["val"]
    assert a["first"] == whole["first"]  # rank 0 holds the first rows, transformed alike


@pytest.mark.mpi
@pytest.mark.slow
def test_each_of_two_ranks_holds_about_half(tmp_path: Path) -> None:
    data = write_table(tmp_path / "data", 800_000)  # 77 MB of float64 features
    _, r1 = run(1, data, tmp_path / "one")
    _, r2 = run(2, data, tmp_path / "two")
    (whole,) = r1["ranks"]
    for share in r2["ranks"]:
        assert abs(share["bytes"] / whole["bytes"] - 0.5) < 0.05  # its rows, no others'
        # resident memory for the data (the rank's mapped rows): about half of one process's
        assert share["hwm"] < 0.6 * whole["hwm"], (share, whole)  # measured 0.53
        # private memory: blocks and statistics, a small part of the data either way
        assert share["growth"] < 0.75 * whole["bytes"], (share, whole)


@pytest.mark.mpi
def test_the_command_on_two_ranks_trains_the_one_process_model(tmp_path: Path) -> None:
    import subprocess
    import sys

    from safetensors.numpy import load_file

    data = write_table(tmp_path / "data", 2000)
    common = ["train", str(data), "--target", "y", "--epochs", "3", "--quiet", "--no-report"]
    proc = run_mpi(2, "-m", "deltaprop", *common, "--out", str(tmp_path / "two"))
    assert proc.returncode == 0, proc.stderr
    one = subprocess.run(
        [sys.executable, "-m", "deltaprop", *common, "--out", str(tmp_path / "one")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    a = load_file(tmp_path / "two" / "model.safetensors")
    b = load_file(tmp_path / "one" / "model.safetensors")
    for key in ("extra/median", "extra/mean", "extra/scale"):
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_allclose(a["parameters"], b["parameters"], rtol=1e-10, atol=1e-12)
    assert not (tmp_path / "two" / ".streamed").exists()


@pytest.mark.mpi
def test_streamed_early_stopping_holds_out_the_same_rows_on_two_ranks(tmp_path: Path) -> None:
    """An estimator's streamed fit with early stopping: 2 ranks, each reading its share,
    hold out one process's validation rows, stop at its epoch and restore its best."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("early", SCRIPTS / "streamed_early_stop.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)  # it spies on deltaprop.train.streaming: undone below
    X, y = script.table()
    from deltaprop.data import NpyDataset

    try:
        one = script.report(script.fit(NpyDataset(X, y, block_rows=50, buffer_blocks=4), False))
    finally:
        script.streaming.streamed_validation = script._original
    out = tmp_path / "two.json"
    proc = run_mpi(2, str(SCRIPTS / "streamed_early_stop.py"), str(out))
    assert proc.returncode == 0, f"the MPI job failed:\n{proc.stdout}\n{proc.stderr}"
    two = json.loads(out.read_text())
    assert two["identical"]
    assert two["val_rows"] == one["val_rows"]  # the same rows, whatever the ranks
    assert 180 < len(one["val_rows"]) < 300  # about 0.2 of 1200
    np.testing.assert_array_equal(two["X_val"], X[one["val_rows"]])
    assert len(one["val_loss"]) < 200 and one["best_epoch"] < len(one["val_loss"])
    assert len(two["val_loss"]) == len(one["val_loss"]) and two["best_epoch"] == one["best_epoch"]
    np.testing.assert_allclose(two["val_loss"], one["val_loss"], rtol=1e-9)
    np.testing.assert_allclose(two["params"], one["params"], rtol=1e-8, atol=1e-11)
