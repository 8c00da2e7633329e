"""The scikit-learn face: MLPClassifier and MLPRegressor (no numerics inside).

Importing this package registers both estimators with :mod:`deltaprop.io`, so that
:func:`deltaprop.io.load` can build them from model files.
"""

from deltaprop.sklearn.base import DivergenceWarning, NothingLeftToTrainError
from deltaprop.sklearn.classifier import MLPClassifier
from deltaprop.sklearn.regressor import MLPRegressor

__all__ = ["DivergenceWarning", "MLPClassifier", "MLPRegressor", "NothingLeftToTrainError"]
