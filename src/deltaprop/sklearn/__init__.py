"""The scikit-learn face: MLPClassifier and MLPRegressor (no numerics inside).

Importing this package registers both estimators with :mod:`deltaprop.io`, so that
:func:`deltaprop.io.load` can build them from model files, and scikit-learn's ``Pipeline``
of a :class:`~deltaprop.sklearn.tabular.TablePreprocessor` and an estimator
(:mod:`deltaprop.sklearn.pipeline`).
"""

from deltaprop.sklearn.base import DivergenceWarning, NothingLeftToTrainError
from deltaprop.sklearn.classifier import MLPClassifier
from deltaprop.sklearn.pipeline import model_pipeline
from deltaprop.sklearn.regressor import MLPRegressor
from deltaprop.sklearn.tabular import TablePreprocessor
from deltaprop.sklearn.training import interrupts_raise

__all__ = [
    "DivergenceWarning",
    "MLPClassifier",
    "MLPRegressor",
    "NothingLeftToTrainError",
    "TablePreprocessor",
    "interrupts_raise",
    "model_pipeline",
]
