"""Reporting a training run as it goes: one :class:`Reporter` (text lines to a stream, the
progress bar to a rich console) and the two callbacks that report through it,
:class:`ProgressBar` (rich's bar over the epochs) and :class:`VerboseLines`
(scikit-learn's ``verbose`` text, ``Iteration N, loss = ...``).

Nothing here prints: the lines go to the reporter's stream (``sys.stdout`` when none is
given, looked up at each line, so that a captured or redirected stdout receives them) and
the bar to its console (rich's default console when none is given).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from deltaprop.optim import ReduceOnPlateau
from deltaprop.train.callbacks import Callback

__all__ = ["ProgressBar", "Reporter", "VerboseLines"]


class Reporter:
    """Where the reports of a training run go.

    Parameters
    ----------
    stream : text stream, optional
        Receives the text lines; ``sys.stdout`` (as of each line) by default, where
        scikit-learn's ``verbose`` output goes.
    console : rich.console.Console, optional
        Draws the progress bar; rich's default console otherwise.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> Reporter(out).line("Iteration 1, loss = 0.50000000")
    >>> out.getvalue()
    'Iteration 1, loss = 0.50000000\\n'
    """

    def __init__(self, stream: TextIO | None = None, console: Any = None) -> None:
        self.stream = stream
        self.console = console

    def line(self, text: str) -> None:
        """Write ``text`` and a newline, and flush (so that a log follows the run)."""
        stream = sys.stdout if self.stream is None else self.stream
        stream.write(text + "\n")
        stream.flush()

    def progress(self, label: str) -> Any:
        """A started ``rich.progress.Progress`` with the bar's columns: the ``label``, done
        of total, the bar, the time elapsed and the ``info`` field of its task."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        progress = Progress(
            TextColumn(label), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=self.console,
        )  # fmt: skip
        progress.start()
        return progress


class ProgressBar(Callback):
    """A rich progress bar over the epochs, showing the latest losses and score.

    Parameters
    ----------
    total : int, optional
        Epochs of the whole run; by default the epoch this fit can end at (a fit that
        continues an earlier one starts part-way along).
    console : rich.console.Console, optional
        Where to draw; rich's default console otherwise.
    score_name : str, default="score"
        What the validation score is called in the bar (``"accuracy"``, ``"R²"``).
    label : str, default="training"
        The text before the bar.
    reporter : Reporter, optional
        Draws the bar; by default a :class:`Reporter` to ``console``.
    """

    def __init__(
        self, total: int | None = None, console: Any = None, score_name: str = "score",
        label: str = "training", reporter: Reporter | None = None,
    ) -> None:  # fmt: skip
        self.total = total
        self.console = console
        self.score_name = score_name
        self.label = label
        self.reporter = reporter
        self._progress: Any = None

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        reporter = Reporter(console=self.console) if self.reporter is None else self.reporter
        self._progress = reporter.progress(self.label)
        total = self.total if self.total is not None else trainer.epoch + trainer.epochs
        self._task = self._progress.add_task("train", total=total, completed=trainer.epoch, info="")

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        assert logs is not None
        info = f"loss {logs['loss']:.4f}"
        if "val_loss" in logs:
            info += (
                f"  val loss {logs['val_loss']:.4f}  val {self.score_name} {logs['val_score']:.4f}"
            )
        self._progress.update(self._task, completed=epoch + 1, info=info)

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the bar down (also after an error, when ``on_train_end`` is not called)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class VerboseLines(Callback):
    """scikit-learn's ``verbose`` text: one line after every epoch, through a :class:`Reporter`.

    The line is ``Iteration N, loss = L`` (``N`` counted from 1 in each fit, ``L`` with 8
    decimals), followed by ``, validation score = S`` (6 decimals) when there is
    validation data: the text of scikit-learn's ``MLPClassifier(verbose=True)``.

    Parameters
    ----------
    reporter : Reporter, optional
        Where the lines go; a :class:`Reporter` to ``sys.stdout`` by default.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> lines = VerboseLines(Reporter(out))
    >>> class Run:
    ...     epoch = 3
    >>> lines.on_train_begin(Run())
    >>> lines.on_epoch_end(Run(), 3, {"loss": 0.25, "val_score": 0.9})
    >>> out.getvalue()
    'Iteration 1, loss = 0.25000000, validation score = 0.900000\\n'
    """

    def __init__(self, reporter: Reporter | None = None) -> None:
        self.reporter = Reporter() if reporter is None else reporter
        self.first = 0

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.first = trainer.epoch

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        assert logs is not None
        line = f"Iteration {epoch - self.first + 1}, loss = {logs['loss']:.8f}"
        if "val_score" in logs:
            line += f", validation score = {logs['val_score']:.6f}"
        self.reporter.line(line)

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """scikit-learn's last line when ``tol`` stopped the run (its text, its count)."""
        reason = (logs or {}).get("stop_reason")
        if reason in ("no_improvement", "early_stopping") and not isinstance(
            trainer.schedule, ReduceOnPlateau
        ):
            what = "Validation score" if reason == "early_stopping" else "Training loss"
            self.reporter.line(
                f"{what} did not improve more than tol={trainer.tol:f} for "
                f"{trainer.n_iter_no_change} consecutive epochs. Stopping."
            )
