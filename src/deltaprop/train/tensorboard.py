""":class:`TensorBoardLogger`: a run's curves as TensorBoard event files, as it goes.

The events are written by ``tensorboardX`` (an optional dependency:
``pip install 'deltaprop[tensorboard]'``), which needs neither TensorFlow nor the
``tensorboard`` package; ``tensorboard --logdir DIR`` shows them.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from deltaprop.train.callbacks import Callback
from deltaprop.train.loggers import epoch_scalars, optional_import

__all__ = ["TensorBoardLogger"]

_FILES = itertools.count()
"""Numbers the event files of this process: two fits within a second would otherwise get
the same file name (tensorboardX's has the time in seconds) and the second replace the
first."""


class TensorBoardLogger(Callback):
    """Write every value the history records, each epoch, as TensorBoard scalars.

    The scalars are ``loss``, ``learning_rate``, with validation data ``val_loss`` and
    ``val_score``, and ``grad_norm/layer_<l>`` (the epoch's mean ``‖dW[l]‖_F``,
    :func:`~deltaprop.train.loggers.epoch_scalars`), at step = the epoch's number (1-based,
    counted over all fits, as ``history.csv``). The events are flushed after every epoch,
    so that a run that is killed keeps its finished epochs; the file is closed when the fit
    ends.

    Parameters
    ----------
    log_dir : str or path-like
        The folder of the event files (created if needed); give each run its own.

    Raises
    ------
    ImportError
        If ``tensorboardX`` is not installed, naming the pip extra.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from deltaprop import Network, Trainer
    >>> logdir = tempfile.mkdtemp()
    >>> net = Network([2, 3, 1], "tanh", "bce", seed=0)
    >>> _ = Trainer(net, epochs=2, seed=0, callbacks=[TensorBoardLogger(logdir)]).fit(
    ...     np.eye(2), [0.0, 1.0])
    >>> any(p.name.startswith("events.out.tfevents") for p in Path(logdir).iterdir())
    True
    """

    def __init__(self, log_dir: str | os.PathLike[str]) -> None:
        self._tbx = optional_import("tensorboardX", "tensorboard", "TensorBoardLogger")
        self.log_dir = Path(log_dir)
        self._writer: Any = None

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Open an event file in :attr:`log_dir` (a new one for each fit)."""
        self.close()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        suffix = f".{os.getpid()}.{next(_FILES)}"
        self._writer = self._tbx.SummaryWriter(logdir=str(self.log_dir), filename_suffix=suffix)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Write the epoch's scalars at step ``epoch + 1`` and flush."""
        if self._writer is None:
            self.on_train_begin(trainer)
        for tag, value in epoch_scalars(trainer, logs).items():
            self._writer.add_scalar(tag, value, epoch + 1)
        self._writer.flush()

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Close the event file."""
        self.close()

    def on_exception(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Close the event file (a fit that diverged or was interrupted)."""
        self.close()

    def close(self) -> None:
        """Close the event file, if one is open (also after an interrupted fit)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
