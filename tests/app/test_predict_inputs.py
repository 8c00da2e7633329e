"""``deltaprop predict`` and ``evaluate`` on a Parquet directory, and on data that lack a
column of the model's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from deltaprop.app.cli import main
from tests.app.clitools import FAST, PENGUINS, call, one_line_error

pytest.importorskip("pyarrow")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    assert main(["train", str(PENGUINS), "--target", "species", "--out", str(folder), *FAST]) == 0
    return folder / "model.safetensors"


def _parquet_parts(folder: Path) -> Path:
    """The penguins in three Parquet parts whose names sort in row order (written out of it)."""
    frame = pd.read_csv(PENGUINS)
    folder.mkdir()
    bounds = [0, 100, 250, len(frame)]
    for k in (2, 0, 1):
        frame.iloc[bounds[k] : bounds[k + 1]].to_parquet(folder / f"part-{k}.parquet")
    return folder


def test_predict_and_evaluate_read_a_parquet_directory_as_train_does(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parts = _parquet_parts(tmp_path / "parts")
    code, _, err = call(capsys, "predict", model, parts, "-o", tmp_path / "dir.csv")
    assert code == 0, err
    assert call(capsys, "predict", model, PENGUINS, "-o", tmp_path / "file.csv")[0] == 0
    from_dir = pd.read_csv(tmp_path / "dir.csv")
    assert len(from_dir) == len(pd.read_csv(PENGUINS))
    pd.testing.assert_frame_equal(from_dir, pd.read_csv(tmp_path / "file.csv"))
    code, out_dir, err = call(capsys, "evaluate", model, parts, "--json")
    assert code == 0, err
    assert out_dir == call(capsys, "evaluate", model, PENGUINS, "--json")[1]


def test_a_directory_without_parts_is_one_line(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no parts here")
    code, _, err = call(capsys, "predict", model, tmp_path / "empty")
    assert one_line_error((code, err)).endswith(
        f"'{tmp_path / 'empty'}' is a directory, not a data file"
    )


def test_a_missing_column_names_the_file(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "miss.csv"
    pd.read_csv(PENGUINS).drop(columns=["bill_length_mm"]).to_csv(data, index=False)
    for command in (["predict", model, data, "-o", tmp_path / "pm.csv"], ["evaluate", model, data]):
        code, _, err = call(capsys, *command)
        assert one_line_error((code, err)).endswith(
            f"'{data}' lacks the column 'bill_length_mm' that the model was trained on"
        )
    assert not (tmp_path / "pm.csv").exists()
