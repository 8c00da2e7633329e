"""``deltaprop train`` on streamed inputs: a Parquet directory, ``.npy`` arrays and a large
CSV train through the streamed path; the slow test trains on tables four times larger than
the private memory that the training process may add."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clitools import call, load_quietly

from deltaprop.app import stream_sources
from deltaprop.app.preprocessing import Preprocessor
from deltaprop.app.streamed_tables import stream_table
from deltaprop.train import COMMAND_DEFAULTS

pytest.importorskip("pyarrow")
FAST = ["--epochs", "3", "--quiet", "--seed", "0"]


def frame(n: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame(
        {"a": a, "b": b, "c": rng.choice(["u", "v"], n), "y": (a + b > 0).astype(np.int64)}
    )


def check_model(folder: Path, table_path: Path, tmp_path: Path) -> None:
    """The model file holds the streamed preprocessing's state; no work folder is left."""
    est, extra = load_quietly(folder / "model.safetensors", return_extra=True)
    config, arrays = extra
    pre = Preprocessor.from_state(config, arrays)
    t = stream_table(
        table_path, "y", tmp_path / "again", validation=COMMAND_DEFAULTS.validation, seed=0
    )
    np.testing.assert_array_equal(pre.median, t.pre.median)
    np.testing.assert_array_equal(pre.mean, t.pre.mean)
    np.testing.assert_array_equal(pre.scale, t.pre.scale)
    assert pre.categories == t.pre.categories
    assert list(est.classes_) == [0, 1]
    assert not (folder / ".streamed").exists()
    t.cleanup()


