"""The target and its task (deltaprop.app.tasks): detection, checks, labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deltaprop.app.errors import DataError
from deltaprop.app.tasks import (
    _labels,
    align_labels,
    check_target,
    detect_task,
    integral_labels,
    label_flags,
    split_target,
)

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
        ([1e200, 2e200, 3e200] * 30, "regression"),  # "integers" beyond 2**53: no labels
    ],
)
def test_detect_task(values: list[object], task: str) -> None:
    got, reason = detect_task(pd.Series(values, name="y"))
    assert got == task
    assert "'y'" in reason


def test_label_flags_tell_the_two_halves_of_integral_labels_apart() -> None:
    assert label_flags(np.array([1.0, 2.0])) == (True, True)
    assert label_flags(np.array([1.5, 2.0])) == (False, True)
    assert label_flags(np.array([1e200, 2.0])) == (True, False)
    assert integral_labels(np.array([1.0, 2.0])) and not integral_labels(np.array([1e200]))
    reason = detect_task(pd.Series([1e200, 2e200, 3e200] * 30, name="y"))[1]
    assert reason == "'y' holds numbers too large to be labels (2**53 or more)"


def test_split_target_drops_rows_without_target_and_suggests_names(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1, 2, 3, 4], "Target": [1.0, None, 2.0, 3.0], "id": [1, 2, 3, 4]})
    features, y, dropped = split_target(frame, "Target", "f.csv", ignore=["id"])
    assert dropped == 1 and list(features.columns) == ["x"] and y.tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(DataError, match="did you mean 'Target'"):
        split_target(frame, "target", "f.csv")
    with pytest.raises(DataError, match="no feature columns"):
        split_target(frame[["Target"]], "Target", "f.csv")


def test_huge_integral_labels_stay_floats() -> None:
    """``--task classification`` on values beyond 2**53 cast them to int64 (garbage, the
    streamed path an OverflowError); they stay the floats they are."""
    y = check_target(pd.Series([1e200, 2e200] * 5, name="y"), "classification", "t.csv")
    assert y.dtype == np.float64 and sorted(set(y)) == [1e200, 2e200]


def test_one_class_and_non_numeric_regression_targets_are_errors() -> None:
    with pytest.raises(DataError, match=r"single class \(7\)"):
        check_target(pd.Series([7, 7, 7], name="y"), "classification", "f.csv")
    with pytest.raises(DataError, match="regression needs a numeric target"):
        check_target(pd.Series(["a", "b"], name="y"), "regression", "f.csv")


def test_an_option_of_the_other_task_is_refused_before_any_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--loss huber`` on a classification and ``--class-weight balanced`` on a regression
    were silently ignored; now refused, naming the task and its reason, before "exists"."""
    from tests.app.clitools import call, one_line_error

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_text("precious")
    base = ["train", PENGUINS, "--out", tmp_path / "run"]
    line = one_line_error(call(capsys, *base, "--target", "species", "--loss", "huber")[::2])
    assert "error: --loss huber applies to a regression, but 'species' is fitted as a" in line
    assert "classification ('species' holds text" in line and "give --task regression" in line
    args = [*base, "--target", "body_mass_g", "--class-weight", "balanced"]
    line = one_line_error(call(capsys, *args)[::2])
    assert "--class-weight balanced applies to a classification" in line
    assert "'body_mass_g' is fitted as a regression" in line
    assert (tmp_path / "run" / "model.safetensors").read_text() == "precious"


def test_align_labels_follows_the_model_classes() -> None:
    assert align_labels(pd.Series([1.0, 2.0]), np.array([1, 2])).dtype == np.int64
    assert align_labels(pd.Series([1, 2]), np.array(["1", "2"])).tolist() == ["1", "2"]
    with pytest.raises(DataError, match=r"^the target 'y' of 'd.csv' holds text \('b'\), but the "
                       r"model's classes are numbers \(0, 1\)$"):  # fmt: skip
        align_labels(pd.Series(["1", "b"], name="y"), np.array([0, 1]), "d.csv")
    assert align_labels(pd.Series(["1", " 0"]), np.array([0, 1])).tolist() == [1, 0]  # as text


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("n_classes", [2, 3])
def test_metrics_labels_from_one_forward_pass_equal_predict(n_classes: int) -> None:
    from sklearn.datasets import make_classification

    from deltaprop.sklearn import MLPClassifier

    X, y = make_classification(200, 6, n_informative=4, n_classes=n_classes, random_state=0)
    labels = np.array(["ant", "bee", "cat"])[y]
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0).fit(X, labels)
    proba = est.predict_proba(X)
    got = _labels(est, X, proba)
    assert got.dtype == est.predict(X).dtype
    np.testing.assert_array_equal(got, est.predict(X))
    assert set(got) <= set(labels) and len(set(got)) >= 1
    tied = np.full_like(proba, 1.0 / n_classes)  # ties go to the first class, as predict's
    assert (_labels(est, X, tied) == est.classes_[0]).all()


def test_a_wide_table_is_read_and_split_without_a_series_per_column(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A table of 2,000 number columns and one text column: the checks read the dtypes, and
    only the text column is taken as a Series (each costs ~0.1 ms: 100,000 columns took 12 s
    in check_numeric_text and 4 s in split_target)."""
    from deltaprop.app.tables import check_numeric_text

    frame = pd.DataFrame(np.ones((3, 2000)), columns=[f"c{i}" for i in range(2000)])
    frame["t"], frame["y"] = ["a", "b", "c"], [0, 1, 0]
    taken: list[object] = []
    getitem = pd.DataFrame.__getitem__

    def counting(self: pd.DataFrame, key: object) -> object:
        taken.append(key)
        return getitem(self, key)

    monkeypatch.setattr(pd.DataFrame, "__getitem__", counting)
    checked = check_numeric_text(frame, "wide.csv")
    features, y, dropped = split_target(checked, "y", "wide.csv", ignore=["c5"])
    assert dropped == 0
    assert len(taken) <= 5, taken[:10]
    assert features.shape == (3, 2000) and "c5" not in features and "y" not in features
    assert list(features.columns[-2:]) == ["c1999", "t"] and y.tolist() == [0, 1, 0]
