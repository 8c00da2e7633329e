"""The scikit-learn face: MLPClassifier and MLPRegressor (no numerics inside)."""

from deltaprop.sklearn.estimators import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
