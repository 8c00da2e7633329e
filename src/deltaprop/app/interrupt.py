"""Ctrl-C during ``deltaprop train``: keep what the run learned, say how to go on.

The fit stops at the interrupt (:class:`deltaprop.train.StopOnInterrupt`) with the weights
of its last complete epoch, or the best ones so far with early stopping; the command then
writes the model, the history and the report as for a normal end, marked as interrupted
(:func:`mark_interrupted`), prints the command line that resumes the run from its
checkpoint (:func:`resume_command`) and exits 130, as a shell reports Ctrl-C
(:func:`end_interrupted` re-raises ``KeyboardInterrupt`` for :func:`deltaprop.app.cli.main`).
An interrupt before the first epoch ends, or while the files are written, exits 130 at once.

Under ``mpiexec`` (the launcher passes SIGINT on to every rank) the ranks stop together
(:class:`StopTogether`): at the end of the epoch in which a rank was interrupted, all of
them, and the run ends as in one process: rank 0 writes the files and prints the resume
line, the streamed work folder is removed, exit 130. (Without it each rank's SIGINT would
abort the job, :func:`deltaprop.parallel.abort_on_error`, with nothing written or
removed.) A second Ctrl-C aborts the job at once; an interrupt before the training starts
(while a streamed input is preprocessed) ends every rank at once.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.app.console import Output
from deltaprop.train import Callback, StopOnInterrupt

__all__ = [
    "StopTogether",
    "end_interrupted",
    "interrupt_callbacks",
    "mark_interrupted",
    "resume_command",
]

_REPLACED = {"--resume": True, "--force": False}
"""The options :func:`resume_command` drops from the run's arguments (and whether each
takes a value) before it adds its own."""


class StopTogether(StopOnInterrupt):
    """:class:`~deltaprop.train.StopOnInterrupt` for every rank of an MPI fit at once.

    In one process (the trainer has no communicator, or one of one rank) it is
    :class:`~deltaprop.train.StopOnInterrupt`. Under MPI a SIGINT only marks the rank
    (instead of the job's abort handler, which a second SIGINT still reaches); at each
    epoch's end the ranks sum their marks (one ``Allreduce`` of one number, as every rank
    ends the epoch) and, if one was marked, every rank stops there with the weights of
    that epoch, as one process stops at a Ctrl-C.
    """

    @staticmethod
    def _shared(trainer: Any) -> Any:
        comm = getattr(trainer, "communicator", None)
        return comm if comm is not None and int(comm.size) > 1 else None

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        if self._shared(trainer) is None:
            return super().on_train_begin(trainer, logs)
        self._signalled = False
        if threading.current_thread() is not threading.main_thread() or self._previous:
            return
        previous = signal.getsignal(signal.SIGINT)

        def marked(signum: int, frame: Any) -> None:
            if self._signalled and callable(previous):  # a second Ctrl-C: at once
                previous(signum, frame)
            self._signalled = True

        self._previous = previous
        signal.signal(signal.SIGINT, marked)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        comm = self._shared(trainer)
        if comm is None:
            return super().on_epoch_end(trainer, epoch, logs)
        marks = np.array([1.0 if self._signalled else 0.0])
        comm.allreduce(marks)
        if marks[0] > 0:
            self._signalled = False
            raise KeyboardInterrupt  # on every rank, in the same epoch: the fit returns


def interrupt_callbacks(args: argparse.Namespace) -> list[Callback]:
    """The callbacks that make Ctrl-C a stop: for ``deltaprop train`` only (the demo's
    several fits end at the first Ctrl-C)."""
    return [StopTogether()] if getattr(args, "command", None) == "train" else []


def interrupted(est: Any) -> bool:
    """Whether the estimator's last fit was stopped by Ctrl-C."""
    return getattr(est, "stop_reason_", None) == "interrupted"


def kept_weights(est: Any) -> str:
    """Which epoch's weights an interrupted fit kept, in words."""
    stop = est.history_.stop
    if stop is not None and stop.best_epoch is not None:
        return f"the best weights so far (by validation), from epoch {stop.best_epoch}"
    return f"the weights of epoch {len(est.loss_curve_)}, the last complete one"


def mark_interrupted(est: Any, settings: dict[str, Any], out: Output) -> None:
    """For an interrupted fit: a note (which goes into the report) and a ``stopped`` entry in
    the settings (which go into the report and the model file) saying so."""
    if not interrupted(est):
        return
    stop = est.history_.stop
    settings["stopped"] = f"{stop.message}; the model has {kept_weights(est)}"
    out.note(f"training was interrupted (Ctrl-C); the model has {kept_weights(est)}")


def resume_command(argv: Sequence[str], checkpoint: Path) -> str:
    """The command line that resumes the run of ``argv`` (``train DATA ...``) from
    ``checkpoint``: the same arguments with ``--resume CHECKPOINT --force`` (replacing the
    model, history and report the interrupted run wrote), quoted for a POSIX shell.

    Examples
    --------
    >>> resume_command(["train", "my data.csv", "--target", "y", "--force"], Path("c.st"))
    "deltaprop train 'my data.csv' --target y --resume c.st --force"
    """
    kept: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _REPLACED:
            skip = _REPLACED[name] and "=" not in arg
            continue
        kept.append(arg)
    return shlex.join(["deltaprop", *kept, "--resume", str(checkpoint), "--force"])


def end_interrupted(
    args: argparse.Namespace, est: Any, out: Output, checkpoint: Path | None
) -> None:
    """After the files of an interrupted run are written: print how to resume it and
    re-raise ``KeyboardInterrupt`` (exit 130); nothing for a run that was not interrupted.

    ``args.argv``, the command's arguments as given (:func:`deltaprop.app.cli.main` sets
    it; ``sys.argv[1:]`` otherwise), is what the resume command repeats.
    """
    if not interrupted(est):
        return
    if checkpoint is not None and checkpoint.is_file():
        argv = getattr(args, "argv", None)
        argv = list(sys.argv[1:] if argv is None else argv)
        out.line(f"resume with: {resume_command(argv, checkpoint)}")
    elif checkpoint is not None:
        out.line("no checkpoint was written before the interrupt: the run cannot be resumed")
    else:
        out.line("no checkpoint was written (--checkpoint-every N writes one to resume from)")
    raise KeyboardInterrupt
