"""The target and its task (deltaprop.app.tasks): detection, checks, labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop.app.errors import DataError
from deltaprop.app.tasks import align_labels, check_target, detect_task, split_target

DATA = Path(__file__).parents[1] / "data"
# 150 synthetic rows shaped like the Palmer penguins data (generated, not the real records):
# numeric and categorical columns with missing values, a 3-class and a numeric target.
PENGUINS = DATA / "penguins.csv"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------


# Target and task
# ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0.5, 1.25, 3.0], "regression"),
        ([0, 1, 1, 0], "classification"),  # two integers: always classes
        (list(range(10)) * 30, "classification"),  # 10 values, 300 rows
        (list(range(10)) * 3, "regression"),  # 10 values, 30 rows: more than 5%
        (list(range(25)) * 40, "regression"),  # more than 20 values
        ([1.0, 2.0, 3.0] * 30, "classification"),  # integral floats
    ],
)
def test_detect_task(values: list[object], task: str) -> None:
    got, reason = detect_task(pd.Series(values, name="y"))
    assert got == task
    assert "'y'" in reason


def test_split_target_drops_rows_without_target_and_suggests_names(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "Target": [1.0, None, 2.0, 3.0], "id": [1, 2, 3, 4]})
    features, y, dropped = split_target(frame, "Target", "f.csv", ignore=["id"])
    assert dropped == 1 and list(features.columns) == ["x"] and y.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(DataError, match="did you mean 'Target'"):
        split_target(frame, "target", "f.csv")
    with pytest.raises(DataError, match="no feature columns"):
        split_target(frame[["Target"]], "Target", "f.csv")


def test_one_class_and_non_numeric_regression_targets_are_errors() -> None:
    with pytest.raises(DataError, match=r"single class \(7\)"):
        check_target(pd.Series([7, 7, 7], name="y"), "classification", "f.csv")
    with pytest.raises(DataError, match="regression needs a numeric target"):
        check_target(pd.Series(["a", "b"], name="y"), "regression", "f.csv")


def test_align_labels_follows_the_model_classes() -> None:
    assert align_labels(pd.Series([1.0, 2.0]), np.array([1, 2])).dtype == np.int64
    assert align_labels(pd.Series([1, 2]), np.array(["1", "2"])).tolist() == ["1", "2"]
