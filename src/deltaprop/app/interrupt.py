"""Ctrl-C during ``deltaprop train``: keep what the run learned, say how to go on.

The fit stops at the interrupt (:class:`deltaprop.train.StopOnInterrupt`) with the weights
of its last complete epoch, or the best ones so far with early stopping; the command then
writes the model, the history and the report as for a normal end, marked as interrupted
(:func:`mark_interrupted`), prints the command line that resumes the run from its
checkpoint (:func:`resume_command`) and exits 130, as a shell reports Ctrl-C
(:func:`end_interrupted` re-raises ``KeyboardInterrupt`` for :func:`deltaprop.app.cli.main`).
An interrupt before the first epoch ends, or while the files are written, exits 130 at once.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deltaprop.app.console import Output
from deltaprop.train import Callback, StopOnInterrupt

__all__ = ["end_interrupted", "interrupt_callbacks", "mark_interrupted", "resume_command"]

_REPLACED = {"--resume": True, "--force": False}
"""The options :func:`resume_command` drops from the run's arguments (and whether each
takes a value) before it adds its own."""


def interrupt_callbacks(args: argparse.Namespace) -> list[Callback]:
    """The callbacks that make Ctrl-C a stop: for ``deltaprop train`` only (the demo's
    several fits end at the first Ctrl-C)."""
    return [StopOnInterrupt()] if getattr(args, "command", None) == "train" else []


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
