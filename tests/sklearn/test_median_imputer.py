"""MedianImputer: scikit-learn's median imputation, the same statistics from a faster fit."""

import warnings

import numpy as np
import pytest
from sklearn.impute import SimpleImputer

from deltaprop.sklearn.median_imputer import MedianImputer


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_rows", [1, 2, 7, 600, 1001])
@pytest.mark.parametrize("keep_empty", [True, False])
def test_the_same_medians_and_output_as_simple_imputer(dtype, n_rows, keep_empty):
    rng = np.random.default_rng(n_rows)
    X = rng.standard_normal((n_rows, 5)).astype(dtype) * 1e3
    X[rng.random(X.shape) < 0.2] = np.nan
    X[:, 1] = np.nan  # a column without a value
    X[:, 2] = np.round(X[:, 2])  # ties
    X[0, 3] = np.finfo(dtype).max  # the two middle values' mean near the top of the range
    with np.errstate(over="ignore"):  # the mean of two values near the top: inf in both
        ours = MedianImputer(strategy="median", keep_empty_features=keep_empty).fit(X)
        ref = SimpleImputer(strategy="median", keep_empty_features=keep_empty).fit(X)
    assert ours.statistics_.dtype == ref.statistics_.dtype
    np.testing.assert_array_equal(ours.statistics_, ref.statistics_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # both skip the empty column
        np.testing.assert_array_equal(ours.transform(X), ref.transform(X))
    if keep_empty:
        assert ours.statistics_[1] == 0.0
    else:
        assert np.isnan(ours.statistics_[1])


def test_other_strategies_and_markers_are_scikit_learns():
    X = np.array([[1.0, -1.0], [-1.0, 4.0], [3.0, 5.0], [-1.0, -1.0]])
    for kw in ({"strategy": "mean"}, {"strategy": "median", "missing_values": -1.0},
               {"strategy": "most_frequent"}):  # fmt: skip
        np.testing.assert_array_equal(
            MedianImputer(**kw).fit(X).statistics_, SimpleImputer(**kw).fit(X).statistics_
        )
    assert MedianImputer(strategy="median", missing_values=-1.0).fit(X).statistics_.tolist() == [
        2.0, 4.5]  # fmt: skip


def test_an_indicator_as_scikit_learns():
    X = np.array([[1.0, np.nan], [np.nan, 2.0], [3.0, 4.0]])
    ours = MedianImputer(strategy="median", add_indicator=True).fit(X)
    ref = SimpleImputer(strategy="median", add_indicator=True).fit(X)
    np.testing.assert_array_equal(ours.transform(X), ref.transform(X))
    assert ours.transform(X).shape == (3, 4)
