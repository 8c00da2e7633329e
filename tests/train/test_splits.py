"""The one validation-split policy (deltaprop.train.splits), shared by the Trainer and the
command: its size, stratification, single-row classes, and the too-small case."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from deltaprop.train import (
    MIN_VALIDATION_ROWS,
    split_validation_rows,
    validation_indices,
    validation_size,
)


@pytest.mark.parametrize(("n", "fraction"), [(150, 0.1), (333, 0.1), (1347, 0.15), (37, 0.2)])
def test_the_size_is_train_test_splits(n: int, fraction: float) -> None:
    _, va = train_test_split(np.arange(n), test_size=fraction, random_state=0)
    assert validation_size(n, fraction) == len(va)
    assert len(split_validation_rows(n, fraction, 0)[1]) == len(va)


@pytest.mark.parametrize("seed", [0, 3])
def test_without_single_rows_it_is_train_test_split_exactly(seed: int) -> None:
    classes = np.random.default_rng(seed).integers(0, 3, 90)
    tr, va = split_validation_rows(90, 0.2, seed, classes)
    ref_tr, ref_va = train_test_split(
        np.arange(90), test_size=0.2, random_state=seed, stratify=classes
    )
    np.testing.assert_array_equal(tr, ref_tr)
    np.testing.assert_array_equal(va, ref_va)
    tr, va = split_validation_rows(90, 0.2, seed, None)  # regression: no stratification
    ref_tr, ref_va = train_test_split(np.arange(90), test_size=0.2, random_state=seed)
    np.testing.assert_array_equal(tr, ref_tr)
    np.testing.assert_array_equal(va, ref_va)


def test_a_single_row_class_stays_in_training_and_the_rest_is_stratified() -> None:
    classes = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 19 + ["lonely"])
    tr, va = split_validation_rows(100, 0.2, 0, classes)
    assert len(va) == 20 and sorted(np.concatenate([tr, va])) == list(range(100))
    assert "lonely" in classes[tr] and "lonely" not in classes[va]
    assert (classes[va] == "a").sum() == 10 and (classes[va] == "b").sum() == 6


def test_where_stratifying_is_impossible_unseen_classes_move_to_training() -> None:
    classes = np.array([0] * 6 + [1] * 2 + [2] * 2)  # 2 validation rows < 3 classes
    tr, va = split_validation_rows(10, 0.2, 1, classes)
    assert set(classes[va]) <= set(classes[tr])
    assert sorted(np.concatenate([tr, va])) == list(range(10))


def test_the_trainer_refuses_a_split_that_is_too_small() -> None:
    Y = np.random.default_rng(0).normal(size=(20, 1))
    assert validation_size(20, 0.05) < MIN_VALIDATION_ROWS
    with pytest.raises(ValueError, match="The validation set is too small"):
        validation_indices(Y, 0.05, 0, "mean_squared_error")


def test_the_trainer_refuses_what_cannot_be_stratified_as_scikit_learn() -> None:
    Y1 = np.eye(3)[np.array([0] * 10 + [1] * 9 + [2])]  # class 2 has one row
    with pytest.raises(ValueError, match="least populated class"):
        validation_indices(Y1, 0.1, 0, "categorical_crossentropy")
    classes = Y1.argmax(axis=1)
    tr, va = split_validation_rows(20, 0.1, 0, classes)  # the command's: kept to train
    assert 19 in tr and len(va) == 2
