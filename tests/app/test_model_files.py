"""Model files read by the command (``deltaprop.app.models``): a malformed preprocessing is a
one-line error naming the file and the field; rows whose predictions overflow are refused by
row and column; rows are named as the file numbers them; parse-time bounds; command hints."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import deltaprop
from deltaprop.app.cli import main
from deltaprop.io import save
from tests.app.clitools import FAST, PENGUINS, call, load_quietly, one_line_error, penguins_with


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A regressor (standardized target) and a classifier trained by the command, and a
    checkpoint."""
    work = tmp_path_factory.mktemp("models")
    base = ["train", str(PENGUINS), "--ignore", "id", *FAST, "--no-report"]
    assert main([*base, "--target", "body_mass_g", "--out", str(work / "reg")]) == 0
    assert (
        main([*base, "--target", "species", "--out", str(work / "cls"), "--checkpoint-every", "4"])
        == 0
    )
    return {
        "reg": work / "reg" / "model.safetensors",
        "cls": work / "cls" / "model.safetensors",
        "checkpoint": work / "cls" / "checkpoint.safetensors",
    }


def _with_config(src: Path, dst: Path, **changes: Any) -> Path:
    """A copy of the model file ``src`` whose extra section's fields are changed."""
    model, (config, arrays) = load_quietly(src, return_extra=True)
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            config[outer] = {**config[outer], inner: value}
        else:
            config[key] = value
    save(model, dst, extra=(config, arrays))
    return dst


@pytest.mark.parametrize(
    ("changes", "field", "shown"),
    [
        ({"target_scaling.scale": 0}, "target_scaling.scale", "got 0"),
        ({"target_scaling.scale": math.nan}, "target_scaling.scale", "got nan"),
        ({"target_scaling.scale": math.inf}, "target_scaling.scale", "got inf"),
        ({"target_scaling.scale": "815.8"}, "target_scaling.scale", "got '815.8'"),
        ({"target_scaling.mean": True}, "target_scaling.mean", "got True"),
        ({"target_scaling": [1]}, "target_scaling", r"got \[1\]"),
        ({"numeric": [1]}, "numeric", r"got \[1\]"),
        ({"categories": 5}, "categories", "got 5"),
        ({"task": "clustering"}, "task", "got 'clustering'"),
        ({"target": 3}, "target", "got 3"),
        ({"run": "yesterday"}, "run", "got 'yesterday'"),
        # consistent fields that contradict each other or the model (were taken, or broke
        # predict with "operands could not be broadcast")
        (
            {"numeric": ["bill_length_mm", "bill_length_mm"]},
            "numeric",
            "got 'bill_length_mm' twice",
        ),
        (
            {"categorical": ["island", "bill_length_mm"], "categories": [["a"], ["b"]]},
            "numeric",
            "got 'bill_length_mm' twice",
        ),
        ({"task": "classification"}, "task", "got 'classification'"),
        ({"target": "island"}, "target", "got 'island'"),
    ],
)
@pytest.mark.parametrize("subcommand", ["predict", "evaluate"])
def test_a_malformed_preprocessing_is_one_line_naming_the_file_and_the_field(
    models: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    subcommand: str,
    changes: dict[str, Any],
    field: str,
    shown: str,
) -> None:
    bad = _with_config(models["reg"], tmp_path / "bad.safetensors", **changes)
    before = bad.read_bytes()
    code, out, err = call(capsys, subcommand, bad, PENGUINS)
    line = one_line_error((code, err))
    assert line.startswith(f"deltaprop: error: cannot load '{bad}': ")
    assert re.search(f"field '{field}' must .*; {shown}$", line), line
    assert out == "" and bad.read_bytes() == before


