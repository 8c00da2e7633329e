"""Argument checks of the :class:`~deltaprop.train.trainer.Trainer`'s settings.

The learning rate is checked by :func:`deltaprop.optim.check_learning_rate`, its one home.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from deltaprop.core import check_bool, check_int, check_real


def _check_settings(
    batch_size: Any, epochs: Any, n_iter_no_change: Any, tol: Any, alpha: Any, clip_norm: Any,
    validation_fraction: Any, monitor: Any, class_weight: Any, shuffle: Any, early_stopping: Any,
    callbacks: Any = (),
) -> None:  # fmt: skip
    """Check the :class:`~deltaprop.train.trainer.Trainer`'s settings, naming the value
    received (a ``ValueError``)."""
    if batch_size is not None:
        check_int("batch_size", batch_size, low=1, what="a positive integer")
    check_int("epochs", epochs, low=1, what="a positive integer")
    check_bool("shuffle", shuffle)
    if isinstance(callbacks, str | bytes | dict) or not (
        callbacks is None or isinstance(callbacks, Iterable)
    ) or hasattr(callbacks, "on_epoch_end"):  # fmt: skip
        raise TypeError(
            f"callbacks must be a list of callbacks, or None. Received: callbacks={callbacks!r}"
        )
    check_bool("early_stopping", early_stopping)
    check_int("n_iter_no_change", n_iter_no_change, low=1, what="a positive integer")
    check_real("tol", tol, low=0.0, what="a non-negative finite number")
    check_real("alpha", alpha, low=0.0, what="a non-negative finite number")
    if clip_norm is not None:
        check_real("clip_norm", clip_norm, low=0.0, low_open=True,
                   what="a positive number or None")  # fmt: skip
    if validation_fraction is not None:
        check_real("validation_fraction", validation_fraction, low=0.0, high=1.0,
                   low_open=True, high_open=True, what="in (0, 1) or None")  # fmt: skip
    if monitor not in ("val_loss", "val_score"):
        raise ValueError(
            f"monitor must be 'val_loss' or 'val_score'. Received: monitor={monitor!r}"
        )
    if not (class_weight is None or class_weight == "balanced" or isinstance(class_weight, dict)):
        raise ValueError(
            f"class_weight must be a dict, 'balanced' or None. Received: class_weight={class_weight!r}"
        )
