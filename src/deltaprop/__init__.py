"""deltaprop: neural networks trained by explicit, verified backpropagation.

The names below are imported when first used (PEP 562), so that ``import deltaprop`` and
the command's ``--help`` do not load scikit-learn, SciPy and pandas for a name they never
touch: ``deltaprop.Network`` imports :mod:`deltaprop.core` only. :func:`load` finds the
estimator classes that a file names through the ``deltaprop.models`` entry points
(:func:`deltaprop.io.register_model_class`), whether or not :mod:`deltaprop.sklearn` has
been imported yet.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_HOMES: dict[str, str] = {
    "CSVLogger": "deltaprop.train",
    "Callback": "deltaprop.train",
    "Checkpoint": "deltaprop.train",
    "DivergenceError": "deltaprop.train",
    "GradcheckResult": "deltaprop.core",
    "History": "deltaprop.train",
    "MLPClassifier": "deltaprop.sklearn",
    "MLPRegressor": "deltaprop.sklearn",
    "ModelFileError": "deltaprop.io",
    "ModelFileNotFoundError": "deltaprop.io",
    "Network": "deltaprop.core",
    "ResumeFrom": "deltaprop.train",
    "Trainer": "deltaprop.train",
    "export_onnx": "deltaprop.export",
    "get_activation": "deltaprop.core",
    "get_loss": "deltaprop.core",
    "get_optimizer": "deltaprop.optim",
    "get_schedule": "deltaprop.optim",
    "gradcheck": "deltaprop.core",
    "gradient_descent": "deltaprop.train",
    "load": "deltaprop.io",
    "load_checkpoint": "deltaprop.train",
    "register_model_class": "deltaprop.io",
    "resume": "deltaprop.train",
    "save": "deltaprop.io",
    "save_checkpoint": "deltaprop.train",
}
"""Each public name and the package it comes from (the one list of the public API)."""

__all__ = sorted([*_HOMES, "__version__"])

if TYPE_CHECKING:  # what static checkers and editors see (tests check it against _HOMES)
    from deltaprop.core import GradcheckResult, Network, get_activation, get_loss, gradcheck
    from deltaprop.export import export_onnx
    from deltaprop.io import (
        ModelFileError,
        ModelFileNotFoundError,
        load,
        register_model_class,
        save,
    )
    from deltaprop.optim import get_optimizer, get_schedule
    from deltaprop.sklearn import MLPClassifier, MLPRegressor
    from deltaprop.train import (
        Callback,
        Checkpoint,
        CSVLogger,
        DivergenceError,
        History,
        ResumeFrom,
        Trainer,
        gradient_descent,
        load_checkpoint,
        resume,
        save_checkpoint,
    )


def __getattr__(name: str) -> Any:
    """Import a public name's package on first use and keep the name (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'deltaprop' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
