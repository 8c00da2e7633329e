"""MLPClassifier's target encoding: the one-hot rows by index equal LabelBinarizer's."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer

from deltaprop.sklearn import MLPClassifier
from deltaprop.sklearn.classifier import _binarize

RNG = np.random.default_rng(0)
TARGETS = {
    "ints, 10 classes": RNG.integers(0, 10, 300),
    "ints, binary": RNG.integers(3, 5, 40),
    "strings": np.array(["b", "a", "c", "a"]),
    "strings, binary": np.array(["no", "yes", "yes"]),
    "booleans": np.array([True, False, True]),
    "floats": RNG.integers(0, 3, 30).astype(np.float64),
    "one class": np.array([7, 7, 7]),
    "objects": np.array(["x", "y", "z"], dtype=object),
}


@pytest.mark.parametrize("name", list(TARGETS))
def test_binarize_equals_label_binarizer(name: str) -> None:
    y = TARGETS[name]
    lb = LabelBinarizer().fit(y)
    ours, ref = _binarize(lb, y), lb.transform(y).astype(np.float64)
    assert ours.dtype == np.float64 and ours.shape == ref.shape
    np.testing.assert_array_equal(ours, ref)
    part = y[1:3]  # a later call with some of the labels
    np.testing.assert_array_equal(_binarize(lb, part), lb.transform(part).astype(np.float64))


def test_binarize_rows_for_known_labels() -> None:
    lb = LabelBinarizer().fit(np.array([2, 5, 9]))
    assert _binarize(lb, np.array([9, 2])).tolist() == [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    lb2 = LabelBinarizer().fit(np.array(["cat", "dog"]))
    assert _binarize(lb2, np.array(["dog", "cat", "dog"])).tolist() == [[1.0], [0.0], [1.0]]


def test_an_unseen_label_is_a_row_of_zeros_as_in_label_binarize() -> None:
    lb = LabelBinarizer().fit(np.array([0, 1, 2]))
    np.testing.assert_array_equal(_binarize(lb, np.array([1, 5])),
                                  lb.transform(np.array([1, 5])).astype(np.float64))  # fmt: skip
    assert _binarize(lb, np.array([1, 5]))[1].tolist() == [0.0, 0.0, 0.0]


def test_fit_targets_are_the_label_binarizers() -> None:
    X = RNG.standard_normal((60, 3))
    y = np.array(["a", "b", "c"])[RNG.integers(0, 3, 60)]
    clf = MLPClassifier((4,), max_iter=2, random_state=0)
    Y = clf._encode_y(y, incremental=False)
    np.testing.assert_array_equal(Y, LabelBinarizer().fit(y).transform(y).astype(np.float64))
    assert clf.classes_.tolist() == ["a", "b", "c"] and not clf._multilabel
    indicator = (RNG.random((60, 2)) < 0.5).astype(int)  # a 2-D y: still multilabel
    Yi = MLPClassifier((4,))._encode_y(indicator, incremental=False)
    np.testing.assert_array_equal(Yi, indicator.astype(np.float64))
    with pytest.warns(ConvergenceWarning):
        assert MLPClassifier((4,), max_iter=1).fit(X, indicator)._multilabel