def test_inspect_and_export_check_the_preprocessing_too(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = _with_config(models["reg"], tmp_path / "bad.safetensors", **{"target_scaling.scale": 0})
    for args in (["inspect", bad], ["export", bad, "--onnx", tmp_path / "m.onnx"]):
        line = one_line_error(call(capsys, *args)[::2])
        assert "field 'target_scaling.scale' must be a finite number > 0; got 0" in line
    assert not (tmp_path / "m.onnx").exists()


def test_a_row_whose_prediction_overflows_is_refused_by_row_and_column(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = penguins_with(tmp_path, 6, "bill_length_mm", 1e308)
    out_csv = tmp_path / "pred.csv"
    for args in (
        ["predict", models["reg"], data, "-o", out_csv],
        ["evaluate", models["reg"], data],
    ):
        line = one_line_error(call(capsys, *args)[::2])
        assert f"row 6 of '{data}': the model's output overflows" in line
        assert "column 'bill_length_mm' = 1e+308" in line
    assert not out_csv.exists()
    # the classifier's softmax does not overflow: finite probabilities that sum to 1
    code, text, _ = call(capsys, "predict", models["cls"], data)
    table = pd.read_csv(io.StringIO(text))
    proba = table.filter(like="proba_").to_numpy()
    assert code == 0 and np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)


def test_a_column_too_large_to_standardize_is_refused_at_train_by_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = penguins_with(tmp_path, 6, "bill_length_mm", 1e308)
    args = ["train", data, "--target", "species", *FAST, "--out", tmp_path / "run"]
    assert one_line_error(call(capsys, *args)[::2]).endswith(
        "column 'bill_length_mm' cannot be standardized: its mean or spread overflows "
        "(row 6 holds 1e+308)"
    )
    assert not (tmp_path / "run").exists()


def test_rows_are_named_as_the_file_numbers_them(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = penguins_with(tmp_path, 121, "flipper_length_mm", math.inf)
    frame = pd.read_csv(data)
    frame.loc[1, "species"] = None  # a row left out before the split: numbers do not shift
    frame.to_csv(data, index=False)
    args = ["train", data, "--target", "species", *FAST, "--out", tmp_path / "run"]
    line = one_line_error(call(capsys, *args)[::2])
    assert line.endswith("column 'flipper_length_mm' holds an infinite value (row 121)")
    for sub in ("predict", "evaluate"):
        line = one_line_error(call(capsys, sub, models["cls"], data)[::2])
        assert line.endswith("(row 121)"), line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--seed", "-1"], "argument --seed: expected an integer from 0 to 4294967295, got '-1'"),
        (
            ["--seed", str(2**66)],
            f"argument --seed: expected an integer from 0 to 4294967295, got '{2**66}'",
        ),
        (["--hidden", "10000000000"], "argument --hidden: layer sizes must be at most 65536"),
        (
            ["--hidden", "60000,60000"],
            "--hidden 60000,60000: a network of 3,600,960,003 parameters",
        ),
    ],
)
def test_seeds_and_sizes_out_of_range_are_refused_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    args = ["train", PENGUINS, "--target", "species", *FAST, "--out", tmp_path / "run", *option]
    assert message in one_line_error(call(capsys, *args)[::2])
    assert not (tmp_path / "run").exists()


def test_a_file_of_the_other_kind_gets_the_commands_hint_not_pythons(
    models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = one_line_error(call(capsys, "predict", models["checkpoint"], PENGUINS)[::2])
    assert "kind is 'checkpoint', expected 'model': give it to 'deltaprop train --resume'" in first
    args = ["train", PENGUINS, "--target", "species", *FAST, "--out", tmp_path / "r"]
    line = one_line_error(call(capsys, *args, "--resume", models["cls"])[::2])
    assert "expected 'checkpoint': give a checkpoint (checkpoint.safetensors) to --resume" in line
    assert not any(
        python in text for python in ("load(", "load_checkpoint(") for text in (first, line)
    )
    assert not (tmp_path / "r").exists()


def test_predict_writes_six_significant_digits_unless_told(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    tables = {}
    for precision in ("6", "17"):
        code, text, err = call(capsys, "predict", models["cls"], PENGUINS, "--precision", precision)
        assert code == 0, err
        tables[precision] = text
    code, text, err = call(capsys, "predict", models["cls"], PENGUINS)
    assert code == 0 and text == tables["6"]  # the default
    first = text.splitlines()[1].split(",")[1:]
    assert all(len(re.sub(r"[-.]|e.*|^0\.0*", "", v)) <= 6 for v in first), first
    short, full = (pd.read_csv(io.StringIO(t)).filter(like="proba_") for t in tables.values())
    np.testing.assert_allclose(short.to_numpy(), full.to_numpy(), rtol=5e-6, atol=0)
    assert not np.array_equal(short.to_numpy(), full.to_numpy())
    pipeline = deltaprop.load(models["cls"])  # 17 digits: the float64s exactly
    np.testing.assert_array_equal(full.to_numpy(), pipeline.predict_proba(pd.read_csv(PENGUINS)))
    code, _, err = call(capsys, "predict", models["cls"], PENGUINS, "--precision", "18")
    assert code == 2 and "--precision: invalid choice: 18" in err


def test_inspect_names_the_classes_and_columns_of_an_estimator_saved_from_python(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import warnings

    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = deltaprop.MLPClassifier((4,), max_iter=3, random_state=0)
        clf.fit(X, y.map({0: "a", 1: "b", 2: "c"}))
    save(clf, tmp_path / "m.safetensors")
    code, text, err = call(capsys, "inspect", tmp_path / "m.safetensors")
    assert code == 0, err
    assert "classes (3): a, b, c\n" in text
    assert f"inputs: 4 columns: {', '.join(X.columns)}\n" in text
    code, text, err = call(capsys, "inspect", tmp_path / "m.safetensors", "--json")
    assert json.loads(text)["feature_names"] == list(X.columns)


def test_inspect_states_a_regression_target_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.DataFrame({"a": np.arange(40.0), "y": np.arange(40.0) * 2 + 1})
    frame.to_csv(tmp_path / "r.csv", index=False)
    code, _, err = call(capsys, "train", tmp_path / "r.csv", "--target", "y", "--hidden", "4",
                        "--epochs", "3", "--out", tmp_path / "run", "--quiet", "--no-report")  # fmt: skip
    assert code == 0, err
    code, text, err = call(capsys, "inspect", tmp_path / "run" / "model.safetensors")
    assert code == 0, err
    assert "target: 'y' (regression)\n" in text
