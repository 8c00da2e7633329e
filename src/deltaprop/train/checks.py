"""Argument checks of the :class:`~deltaprop.train.trainer.Trainer`'s settings.

The learning rate is checked by :func:`deltaprop.optim.check_learning_rate`, its one home.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from deltaprop.core import check_bool, check_int, check_real
from deltaprop.core.registry import did_you_mean

KERAS_FIT_SETTINGS = {"validation_split": "validation_fraction"}
"""Keras's ``Model.fit`` arguments that are :class:`~deltaprop.train.trainer.Trainer`
settings here under another name (the others keep theirs: ``epochs``, ``batch_size``, ...)."""


def refuse_fit_settings(trainer: Any, given: dict[str, Any]) -> None:
    """The ``TypeError`` for keywords that ``Trainer.fit`` does not take: a Trainer setting
    passed to ``fit`` as Keras's ``Model.fit`` takes it (``fit(X, y, epochs=10)``) is named
    with where it goes; any other gets the closest keyword of ``fit``."""
    if not given:
        return
    settings = set(inspect.signature(type(trainer)).parameters)
    name, value = next(iter(given.items()))
    setting = KERAS_FIT_SETTINGS.get(name, name)
    if setting in settings:
        raise TypeError(
            f"fit() got an unexpected keyword argument {name!r}: {setting} is a setting of "
            f"the Trainer, given where it is built: Trainer(net, ..., {setting}={value!r})"
        )
    accepted = [p for p in inspect.signature(trainer.fit).parameters if p != "keras"]
    raise TypeError(
        f"fit() got an unexpected keyword argument {name!r}{did_you_mean(name, accepted)}"
    )


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
