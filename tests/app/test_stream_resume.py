"""``deltaprop train --resume`` on a streamed input (deltaprop/app/streamed_runs.py): the
resumed run ends with the bits of the run never interrupted, as for an in-memory input;
other data are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clitools import call, load_quietly, one_line_error

from deltaprop.app import stream_sources

pytest.importorskip("pyarrow")
COMMON = ["--target", "y", "--quiet", "--seed", "0", "--no-early-stopping", "--batch-size", "40"]


def table(n: int = 900) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": b, "c": rng.choice(["u", "v", "w"], n),
                         "y": (a * b + (a > 0) > 0.3).astype(np.int64)})  # fmt: skip


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_a_resumed_streamed_run_ends_with_the_uninterrupted_bits(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = table()
    if kind == "parquet":
        path = tmp_path / "data"
        path.mkdir()
        data.iloc[:450].to_parquet(path / "a.parquet", row_group_size=100)
        data.iloc[450:].to_parquet(path / "b.parquet", row_group_size=100)
    else:
        path = tmp_path / "big.csv"
        data.to_csv(path, index=False)
        monkeypatch.setattr(stream_sources, "STREAM_CSV_BYTES", 1)  # "large": all of them
    code, _, err = call(
        capsys, "train", path, *COMMON, "--epochs", "5", "--out", tmp_path / "whole"
    )
    assert code == 0, err
    code, _, err = call(capsys, "train", path, *COMMON, "--epochs", "2", "--checkpoint-every",
                        "1", "--out", tmp_path / "first")  # fmt: skip
    assert code == 0, err
    ckpt = tmp_path / "first" / "checkpoint.safetensors"
    code, _, err = call(capsys, "train", path, *COMMON, "--epochs", "5", "--resume", ckpt,
                             "--out", tmp_path / "again")  # fmt: skip
    assert code == 0, err
    whole = load_quietly(tmp_path / "whole" / "model.safetensors")
    again = load_quietly(tmp_path / "again" / "model.safetensors")
    assert again.n_iter_ == 5 and len(again.loss_curve_) == 5
    for u, v in zip(
        whole.coefs_ + whole.intercepts_, again.coefs_ + again.intercepts_, strict=True
    ):
        np.testing.assert_array_equal(u, v)
    assert whole.loss_curve_ == again.loss_curve_

    data.iloc[::-1].to_csv(tmp_path / "other.csv", index=False)  # the same rows, reordered
    code, _, err = call(capsys, "train", tmp_path / "other.csv", *COMMON, "--epochs", "5",
                        "--resume", ckpt, "--out", tmp_path / "other")  # fmt: skip
    line = one_line_error((code, err))
    assert code == 2 and "the data changed" in line, err
