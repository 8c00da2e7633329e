"""``deltaprop train`` on a streamed input: a directory, a ``.npy`` or a large CSV.

:func:`train_streamed` is :func:`deltaprop.app.runs.train_run` for inputs that no process
holds whole (:func:`deltaprop.app.stream_sources.is_streamed`): the streaming preprocessing
(:func:`deltaprop.app.streamed_tables.stream_table`) writes each rank's preprocessed rows as
C-ordered ``.npy`` files in a work folder inside ``--out`` (removed at the end), the
training rows are moved so that each rank holds exactly its share of the data package's
layout (:func:`deltaprop.data.rank_rows`), and the estimator trains on a memory-mapped
:class:`deltaprop.data.NpyDataset`, with the in-memory command's defaults: the validation
rows (the split of :func:`deltaprop.app.streamed_tables.stream_table`, gathered on every
rank) are the estimator's ``X_val``, early stopping watches them and the best epoch's
weights are restored. The metrics of the results table are computed on at most
:data:`METRIC_ROWS` rows of rank 0's share.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from deltaprop.app.console import Output
from deltaprop.app.streamed_tables import BLOCK_ROWS, StreamedTable, stream_table

__all__ = ["METRIC_ROWS", "WORK_DIR", "reshard", "run_fingerprint", "train_streamed"]

METRIC_ROWS = 50_000
"""The most rows of a streamed run's results table metrics (rank 0's first ones)."""

WORK_DIR = ".streamed"
"""The work folder inside ``--out`` (one subfolder per rank; removed after the run)."""


def reshard(
    table: StreamedTable, comm: Any, target: slice, offset: int, n_local: int, file: Path
) -> tuple[Path, Path]:
    """Move the training rows so that this rank holds the global rows ``target``.

    Each rank holds the training rows ``[offset, offset + n_local)`` (in the order of the
    ranks); the pieces travel in blocks of :data:`BLOCK_ROWS` rows (a collective call).

    Returns
    -------
    (Path, Path)
        The ``.npy`` files of the features (C-ordered) and the targets of ``target``.
    """
    X, y = table.load("train")
    if (
        comm is None
        or comm.size == 1
        or (target.start == offset and target.stop == offset + n_local)
    ):
        return table.X_train, table.y_train
    size, rank = comm.size, comm.rank
    ranges = comm.comm.allgather((offset, n_local, target.start, target.stop))
    n_mine = target.stop - target.start
    out = np.lib.format.open_memmap(file, "w+", np.float64, (n_mine, X.shape[1]))
    ys: list[tuple[int, np.ndarray]] = []

    def overlap(src: int, dst: int) -> tuple[int, int]:
        o, n, _, _ = ranges[src]
        _, _, a, b = ranges[dst]
        return max(o, a), min(o + n, b)

    steps = max(
        math.ceil(max(0, overlap(s, d)[1] - overlap(s, d)[0]) / BLOCK_ROWS)
        for s in range(size)
        for d in range(size)
    )
    for d in range(size):
        dest, src = (rank + d) % size, (rank - d) % size
        a, b = overlap(rank, dest)
        c, _e = overlap(src, rank)
        for k in range(steps):
            lo, hi = a + k * BLOCK_ROWS, min(a + (k + 1) * BLOCK_ROWS, b)
            piece = (
                np.asarray(X[lo - offset : hi - offset]),
                np.asarray(y[lo - offset : hi - offset]),
            )
            if lo >= hi:
                piece = (X[:0], y[:0])
            got = piece if d == 0 else comm.comm.sendrecv(piece, dest=dest, source=src)
            at = c + k * BLOCK_ROWS - target.start
            if len(got[0]):
                out[at : at + len(got[0])] = got[0]
                ys.append((at, got[1]))
    out.flush()
    del out, X, y
    ys.sort(key=lambda p: p[0])
    labels = np.concatenate([p[1] for p in ys]) if ys else np.empty(0)
    y_file = file.with_name(file.stem + "_y.npy")
    np.save(y_file, labels, allow_pickle=False)
    return file, y_file


def train_streamed(
    args: argparse.Namespace, source: str, out: Output, *, folder: Path, checkpoint: Path | None
) -> Any:
    """The run of ``deltaprop train`` on a streamed input (see the module); a
    :class:`deltaprop.app.runs.Run`."""
    from deltaprop.app.runs import comm_and_root

    comm, root = comm_and_root()
    rank = 0 if comm is None else comm.rank
    work = folder / WORK_DIR / f"rank{rank}"
    shutil.rmtree(work, ignore_errors=True)
    work.parent.mkdir(parents=True, exist_ok=True)
    try:
        table = stream_table(
            Path(source), args.target, work, categorical=list(args.categorical or []),
            ignore=list(args.ignore or []), na_values=list(args.na_values or []),
            validation=args.validation, seed=args.seed, task=args.task,
            scale_target=bool(getattr(args, "scale_target", False)),
            center_target=getattr(args, "loss", None) != "poisson", comm=comm,
        )  # fmt: skip
        return _fit(args, table, source, out, comm, work, checkpoint)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if root:
            if comm is not None:
                comm.comm.Barrier()
            shutil.rmtree(folder / WORK_DIR, ignore_errors=True)
        elif comm is not None:
            comm.comm.Barrier()


def _fit(
    args: argparse.Namespace, table: StreamedTable, source: str, out: Output, comm: Any,
    work: Path, checkpoint: Path | None,
) -> Any:  # fmt: skip

    from deltaprop.app.candidates import hidden_layers
    from deltaprop.app.fitting import fit_estimator, note_warnings
    from deltaprop.app.input_notes import (
        category_identifier_notes,
        empty_note,
        index_note,
        inputs_line,
    )
    from deltaprop.app.interrupt import interrupt_callbacks
    from deltaprop.app.runs import Run, check_network_size, check_resume, make_estimator
    from deltaprop.app.tasks import check_task_options, metrics
    from deltaprop.train import Callback, ProgressBar

    check_task_options(args, table.task, args.target, table.task_reason)
    pre, scaler = table.pre, table.scaler
    out.line(
        f"data: {table.n_rows} rows from {source} (streamed); {table.n_train} to train on, "
        f"{table.n_val} for validation"
    )
    fingerprint = run_fingerprint(args, table)
    before = 0.0 if args.resume is None else check_resume(args, fingerprint, out)
    what = f"{len(table.classes)} classes" if table.classes is not None else "numbers"
    out.line(f"task: {table.task} of {args.target!r} ({what}): {table.task_reason}")
    if table.n_dropped:
        out.note(f"{table.n_dropped} rows without a value of {args.target!r} were left out")
    if table.empty:
        out.note(empty_note(table.empty))
    for c in table.left_out:
        out.note(index_note(c))
    out.line(inputs_line(pre))
    for note in category_identifier_notes(pre, table.n_train):
        out.note(note)
    X_train, y_train = table.load("train")
    X_val, y_val = table.load("val")
    if comm is not None and comm.size > 1:  # every rank scores the whole validation set
        X_val = np.concatenate(comm.comm.allgather(np.asarray(X_val)))
        y_val = np.concatenate(comm.comm.allgather(np.asarray(y_val)))
    n_out = len(table.classes) if table.classes is not None else 1
    check_network_size(X_train.shape[1], hidden_layers(args.hidden), n_out if n_out > 2 else 1)
    est = make_estimator(args, table.task, table.n_train, table.n_val > 0)
    fit_X, fit_y = _dataset(table, comm, work, scaler, args.dtype)
    y_val_fit = y_val if scaler is None else scaler.transform(y_val)
    has_val = len(y_val) > 0
    bar = None
    callbacks: list[Callback] = []
    if out.enabled and not args.quiet:
        score = "accuracy" if table.task == "classification" else "R²"
        bar = ProgressBar(args.epochs, out.console, score, label="epoch")
        callbacks.append(bar)
    callbacks.extend(interrupt_callbacks(args))  # Ctrl-C stops `train` with a model
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            info = fit_estimator(
                est,
                fit_X,
                fit_y,
                np.asarray(X_val) if has_val else None,
                np.asarray(y_val_fit) if has_val else None,
                callbacks=callbacks,
                checkpoint=checkpoint,
                checkpoint_every=getattr(args, "checkpoint_every", None) or 1,
                resume=args.resume,
                run={"command": fingerprint},
                allow_changes=bool(getattr(args, "allow_changes", False)),
            )
    finally:
        if bar is not None:
            bar.stop()
    seconds = before + time.perf_counter() - start  # a resumed run's: all of it
    note_warnings(out, caught, args.epochs)
    Xt = np.asarray(X_train[:METRIC_ROWS])
    yt = np.asarray(y_train[:METRIC_ROWS])
    Xv, yv = np.asarray(X_val[:METRIC_ROWS]), np.asarray(y_val[:METRIC_ROWS])
    y = np.concatenate([yt, yv])
    features = pd.DataFrame(columns=pre.columns, index=pd.RangeIndex(0))
    if len(pre.numeric) == 2 and not pre.categorical:  # the report's decision boundary
        features = pd.DataFrame(np.vstack([Xt, Xv]) * pre.scale + pre.mean, columns=pre.numeric)
    run = Run(
        est, pre, scaler, table.task, table.task_reason, args.target, features, y,
        np.arange(len(yt)), len(yt) + np.arange(len(yv)), Xt, Xv, seconds,
        info["resumed_from_epoch"], left_out=[*table.empty, *table.left_out],
    )  # fmt: skip
    if len(yt) < table.n_train:
        out.note(f"the metrics are computed on the first {len(yt):,} training rows")
    run.metrics["training"] = metrics(est, Xt, yt, scaler)
    if len(yv):
        run.metrics["validation"] = metrics(est, Xv, yv, scaler)
    return run


def run_fingerprint(args: argparse.Namespace, table: StreamedTable) -> dict[str, Any]:
    """What a checkpoint of a streamed run recognises it by: the options of
    :func:`deltaprop.app.runs.run_fingerprint` (the columns those of the streamed
    preprocessing) and the rows read (:attr:`StreamedTable.fingerprint`: every row, the
    same for any number of ranks)."""
    from deltaprop.app.runs import run_fingerprint as command_fingerprint

    columns = pd.DataFrame(columns=[*table.pre.numeric, *table.pre.categorical])
    fingerprint = command_fingerprint(args, table.task, columns, np.empty(0))
    fingerprint["data"] = f"streamed {table.fingerprint}"
    return fingerprint


def _dataset(
    table: StreamedTable, comm: Any, work: Path, scaler: Any, dtype: str
) -> tuple[Any, Any]:
    """This rank's share of the training rows as a memory-mapped dataset, laid out as the
    data package shares rows among ranks (:func:`deltaprop.data.rank_rows`)."""
    from deltaprop.data import DEFAULT_BLOCK_ROWS, NpyDataset, rank_rows

    n_local = len(np.load(table.y_train, mmap_mode="r"))
    size, rank = (1, 0) if comm is None else (comm.size, comm.rank)
    offsets = [n_local] if comm is None else comm.comm.allgather(n_local)
    offset = sum(offsets[:rank])
    target = rank_rows(table.n_train, rank, size, DEFAULT_BLOCK_ROWS)
    X_file, y_file = reshard(table, comm, target, offset, n_local, work / "shard.npy")
    if scaler is not None:
        scaled = work / "y_scaled.npy"
        np.save(scaled, scaler.transform(np.load(y_file)), allow_pickle=False)
        y_file = scaled
    dataset = NpyDataset(
        X_file, y_file, offset=target.start, n_rows=table.n_train, dtype=np.dtype(dtype),
        block_rows=DEFAULT_BLOCK_ROWS,
    )  # fmt: skip
    return dataset, None
