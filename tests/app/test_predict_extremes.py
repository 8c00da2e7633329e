"""Inputs far beyond the training data at ``deltaprop evaluate``: a regressor's prediction
that is finite but so far from the target that the error metrics would overflow is refused
by row and column, in one line, exit 2, with no overflow warning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop.app.cli import main
from deltaprop.app.errors import DataError
from deltaprop.app.models import check_finite_errors
from tests.app.clitools import FAST, PENGUINS, call, one_line_error, penguins_with


@pytest.fixture(scope="module")
def regressor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("extremes")
    args = ["train", str(PENGUINS), "--ignore", "id", *FAST, "--no-report"]
    assert main([*args, "--target", "body_mass_g", "--out", str(work / "reg")]) == 0
    return work / "reg" / "model.safetensors"


def test_an_error_that_overflows_is_refused_by_row_and_column(
    regressor: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = penguins_with(tmp_path, 6, "bill_length_mm", 1e300)
    line = one_line_error(call(capsys, "evaluate", regressor, data)[::2])  # one line: no warning
    assert f"row 6 of '{data}': the model's prediction " in line
    assert "is too far from the target 4230.0 for the error metrics to be finite" in line
    assert "its largest input is column 'bill_length_mm' = 1e+300" in line
    code, text, err = call(capsys, "evaluate", regressor, data, "--json")
    assert code == 2 and text == "" and len(err.strip().splitlines()) == 1


def test_a_large_but_safe_input_is_evaluated(
    regressor: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = penguins_with(tmp_path, 6, "bill_length_mm", 1e6)
    code, text, err = call(capsys, "evaluate", regressor, data, "--json")
    assert code == 0 and err == ""
    values = json.loads(text)
    assert np.isfinite(values["rmse"]) and values["rmse"] > 0


def test_squared_errors_that_only_overflow_in_their_sum_are_refused() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]}, index=[0, 1, 2, 3])
    y = np.zeros(4)
    big = np.sqrt(np.finfo(np.float64).max) / 1.5  # its square is finite, four of them not
    check_finite_errors(np.full(4, big / 2), y, frame, Path("f.csv"))  # 4 · (big/2)² is finite
    with pytest.raises(DataError, match=r"^row 3 of 'f.csv': the model's prediction .* "
                       r"column 'x' = 3.0; such values"):  # fmt: skip
        check_finite_errors(np.array([1.0, 2.0, big, big]), y, frame, Path("f.csv"))


def test_evaluate_json_writes_null_for_a_log_loss_that_is_n_a(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test rows of a class the model does not know: the log-loss is n/a, and ``--json``
    stays strict JSON (``null``, not ``NaN``); ``inspect --json`` is strict too."""
    from deltaprop.app.console import json_text

    args = ["train", PENGUINS, "--ignore", "id", *FAST, "--no-report", "--target", "species"]
    assert call(capsys, *args, "--out", tmp_path / "clf")[0] == 0
    frame = pd.read_csv(PENGUINS)
    frame.loc[:4, "species"] = "Unknown"
    frame.to_csv(tmp_path / "new.csv", index=False)
    model = tmp_path / "clf" / "model.safetensors"

    def strict(text: str) -> dict:
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))

    code, text, err = call(capsys, "evaluate", model, tmp_path / "new.csv", "--json")
    assert code == 0, err
    values = strict(text)
    assert values["log_loss"] is None and 0 < values["accuracy"] < 1
    code, text, err = call(capsys, "inspect", model, "--json")
    assert code == 0 and strict(text)["kept_epoch"] == 8, err
    assert json_text({"a": [np.float32(np.inf), -np.inf, 1.5], "b": np.array([np.nan])}) == (
        '{"a": [null, null, 1.5], "b": [null]}'
    )