@pytest.mark.parametrize("kind", ["parquet", "npy", "csv"])
def test_train_streams_a_directory_npy_or_large_csv(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = frame()
    if kind == "parquet":
        path = tmp_path / "data"
        path.mkdir()
        data.iloc[:300].to_parquet(path / "a.parquet", row_group_size=100)
        data.iloc[300:].to_parquet(path / "b.parquet", row_group_size=100)
    elif kind == "npy":
        path = tmp_path / "arrays"
        path.mkdir()
        np.save(path / "X.npy", data[["a", "b"]].to_numpy())
        np.save(path / "y.npy", data["y"].to_numpy())
    else:
        path = tmp_path / "big.csv"
        data.to_csv(path, index=False)
        monkeypatch.setattr(stream_sources, "STREAM_CSV_BYTES", 1)  # "large": all of them
    out = tmp_path / "run"
    code, stdout, err = call(capsys, "train", path, "--target", "y", "--out", out, *FAST)
    assert code == 0, err
    assert "(streamed)" in stdout and "600 rows" in stdout
    check_model(out, path, tmp_path)
    preds = tmp_path / "p.csv"
    if kind != "npy":  # the model predicts on an ordinary table of the same columns
        data.to_csv(tmp_path / "small.csv", index=False)
        monkeypatch.setattr(stream_sources, "STREAM_CSV_BYTES", 64 << 20)
        code, _, err = call(
            capsys, "predict", out / "model.safetensors", tmp_path / "small.csv", "-o", preds
        )
        assert code == 0, err
        assert len(pd.read_csv(preds)) == 600


def test_a_streamed_table_notes_its_columns_as_in_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A column with no value, and text with almost one value per row: the same notes (and
    inputs) streamed as in memory; the empty column was a feature of the streamed model."""
    data = frame().assign(none=np.nan, code=[f"k{i}" for i in range(600)])
    (tmp_path / "data").mkdir()
    data.to_parquet(tmp_path / "data" / "a.parquet")
    data.to_csv(tmp_path / "small.csv", index=False)
    notes = []
    for path, out in ((tmp_path / "data", "s"), (tmp_path / "small.csv", "m")):
        code, stdout, err = call(capsys, "train", path, "--target", "y", "--out", tmp_path / out,
                                 "--epochs", "2", "--hidden", "8", "--no-report",
                                 "--validation", "0")  # the same rows (splits differ)  # fmt: skip
        assert code == 0, err
        notes.append([ln for ln in (stdout + err).splitlines()
                      if ln.startswith(("note: column", "inputs:"))])  # fmt: skip
    assert notes[0] == notes[1], notes
    assert any("'none' has no value in any row" in n for n in notes[0])
    assert any("'code' has 600 distinct values, almost one per row" in n for n in notes[0])
    _, (config, arrays) = load_quietly(tmp_path / "s" / "model.safetensors", return_extra=True)
    assert Preprocessor.from_state(config, arrays).columns == ["a", "b", "c", "code"]


def test_a_small_csv_keeps_the_in_memory_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame().to_csv(tmp_path / "small.csv", index=False)
    code, stdout, err = call(
        capsys, "train", tmp_path / "small.csv", "--target", "y", "--out", tmp_path / "r", *FAST
    )
    assert code == 0, err
    assert "(streamed)" not in stdout and "600 rows from" in stdout


def test_a_streamed_run_stops_early_on_the_validation_loss_and_keeps_the_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The in-memory command's defaults: early stopping on the validation rows' loss, the
    best epoch's weights restored (the results name the kept epoch)."""
    path = tmp_path / "arrays"
    path.mkdir()
    data = frame(1200)
    np.save(path / "X.npy", data[["a", "b"]].to_numpy())
    np.save(path / "y.npy", data["y"].to_numpy())
    out = tmp_path / "run"
    code, stdout, err = call(
        capsys, "train", path, "--target", "y", "--out", out, "--epochs", "300",
        "--patience", "3", "--learning-rate", "0.05", "--seed", "0",
    )  # fmt: skip
    assert code == 0, err
    assert "early stopping is off" not in stdout + err
    stop = re.search(
        r"stopped at epoch (\d+): the validation loss did not improve .* --patience=3\); its "
        r"best was ([0-9.]+) at epoch (\d+); the weights of epoch \3 were restored",
        stdout,
    )
    assert stop is not None, stdout
    last, best, kept = int(stop[1]), float(stop[2]), int(stop[3])
    assert kept < last < 300 and f"Results (the weights of epoch {kept})" in stdout
    # the model holds the best epoch's weights: its validation log-loss is the best one
    val_loss = re.search(r"log_loss\s*│\s*[0-9.]+\s*│\s*([0-9.]+)", stdout)
    assert val_loss is not None and abs(float(val_loss[1]) - best) < 1e-4
    assert len(pd.read_csv(out / "history.csv")) == last


# ---------------------------------------------------------------------------------------
# Memory: a table four times the private memory the training process may add
# ---------------------------------------------------------------------------------------
ROWS, COLS = 3_000_000, 15  # 360 MB of float64 features (the process's own ~60 MB is fixed)
MEASURE = textwrap.dedent(
    """
    import json, sys, threading, time
    from deltaprop.app.cli import main

    def anon():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024

    src, warm, out = sys.argv[1:4]
    common = ["--target", "y", "--epochs", "1", "--quiet", "--no-report", "--force",
              "--validation", "0", "--batch-size", "1024"]
    assert main(["train", warm, "--out", out + "-warm", *common]) == 0  # imports, compiling
    peak, done = [0], threading.Event()
    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], anon())
            time.sleep(0.002)
    base = anon()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    code = main(["train", src, "--out", out, *common])
    done.set()
    thread.join()
    print(json.dumps({"code": code, "growth": peak[0] - base}))
    """
)


def big_table(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    warm = tmp_path / "warm"
    warm.mkdir()
    if kind == "npy":
        path = tmp_path / "npy"
        path.mkdir()
        X = np.lib.format.open_memmap(path / "X.npy", "w+", np.float64, (ROWS, COLS))
        y = np.lib.format.open_memmap(path / "y.npy", "w+", np.int64, (ROWS,))
        for i in range(0, ROWS, 250_000):
            X[i : i + 250_000] = rng.normal(size=(min(250_000, ROWS - i), COLS))
            y[i : i + 250_000] = X[i : i + 250_000, 0] > 0
        X.flush()
        y.flush()
        np.save(warm / "X.npy", np.asarray(X[:500]))
        np.save(warm / "y.npy", np.asarray(y[:500]))
        return path, warm
    path = tmp_path / ("pq" if kind == "parquet" else "big.csv")
    if kind == "parquet":
        path.mkdir()
    names = [f"f{j}" for j in range(COLS)]
    for i in range(0, ROWS, 250_000):
        X = rng.normal(size=(250_000, COLS)).astype(np.float32).astype(np.float64)
        part = pd.DataFrame(X, columns=names).assign(y=(X[:, 0] > 0).astype(np.int64))
        if kind == "parquet":
            part.to_parquet(path / f"part{i // 250_000:02d}.parquet", row_group_size=50_000)
        else:  # pyarrow's writer: pandas' to_csv took 53 of this test's 93 s
            import pyarrow as pa
            import pyarrow.csv as pa_csv

            table = pa.Table.from_pandas(part.astype(dict.fromkeys(names, np.float32)))
            options = pa_csv.WriteOptions(include_header=i == 0, quoting_style="none")
            with open(path, "ab") as f:
                pa_csv.write_csv(table, f, options)
        if i == 0:
            part.iloc[:500].to_parquet(warm / "w.parquet")
    return path, warm


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["npy", "parquet", "csv"])
def test_training_holds_a_quarter_of_the_table_at_most(kind: str, tmp_path: Path) -> None:
    path, warm = big_table(tmp_path, kind)
    data_bytes = ROWS * COLS * 8
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), str(warm), str(tmp_path / "run")],
        capture_output=True, text=True, timeout=900,
        env={"OMP_NUM_THREADS": "1", "DELTAPROP_DISTRIBUTED": "0",
             **{k: v for k, v in __import__("os").environ.items() if k != "OMP_NUM_THREADS"}},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert report["growth"] < data_bytes / 4, (report, data_bytes)
    assert (tmp_path / "run" / "model.safetensors").is_file()
