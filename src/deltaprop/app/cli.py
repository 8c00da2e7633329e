"""The ``deltaprop`` command: train on a table, watch it learn, read the report.

Subcommands: ``demo``, ``train``, ``predict``, ``evaluate``, ``inspect``, ``export`` and
``gradcheck`` (``deltaprop SUBCOMMAND --help`` for each, with examples; ``docs/cli.md`` for
the whole story). This module runs one: it parses the arguments (:mod:`deltaprop.app.parser`),
calls the subcommand (:mod:`deltaprop.app.commands`) and turns an error into its message
and exit code; what the command prints goes through :mod:`deltaprop.app.console`.

Errors end with one line on stderr, ``deltaprop: error: ...``, and exit code 2 for problems
with the command line, the data or a file, 1 for anything else (a diverging run, an
unexpected failure); ``--debug`` shows the traceback instead. Under ``mpiexec`` only rank 0
prints and writes files.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from deltaprop.app.console import (
    Output,
    print_traceback,
    silence_stdout,
    write_message,
)
from deltaprop.app.errors import EXIT_FAILURE, EXIT_USAGE, DataError, UsageError
from deltaprop.app.parser import build_parser

__all__ = ["build_parser", "main", "run"]

_COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "run_demo"),
    "train": ("train", "run_train"),
    "predict": ("predict", "run_predict"),
    "evaluate": ("predict", "run_evaluate"),
    "inspect": ("inspect", "run_inspect"),
    "export": ("export", "run_export"),
    "gradcheck": ("gradcheck", "run_gradcheck"),
}
"""Each subcommand's module in :mod:`deltaprop.app.commands` and its function, imported
when it runs (a process runs one)."""


def _command(name: str) -> Callable[[argparse.Namespace, Output], int]:
    module, function = _COMMANDS[name]
    command: Callable[[argparse.Namespace, Output], int] = getattr(
        importlib.import_module(f"deltaprop.app.commands.{module}"), function
    )
    return command


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------
def _exit_code(exc: BaseException) -> int:
    from deltaprop.io import ModelFileError

    if isinstance(exc, UsageError | DataError | ModelFileError | FileNotFoundError):
        return EXIT_USAGE
    return EXIT_FAILURE


# The command's advice for a file of the other kind (the library's is for Python users).
_HINTS = {
    "checkpoint": ": give it to 'deltaprop train --resume', or give the model file "
    "(model.safetensors) here",
    "model": ": give a checkpoint (checkpoint.safetensors) to --resume; a model file goes to "
    "predict, evaluate, inspect or export",
}


def _message(exc: BaseException) -> str:
    from deltaprop.io import WrongKindError
    from deltaprop.train import DivergenceError

    if isinstance(exc, DivergenceError) and exc.epoch is not None:
        return _divergence_message(exc)
    if isinstance(exc, WrongKindError):
        where = "" if exc.path is None else f"cannot load {exc.path!r}: "
        return f"{where}the file's kind is {exc.found!r}, expected {exc.expected!r}" + _HINTS.get(
            str(exc.found), ""
        )
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, UsageError | ValueError | OSError | RuntimeError):
        return text
    return f"{type(exc).__name__}: {text} (run with --debug for the traceback)"


_TRAINING_COMMANDS = ("train", "demo")
"""The commands that train, and so may compile the training loop (a first run on a machine)."""


def _compile_notes(command: str, out: Output) -> contextlib.AbstractContextManager[None]:
    """A training command prints each compile notice of the training loop as a note (above
    the progress bar while it is shown, the bar's own; before it, as with ``--hidden
    auto``'s cross-validation, and with ``--quiet``, here), not kept for the report."""
    if command not in _TRAINING_COMMANDS:
        return contextlib.nullcontext()
    from deltaprop.train import compile_notes

    return compile_notes(lambda message: out.note(message, keep=False))


def _divergence_message(exc: Any) -> str:
    """A :class:`~deltaprop.train.DivergenceError` of a training epoch in the command's
    words: which epoch diverged and how, that no model was written, what to try (the
    command scales its inputs itself: the learning rate is what is left)."""
    rate = "" if exc.learning_rate is None else f" (it was {exc.learning_rate:g})"
    return (
        f"training diverged in epoch {exc.epoch}: {exc.what_happened()}; no model was written. "
        f"Try a lower --learning-rate{rate}."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``deltaprop`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments without the program name; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The exit code: 0 on success, 2 for a problem with the command line, the data or a
        file, 1 otherwise.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    out = Output()
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv  # as given, for the command that resumes an interrupted run
        if args.command is None:
            build_parser().print_help()
            return EXIT_USAGE
        with warnings.catch_warnings(record=True) as caught, _compile_notes(args.command, out):
            warnings.simplefilter("always")
            code = _command(args.command)(args, out)
        for message in dict.fromkeys(str(w.message).splitlines()[0] for w in caught):
            write_message(f"warning: {message}")
        return code
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    except KeyboardInterrupt:
        from deltaprop.parallel import get_rank

        if get_rank() == 0:  # under mpiexec every rank is interrupted: rank 0 says it
            write_message("interrupted")
        return 130
    except BrokenPipeError:  # `deltaprop predict ... | head`: the reader has gone
        silence_stdout()
        return EXIT_FAILURE
    except Exception as exc:
        from deltaprop.parallel import get_rank

        code, rank = _exit_code(exc), get_rank()
        if rank != 0 and code == EXIT_USAGE:
            return code  # under mpiexec every rank meets the same bad input: rank 0 says it
        if debug:
            print_traceback()
        where = f" (rank {rank})" if rank != 0 else ""
        write_message(f"error{where}: {_message(exc)}")
        return code


def run() -> NoReturn:
    """The process's entry (``python -m deltaprop``, the ``deltaprop`` script): :func:`main`,
    then the exit, without the interpreter's teardown where that is safe.

    Freeing the modules of a process that has loaded scikit-learn, SciPy, pandas and numba
    takes about 0.5 s on the development machine, after the command's work is done: its
    files are written and closed when :func:`main` returns. So the exit handlers run
    (``atexit``: logging's, temporary folders', coverage's), the output is flushed, and the
    process ends with :func:`main`'s code. The interpreter tears down as usual where a
    thread other than the main one still runs (not a daemon: it may still work) or mpi4py
    is loaded (it finalizes MPI in that teardown).
    """
    code = main()
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_handlers is None or "mpi4py" in sys.modules or _working_threads():
        raise SystemExit(code)
    run_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a reader gone (`| head`), a stream closed
            pass
    os._exit(code)


def _working_threads() -> bool:
    """Whether a thread other than the main one runs and is not a daemon."""
    main_thread = threading.main_thread()
    return any(
        t is not main_thread and t.is_alive() and not t.daemon for t in threading.enumerate()
    )
