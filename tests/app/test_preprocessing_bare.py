"""A bare ``TablePreprocessor()`` in a Python pipeline takes the table as ``deltaprop train``
does: numbers standardized, text one-hot encoded, missing values imputed; saved, loaded and
inspected like a model of the command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

import deltaprop
from deltaprop import MLPClassifier
from deltaprop.app.preprocessing import Preprocessor
from deltaprop.sklearn import TablePreprocessor
from tests.app.clitools import PENGUINS, call


@pytest.fixture(scope="module")
def table() -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.read_csv(PENGUINS)
    return frame.drop(columns=["species", "id"]), frame["species"].to_numpy()


def test_a_bare_preprocessor_finds_the_columns_that_train_finds(
    table: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, _ = table
    assert X.drop(columns="body_mass_g").isna().any().all()  # missing numbers and categories
    pre = TablePreprocessor().fit(X)
    assert pre.numeric_ == ["bill_length_mm", "flipper_length_mm", "body_mass_g"]
    assert pre.categorical_ == ["island", "sex"]
    assert pre.numeric is None and pre.categorical is None  # fit leaves the parameters
    command = Preprocessor.for_frame(X)
    assert (command.numeric, command.categorical) == (pre.numeric_, pre.categorical_)
    np.testing.assert_array_equal(pre.transform(X), command.fit_transform(X))
    Z = pre.transform(X)
    np.testing.assert_allclose(Z[:, :3].mean(axis=0), 0.0, atol=1e-12)  # standardized
    assert set(np.unique(Z[:, 3:])) == {0.0, 1.0} and np.isfinite(Z).all()
    assert "island=Dream" in pre.get_feature_names_out()
    assert "sex=(missing)" in pre.get_feature_names_out()


def test_one_list_given_the_other_is_found_among_the_remaining_columns(
    table: tuple[pd.DataFrame, np.ndarray],
) -> None:
    X, _ = table
    command = Preprocessor.for_frame(X, ["flipper_length_mm"])  # --categorical
    assert command.categorical == ["island", "flipper_length_mm", "sex"]
    pre = TablePreprocessor(categorical=command.categorical).fit(X)
    assert (pre.numeric_, pre.categorical_) == (
        ["bill_length_mm", "body_mass_g"],
        command.categorical,
    )
    only = TablePreprocessor(categorical=["flipper_length_mm"]).fit(X)  # exactly those
    assert (only.numeric_, only.categorical_) == (
        ["bill_length_mm", "body_mass_g"],
        ["flipper_length_mm"],
    )
    pre = TablePreprocessor(numeric=["body_mass_g"]).fit(X)  # the rest as categories
    assert pre.categorical_ == ["island", "bill_length_mm", "flipper_length_mm", "sex"]


def test_selecting_no_column_is_an_error_naming_the_parameters(
    table: tuple[pd.DataFrame, np.ndarray],
) -> None:
    with pytest.raises(ValueError, match=r"selects no columns.*numeric=\[\], categorical=\[\]"):
        TablePreprocessor([], []).fit(table[0])


def test_a_pipeline_of_a_bare_preprocessor_fits_saves_loads_and_inspects(
    table: tuple[pd.DataFrame, np.ndarray], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    X, y = table
    model = MLPClassifier(hidden_layer_sizes=(8,), max_iter=30, random_state=0, tol=1e9)
    pipe = Pipeline([("preprocess", TablePreprocessor()), ("model", model)]).fit(X, y)
    assert pipe[-1].n_features_in_ == 3 + 4 + 3  # 3 numbers; 3 islands, 2 sexes, each and (missing)
    proba = pipe.predict_proba(X)
    deltaprop.save(pipe, tmp_path / "m.safetensors")
    loaded = deltaprop.load(tmp_path / "m.safetensors")
    assert loaded[0].numeric_ == pipe[0].numeric_
    assert list(loaded.predict(X)) == list(pipe.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), proba)
    code, text, err = call(capsys, "inspect", tmp_path / "m.safetensors")
    assert code == 0, err
    assert "None" not in text
    assert "target: not recorded (classification; 3 classes: Adelie, Chinstrap, Gentoo)" in text


def test_a_value_that_cannot_be_standardized_is_named_plainly() -> None:
    from deltaprop.sklearn import TablePreprocessor

    pre = TablePreprocessor().fit(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.5]}))
    with pytest.raises(ValueError, match=r"^row 1, column 'a': the value inf is not a finite "
                       r"number$"):  # fmt: skip
        pre.transform(pd.DataFrame({"a": [1.0, np.inf], "b": [0.0, 0.0]}))
    with pytest.raises(ValueError, match=r"the value -1e\+308 is not a finite number once "
                       r"standardized \(too large for its column\)"):  # fmt: skip
        pre.transform(pd.DataFrame({"a": [1.0, 2.0], "b": [0.0, -1e308]}))
