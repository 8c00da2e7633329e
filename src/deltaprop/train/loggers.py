"""A run's curves as CSV: :class:`CSVLogger` writes them as it goes (one row per epoch),
:func:`history_csv` the same columns from a finished run's :class:`History`;
:func:`epoch_scalars`, what the TensorBoard and MLflow loggers
(:mod:`deltaprop.train.tensorboard`, :mod:`deltaprop.train.mlflow_logger`) record per
epoch, and :func:`optional_import`, how they import their optional dependency.

>>> import os, tempfile
>>> import numpy as np
>>> from deltaprop import Network, Trainer
>>> path = os.path.join(tempfile.mkdtemp(), "history.csv")
>>> X = np.random.default_rng(0).normal(size=(40, 2)); y = (X[:, 0] > 0).astype(float)
>>> net = Network([2, 4, 1], "tanh", "binary_crossentropy", seed=0)
>>> _ = Trainer(net, "adam", epochs=3, callbacks=[CSVLogger(path)], seed=0).fit(X, y)
>>> from pathlib import Path
>>> Path(path).read_text().splitlines()[0]
'epoch,loss,learning_rate'
"""

from __future__ import annotations

import csv
import importlib
import io
import os
from pathlib import Path
from types import ModuleType
from typing import IO, Any

from deltaprop.train.callbacks import Callback, History

__all__ = ["CSVLogger", "epoch_scalars", "history_csv", "optional_import"]


class CSVLogger(Callback):
    """Write each epoch's logs to a CSV file, a row per epoch, flushed as it is written
    (a run that is killed keeps the rows of its finished epochs), as Keras's ``CSVLogger``.

    The columns are ``epoch`` (1-based, as deltaprop's messages count epochs) and the keys of
    the trainer's epoch logs in their order: ``loss``, ``learning_rate``, and with validation
    data ``val_loss`` and ``val_score``.

    Parameters
    ----------
    filename : str or path-like
        The CSV file; its folder must exist.
    separator : str, default=","
        The field separator, one character.
    append : bool, default=False
        Add rows to an existing file (a resumed run) instead of starting a new one; the header
        is written only when the file is new or empty.
    """

    def __init__(
        self, filename: str | os.PathLike[str], separator: str = ",", append: bool = False
    ) -> None:
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(
                f"separator must be a single character. Received: separator={separator!r}"
            )
        self.filename = Path(filename)
        self.separator = separator
        self.append = bool(append)
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._keys: list[str] | None = None
        self._header_written = False

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Open the file (new, or for appending)."""
        keep = self.append and self.filename.exists() and self.filename.stat().st_size > 0
        self._file = self.filename.open("a" if keep else "w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, delimiter=self.separator)
        self._keys = None
        self._header_written = keep

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Write the row of epoch ``epoch + 1``."""
        if self._file is None:
            self.on_train_begin(trainer)
        logs = dict(logs or {})
        if self._keys is None:
            self._keys = list(logs)
            if not self._header_written:
                self._writer.writerow(["epoch", *self._keys])
        self._writer.writerow([epoch + 1, *(logs.get(k, "") for k in self._keys)])
        assert self._file is not None
        self._file.flush()

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def on_exception(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Close the file, its rows kept (a fit that diverged or was interrupted)."""
        self.on_train_end(trainer, logs)


def history_csv(history: History) -> str:
    """A finished run's curves as CSV text, in :class:`CSVLogger`'s columns: ``epoch``
    (1-based), ``loss``, ``learning_rate``, and with validation ``val_loss`` and ``val_score``.
    """
    columns = {"loss": history.loss, "learning_rate": history.learning_rate}
    if history.val_loss:
        columns.update(val_loss=history.val_loss, val_score=history.val_score)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *columns])
    for e in range(len(history.loss)):
        writer.writerow(
            [e + 1, *(repr(float(c[e])) if e < len(c) else "" for c in columns.values())]
        )
    return buffer.getvalue()


def epoch_scalars(trainer: Any, logs: dict[str, Any] | None) -> dict[str, float]:
    """Every value the history records for the epoch just ended, by name: the epoch logs
    (``loss``, ``learning_rate``, with validation ``val_loss`` and ``val_score``) and the
    mean gradient norm of each layer, ``grad_norm/layer_<l>`` (``l`` from 1).

    >>> class Run:
    ...     history = History(grad_norms=[[0.5, 0.25]])
    >>> epoch_scalars(Run(), {"loss": 1.0, "learning_rate": 0.01})
    {'loss': 1.0, 'learning_rate': 0.01, 'grad_norm/layer_1': 0.5, 'grad_norm/layer_2': 0.25}
    """
    values = {k: float(v) for k, v in (logs or {}).items()}
    norms = trainer.history.grad_norms
    if norms:
        values.update({f"grad_norm/layer_{k + 1}": float(g) for k, g in enumerate(norms[-1])})
    return values


def optional_import(module: str, extra: str, who: str) -> ModuleType:
    """Import an optional dependency, or raise ``ImportError`` naming the pip extra.

    >>> optional_import("no_such_module_here", "tensorboard", "TensorBoardLogger")
    Traceback (most recent call last):
    ...
    ImportError: TensorBoardLogger needs no_such_module_here, which is not installed: pip install 'deltaprop[tensorboard]'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{who} needs {module}, which is not installed: pip install 'deltaprop[{extra}]'"
        ) from None
