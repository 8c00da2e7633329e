"""``deltaprop train``: train a network on a table; write the model, a checkpoint, the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from deltaprop.app.console import Output
from deltaprop.app.errors import EXIT_OK, UsageError
from deltaprop.app.interrupt import end_interrupted, mark_interrupted
from deltaprop.app.output_files import (
    check_new,
    check_not_input,
    check_writable,
    is_full_disk,
    output_error,
    remove_stale_temp_files,
    writing,
)
from deltaprop.app.runs import (
    CHECKPOINT_FILE,
    MODEL_FILE,
    REPORT_DIR,
    attach_model_state,
    barrier,
    comm_and_root,
    run_settings,
    show_results,
    train_run,
)

__all__ = ["HISTORY_FILE", "run_train"]


HISTORY_FILE = "history.csv"
"""The run's curves, a row per epoch, beside the model."""


def run_train(args: argparse.Namespace, out: Output) -> int:
    from deltaprop.app.stream_sources import is_streamed
    from deltaprop.app.tables import read_table, table_stem
    from deltaprop.app.tasks import resolve_task, split_target
    from deltaprop.io import atomic_write, save
    from deltaprop.train import DivergenceError, history_csv

    if args.checkpoint is not None and args.checkpoint_every is None:
        raise UsageError("--checkpoint needs --checkpoint-every N")
    if args.resume is not None and not args.resume.is_file():
        raise UsageError(f"--resume: no such file: '{args.resume}'")
    comm, root = comm_and_root()
    out.enabled = out.enabled and root
    if comm is not None:
        out.line(f"data-parallel training on {comm.size} MPI processes")
    folder = args.out if args.out is not None else Path("runs") / table_stem(args.data)
    model_path, report_dir = folder / MODEL_FILE, folder / REPORT_DIR
    history_path = folder / HISTORY_FILE
    checkpoint = None
    if args.checkpoint_every is not None:
        checkpoint = args.checkpoint or folder / CHECKPOINT_FILE
    streamed = is_streamed(args.data)  # a directory, a .npy, a large CSV: read in chunks
    if streamed and (args.decimal != "." or args.thousands is not None):
        raise UsageError(
            f"--decimal and --thousands read a table held in memory, not '{args.data}', which "
            "is streamed (a directory, a .npy, or a CSV file too large to read whole)"
        )
    if not streamed:
        frame = read_table(
            args.data, na_values=args.na_values, categorical=args.categorical, comm=comm,
            decimal=args.decimal, thousands=args.thousands,
        )  # fmt: skip
        y = split_target(frame, args.target, args.data, ignore=args.ignore)[1]  # inputs first,
        resolve_task(args, y)  # then the outputs
    outputs = [model_path, history_path, *([] if args.no_report else [report_dir])]
    inputs = [("DATA", args.data), *([("--resume", args.resume)] if args.resume else [])]
    check_not_input(
        [("--out's model", model_path), ("--out's history", history_path),
         ("--out's report", report_dir)],
        inputs,
    )  # fmt: skip
    if checkpoint is not None:  # resuming from the checkpoint it goes on writing is the usual
        check_not_input([("--checkpoint", checkpoint)], inputs[:1])
    check_new(
        [*outputs, *([checkpoint] if checkpoint else [])],
        args.force,
        allowed=[args.resume] if args.resume else [],
    )
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out '{folder}' is a file, not a folder")
    barrier(comm)  # every rank has checked before rank 0 creates anything
    created = root and not folder.exists()
    if root:  # a folder that cannot be written is refused now, not after the training
        with writing("folder", folder, "--out"):
            folder.mkdir(parents=True, exist_ok=True)
        check_writable(folder, "--out")
        if checkpoint is not None:
            option, given = ("--checkpoint", checkpoint) if args.checkpoint else ("--out", folder)
            with writing("folder", checkpoint.parent, option, given):
                checkpoint.parent.mkdir(parents=True, exist_ok=True)
            check_writable(checkpoint.parent, option, given)
        if args.resume is not None:  # what a run killed while writing a checkpoint left
            for path in {args.resume, *([checkpoint] if checkpoint else [])}:
                for tmp in remove_stale_temp_files(path):
                    out.note(f"removed '{tmp}', left by an interrupted checkpoint write")
    barrier(comm)
    source = str(args.data)
    try:
        if streamed:  # (imported only here, as the report below: a run needs one or the other)
            from deltaprop.app.streamed_runs import train_streamed

            run = train_streamed(args, source, out, folder=folder, checkpoint=checkpoint)
        else:
            run = train_run(args, frame, source, out, checkpoint=checkpoint)
    except BaseException as exc:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # leave no empty folder behind a failed run
        if not isinstance(exc, OSError) or not is_full_disk(exc) or not (streamed or checkpoint):
            raise
        if streamed:  # the streamed work files, or the checkpoint
            raise output_error(
                exc, "work files or checkpoint in", folder, "--out", folder
            ) from None
        assert checkpoint is not None  # the one file that a run writes while it trains
        raise output_error(exc, "checkpoint", checkpoint, "--checkpoint", checkpoint) from None
    settings = run_settings(args, run, source)
    mark_interrupted(run.est, settings, out)  # Ctrl-C: said in the report and the model
    attach_model_state(run, source, settings)
    show_results(out, run)
    if run.est.stop_reason_ == "diverged":
        raise DivergenceError(
            "training diverged (the line above says in which epoch); no model was written. "
            "Try a lower --learning-rate."
        )
    if root:  # each file whole or not at all; a failure keeps the files written before it
        with writing("model", model_path, "--out", folder):
            save(run.est, model_path, extra=run.extra)
        out.line(f"model:  {model_path}")
        with writing("history", history_path, "--out", folder):
            atomic_write(history_path, history_csv(run.est.history_).encode())
        out.line(f"history: {history_path}")
        if checkpoint is not None and getattr(run.hidden_choice, "linear", False):
            out.note(
                "no checkpoint written: the linear model that --hidden auto chose trains in "
                "one L-BFGS run, which keeps no state to resume"
            )
        elif checkpoint is not None:
            out.line(f"checkpoint: {checkpoint}")
        if not args.no_report:
            from deltaprop.app.run_report import write_run_report

            with writing("report", report_dir / "report.html", "--out", folder):
                page = write_run_report(
                    run, report_dir, settings, out, f"deltaprop train {args.data.name}"
                )
            out.line(f"report: {page}")
    end_interrupted(args, run.est, out, checkpoint)  # Ctrl-C: how to resume; exit 130
    return EXIT_OK
