"""Tables for the ``deltaprop`` command: reading, task detection, preprocessing, training.

The public names of the modules that do each, gathered in one place for scripts:

- :mod:`deltaprop.app.tables`: :func:`read_table` (CSV, Parquet, ``.npz``); the errors are
  those of :mod:`deltaprop.app.errors` (:class:`DataError`, :class:`CSVSyntaxError`);
- :mod:`deltaprop.app.tasks`: :func:`split_target`, :func:`detect_task`,
  :func:`check_target`, :func:`align_labels`, :func:`metrics`;
- :mod:`deltaprop.app.preprocessing`: :class:`Preprocessor`, :class:`TargetScaler`,
  :data:`MISSING_CATEGORY`;
- :mod:`deltaprop.app.fitting`: :func:`train_validation_split`, :func:`fit_estimator`,
  :func:`predict_table`.
"""

from __future__ import annotations

from deltaprop.app.errors import CSVSyntaxError, DataError
from deltaprop.app.fitting import fit_estimator, predict_table, train_validation_split
from deltaprop.app.preprocessing import MISSING_CATEGORY, Preprocessor, TargetScaler
from deltaprop.app.tables import read_table
from deltaprop.app.tasks import align_labels, check_target, detect_task, metrics, split_target

__all__ = [
    "MISSING_CATEGORY",
    "CSVSyntaxError",
    "DataError",
    "Preprocessor",
    "TargetScaler",
    "align_labels",
    "check_target",
    "detect_task",
    "fit_estimator",
    "metrics",
    "predict_table",
    "read_table",
    "split_target",
    "train_validation_split",
]
