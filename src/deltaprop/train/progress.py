"""Reporting a training run as it goes: one :class:`Reporter` (text lines to a stream, the
progress bar to a rich console) and the two callbacks that report through it,
:class:`ProgressBar` (rich's bar over the epochs, with the time left and the progress
inside a long epoch) and :class:`VerboseLines` (scikit-learn's ``verbose`` text,
``Iteration N, loss = ...``); :func:`progress_reporter` and :func:`epoch_in_parts`, how
the mini-batch loop reports inside an epoch (:meth:`Callback.on_epoch_progress`).

Nothing here prints: the lines go to the reporter's stream (``sys.stdout`` when none is
given, looked up at each line, so that a captured or redirected stdout receives them) and
the bar to its console (rich's default console when none is given).
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

import numpy as np

from deltaprop.core import fused as _fused
from deltaprop.optim import ReduceOnPlateau
from deltaprop.train.callbacks import Callback, watches_progress

__all__ = [
    "BAR_WIDTH",
    "PROGRESS_BATCHES",
    "PROGRESS_PARTS",
    "PROGRESS_SECONDS",
    "ProgressBar",
    "Reporter",
    "VerboseLines",
    "compile_notes",
    "epoch_in_parts",
    "eta_text",
    "progress_reporter",
]

PROGRESS_BATCHES = 200
"""An epoch of at least this many mini-batches is long: the compiled loop runs it in
:data:`PROGRESS_PARTS` calls, reporting between them, when a callback watches the progress
inside epochs; a shorter epoch runs in one call."""

PROGRESS_PARTS = 20
"""The compiled calls of a long epoch (progress reported after each: every 5%)."""

PROGRESS_SECONDS = 0.5
"""The :class:`ProgressBar` redraws the progress inside an epoch at most this often."""


def progress_reporter(
    trainer: Any, callbacks: Sequence[Any], n: int
) -> Callable[[int], None] | None:
    """``report(samples)``: calls ``on_epoch_progress(trainer, trainer.epoch, {"samples":
    samples, "samples_total": n})`` of the callbacks that watch it; None when none does."""
    watching = watches_progress(callbacks)
    if not watching:
        return None

    def report(samples: int) -> None:
        logs = {"samples": int(samples), "samples_total": n}
        for cb in watching:
            cb.on_epoch_progress(trainer, trainer.epoch, logs)

    return report


def epoch_in_parts(
    fast: Any, rows: np.ndarray, batch_size: int, learning_rate: float, norms: np.ndarray,
    report: Callable[[int], None] | None,
) -> tuple[float, int, int, float | None]:  # fmt: skip
    """One epoch of the compiled loop (``fast.epoch``, same arguments and result), run in
    :data:`PROGRESS_PARTS` calls of whole batches when it has at least
    :data:`PROGRESS_BATCHES` batches and ``report`` is given, ``report(samples done)``
    after each: the same steps as one call (the loss summed by parts may differ in its
    last bits)."""
    n_batches = math.ceil(rows.size / batch_size)
    if report is None or n_batches < PROGRESS_BATCHES:
        return fast.epoch(rows, batch_size, learning_rate, norms)
    step = math.ceil(n_batches / PROGRESS_PARTS) * batch_size
    total, taken, seen = 0.0, 0, 0
    for start in range(0, rows.size, step):
        cost, b, m, bad = fast.epoch(rows[start : start + step], batch_size, learning_rate, norms)
        total, taken, seen = total + cost, taken + b, seen + m
        if bad is not None:
            return total, taken, seen, bad
        report(min(start + step, rows.size))
    return total, taken, seen, None


def eta_text(seconds: float) -> str:
    """The time left, as ``"ETA 1:05"`` (minutes and seconds) or ``"ETA 2:01:05"``;
    ``""`` when not known yet.

    >>> eta_text(65.4), eta_text(7265), eta_text(math.nan)
    ('ETA 1:05', 'ETA 2:01:05', '')
    """
    if not math.isfinite(seconds) or seconds < 0:
        return ""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    return f"ETA {h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"ETA {s // 60}:{s % 60:02d}"


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
        of total, the bar, the time elapsed and the ``eta`` and ``info`` fields of its task.

        The first five keep their width (the bar :data:`BAR_WIDTH` characters); the
        ``info`` (the latest losses) takes what the console's width leaves, cut short with
        an ellipsis (in 80 columns, ``epoch 3000/3000``, the bar, the time and the time
        left are whole)."""
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.table import Column

        def whole() -> Column:
            return Column(no_wrap=True, overflow="ignore")

        progress = Progress(
            TextColumn(label, table_column=whole()), MofNCompleteColumn(table_column=whole()),
            BarColumn(bar_width=BAR_WIDTH, table_column=whole()),
            TimeElapsedColumn(table_column=whole()),
            TextColumn("{task.fields[eta]}", table_column=whole()),
            TextColumn("{task.fields[info]}",
                       table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis")),
            console=self.console, expand=True,
        )  # fmt: skip
        progress.start()
        return progress


BAR_WIDTH = 20
"""The progress bar's width in characters."""


class ProgressBar(Callback):
    """A rich progress bar over the epochs: the latest losses and score, the time left,
    and the progress inside a long epoch.

    The time left (``ETA m:ss``) is the mean time of this fit's epochs so far times the
    epochs left to ``total``: an upper bound when early stopping or the patience may end
    the run sooner. Inside an epoch (:meth:`on_epoch_progress`), the bar advances by the
    share of the epoch's samples done and shows ``epoch N: P%``, redrawn at most every
    :data:`PROGRESS_SECONDS`; the compiled loop reports only in epochs of at least
    :data:`PROGRESS_BATCHES` batches (:func:`epoch_in_parts`). While it is shown, the
    compiled loop's compile notices (:func:`deltaprop.core.fused.announce_compiles`: the
    first fit of a dtype on a new machine) print above it, and the compile's seconds do
    not count in the time left.

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
    clock : callable, default=time.monotonic
        Seconds, for the time left and the redraws (a test gives a fake one).
    """

    def __init__(
        self, total: int | None = None, console: Any = None, score_name: str = "score",
        label: str = "training", reporter: Reporter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.total = total
        self.console = console
        self.score_name = score_name
        self.label = label
        self.reporter = reporter
        self.clock = clock
        self._progress: Any = None
        self._info = ""
        self._first = 0
        self._started = 0.0
        self._drawn = -math.inf
        self._notes: contextlib.ExitStack | None = None

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        reporter = Reporter(console=self.console) if self.reporter is None else self.reporter
        self._progress = reporter.progress(self.label)
        self._notes = contextlib.ExitStack()
        self._notes.enter_context(compile_notes(self._note, self._compiled))
        total = self.total if self.total is not None else trainer.epoch + trainer.epochs
        self._total, self._first, self._info = total, trainer.epoch, ""
        self._started, self._drawn = self.clock(), -math.inf
        self._task = self._progress.add_task(
            "train", total=total, completed=trainer.epoch, info="", eta=""
        )

    def _note(self, message: str) -> None:
        """A compile notice, printed above the bar."""
        if self._progress is not None:
            self._progress.console.print(f"note: {message}", markup=False, style="yellow")

    def _compiled(self, seconds: float) -> None:
        """A compile's seconds do not count in the time left."""
        self._started += seconds

    def eta(self, done: float) -> str:
        """The time left when the run is at epoch ``done`` (fractional inside an epoch)."""
        if done <= self._first:
            return ""
        per_epoch = (self.clock() - self._started) / (done - self._first)
        return eta_text(per_epoch * max(self._total - done, 0.0))

    def on_epoch_progress(
        self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None
    ) -> None:
        """Advance the bar inside the epoch (at most every :data:`PROGRESS_SECONDS`)."""
        assert logs is not None
        now = self.clock()
        if self._progress is None or now - self._drawn < PROGRESS_SECONDS:
            return
        self._drawn = now
        share = logs["samples"] / max(logs["samples_total"], 1)
        done = epoch + share
        info = f"epoch {epoch + 1}: {share:.0%}" + (f"  {self._info}" if self._info else "")
        self._progress.update(self._task, completed=done, info=info, eta=self.eta(done))

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        assert logs is not None
        info = f"loss {logs['loss']:.4f}"
        if "val_loss" in logs:
            info += (
                f"  val loss {logs['val_loss']:.4f}  val {self.score_name} {logs['val_score']:.4f}"
            )
        self._info = info
        self._progress.update(self._task, completed=epoch + 1, info=info, eta=self.eta(epoch + 1))

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.stop()

    def on_exception(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the bar down (also after an error, when ``on_train_end`` is not called)."""
        if self._notes is not None:
            self._notes.close()
            self._notes = None
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class _CompileNotes(logging.Handler):
    """The handler of :func:`compile_notes`: ``seconds(s)`` for each record that carries
    them, and ``show(message)`` when it is the innermost one active (so that an outer
    context and a bar inside it do not both print the same notice)."""

    def __init__(
        self, show: Callable[[str], None], seconds: Callable[[float], None] | None
    ) -> None:
        super().__init__(logging.INFO)
        self.show = show
        self.seconds = seconds

    def emit(self, record: logging.LogRecord) -> None:
        if self.seconds is not None:
            self.seconds(float(getattr(record, "seconds", 0.0)))
        if _active_notes and _active_notes[-1] is self:
            self.show(record.getMessage())


_active_notes: list[_CompileNotes] = []
"""The :func:`compile_notes` contexts now open, the innermost last."""


@contextlib.contextmanager
def compile_notes(
    show: Callable[[str], None], seconds: Callable[[float], None] | None = None
) -> Iterator[None]:
    """Within the context, each compile notice of the compiled loop (logger
    :data:`deltaprop.core.fused.COMPILE_LOGGER`, :func:`deltaprop.core.fused.announce_compiles`:
    the first fit of a dtype on a new machine) is passed to ``show(message)``, once: only
    the innermost of nested contexts shows it (a :class:`ProgressBar` opens one while it
    is shown, above the command's). ``seconds(s)``, if given, receives a compile's seconds.

    The logger is set to INFO meanwhile; its level and handlers are restored on exit.

    Examples
    --------
    >>> import logging
    >>> shown = []
    >>> with compile_notes(shown.append):
    ...     logging.getLogger(_fused.COMPILE_LOGGER).info("compiling the training loop")
    >>> shown
    ['compiling the training loop']
    """
    handler = _CompileNotes(show, seconds)
    logger = logging.getLogger(_fused.COMPILE_LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    _active_notes.append(handler)
    try:
        yield
    finally:
        _active_notes.remove(handler)
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


class VerboseLines(Callback):
    """scikit-learn's ``verbose`` text: its lines after every epoch, through a :class:`Reporter`.

    Each epoch prints ``Iteration N, loss = L`` (``N`` counted from 1 in each fit, ``L`` with
    8 decimals), then ``Validation score: S`` (6 decimals) when there is validation data.
    A plateau schedule (scikit-learn's ``learning_rate="adaptive"``) prints ``... did not
    improve more than tol=T for P consecutive epochs. Setting learning rate to R`` at each
    cut and ``... Learning rate too small. Stopping.`` at its end; another run stopped by
    ``tol`` ends with ``... Stopping.``: the texts of scikit-learn's
    ``MLPClassifier(verbose=True)``. A first fit on a machine, which compiles the training
    loop, prints the compile notices (:func:`compile_notes`) as ``note: ...`` lines.

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
    >>> lines.on_train_end(Run())
    >>> print(out.getvalue(), end="")
    Iteration 1, loss = 0.25000000
    Validation score: 0.900000
    """

    def __init__(self, reporter: Reporter | None = None) -> None:
        self.reporter = Reporter() if reporter is None else reporter
        self.first = 0
        self.reductions = 0
        self._notes: contextlib.ExitStack | None = None

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.first = trainer.epoch
        self.reductions = getattr(getattr(trainer, "schedule", None), "num_reductions", 0)
        self._close_notes()  # a notes context left open by an earlier fit
        self._notes = contextlib.ExitStack()
        self._notes.enter_context(compile_notes(lambda m: self.reporter.line(f"note: {m}")))

    def on_exception(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self._close_notes()

    def _close_notes(self) -> None:
        """Stop showing compile notices (at the fit's end, however it ends)."""
        if self._notes is not None:
            self._notes.close()
            self._notes = None

    @staticmethod
    def _no_improvement(trainer: Any) -> str:
        """scikit-learn's message when ``tol`` was not reached for ``n_iter_no_change``
        epochs (a plateau schedule's own ``tol`` and ``patience``)."""
        what = "Validation score" if trainer.early_stopping else "Training loss"
        rule = trainer.schedule if isinstance(trainer.schedule, ReduceOnPlateau) else None
        tol = trainer.tol if rule is None else rule.tol
        count = trainer.n_iter_no_change if rule is None else rule.patience
        return f"{what} did not improve more than tol={tol:f} for {count} consecutive epochs."

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        assert logs is not None
        self.reporter.line(f"Iteration {epoch - self.first + 1}, loss = {logs['loss']:.8f}")
        if "val_score" in logs:
            self.reporter.line(f"Validation score: {logs['val_score']:f}")
        schedule = getattr(trainer, "schedule", None)
        if isinstance(schedule, ReduceOnPlateau) and schedule.num_reductions > self.reductions:
            self.reductions = schedule.num_reductions
            self.reporter.line(
                f"{self._no_improvement(trainer)} Setting learning rate to "
                f"{trainer.current_learning_rate:f}"
            )

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """scikit-learn's last line when ``tol`` stopped the run (its text, its count)."""
        self._close_notes()
        reason = (logs or {}).get("stop_reason")
        if reason in ("no_improvement", "early_stopping"):
            plateau = isinstance(trainer.schedule, ReduceOnPlateau)
            end = " Learning rate too small. Stopping." if plateau else " Stopping."
            self.reporter.line(self._no_improvement(trainer) + end)
