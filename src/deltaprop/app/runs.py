"""Training on a table, shared by ``deltaprop train`` and ``deltaprop demo``.

:func:`train_run` goes from a table to a fitted estimator (target, task, split,
preprocessing, estimator, fit) and returns a :class:`Run`; :func:`run_settings`,
:func:`run_results` and :func:`show_results` describe it, and :func:`attach_model_state`
puts the preprocessing and a summary of the run on the estimator, for its model file.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltaprop.app.candidates import HiddenChoice, command_alpha, describe_hidden, hidden_layers
from deltaprop.app.console import Output
from deltaprop.app.errors import UsageError
from deltaprop.app.interrupt import interrupt_callbacks
from deltaprop.core import hidden_activation_names
from deltaprop.train import COMMAND_DEFAULTS, Callback, ProgressBar, effective_batch_size

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from deltaprop.app.preprocessing import Preprocessor, TargetScaler

__all__ = [
    "CHECKPOINT_FILE",
    "MODEL_FILE",
    "REPORT_DIR",
    "Run",
    "attach_model_state",
    "barrier",
    "check_network_size",
    "check_resume",
    "comm_and_root",
    "make_estimator",
    "run_fingerprint",
    "run_results",
    "run_settings",
    "show_results",
    "train_run",
]

MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
REPORT_DIR = "report"


@dataclass
class Run:
    """What one training run made, for the results table, the report and the model file."""

    est: Any
    pre: Preprocessor
    scaler: TargetScaler | None
    task: str
    task_reason: str
    target: str
    features: pd.DataFrame
    y: Any
    train_rows: np.ndarray
    val_rows: np.ndarray
    X_train: np.ndarray
    X_val: np.ndarray
    seconds: float
    resumed_from: int | None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    extra: Any = None
    """The preprocessing's ``(config, arrays)``, for the model file's extra section."""
    refit_epochs: int | None = None
    """With ``--refit``: the epochs of the refit on all rows whose weights the model holds
    (the metrics, curves and kept epoch are of the validated fit that picked them)."""
    hidden_choice: HiddenChoice | None = None
    """With ``--hidden auto``: which architecture won, and the cross-validated losses."""
    left_out: list[str] = field(default_factory=list)
    """Columns left out of the inputs: empty in every row, or pandas' row index."""

    @property
    def score_name(self) -> str:
        return "accuracy" if self.task == "classification" else "R²"

    @property
    def best_epoch(self) -> int | None:
        """The epoch (1-based) whose weights early stopping restored; ``None`` when the
        network holds the last epoch's."""
        stop = self.est.history_.stop if self.est.history_ is not None else None
        return None if stop is None else stop.best_epoch

    @property
    def kept_epoch(self) -> int:
        """The epoch (1-based) whose weights the model holds: every result is of it."""
        best = self.best_epoch
        return len(self.est.loss_curve_) if best is None else best

    @property
    def stop_message(self) -> str | None:
        """Why the run stopped, in the command's option names."""
        stop = self.est.history_.stop if self.est.history_ is not None else None
        return None if stop is None else stop.describe(COMMAND_NAMES)


MAX_PARAMETERS = 2**28
"""The most weights and biases a network of the command may have (2 GiB in float64)."""


def check_network_size(n_inputs: int, hidden: tuple[int, ...], n_outputs: int) -> None:
    """Refuse a network too large to allocate, before anything is allocated.

    Raises
    ------
    UsageError
        Naming ``--hidden`` and the parameter count.
    """
    sizes = [n_inputs, *hidden, n_outputs]
    n = sum(a * b + b for a, b in itertools.pairwise(sizes))
    if n > MAX_PARAMETERS:
        raise UsageError(
            f"--hidden {','.join(map(str, hidden))}: a network of {n:,} parameters for "
            f"{n_inputs} inputs is too large (at most {MAX_PARAMETERS:,}); use smaller layers"
        )


SGD_ONLY_SCHEDULES = {"invscaling", "adaptive"}
"""scikit-learn's schedules that its estimators apply to sgd only: the command refuses them
with another optimizer instead of ignoring them."""


def make_estimator(args: argparse.Namespace, task: str, n_train: int, validation: bool) -> Any:
    """The estimator the options describe, for ``n_train`` training rows."""
    from deltaprop.sklearn import MLPClassifier, MLPRegressor

    hidden = hidden_layers(args.hidden)
    acts = list(args.activation)
    if len(acts) not in (1, max(len(hidden), 1)):
        raise UsageError(
            f"--activation needs one name or one per hidden layer ({len(hidden)}); "
            f"got {len(acts)}: {','.join(acts)}"
        )
    names = hidden_activation_names()
    for name in acts:
        if name not in names:
            raise UsageError(
                f"--activation: unknown activation {name!r}; use one of " + ", ".join(names)
            )
    activation: Any = acts[0] if len(acts) == 1 else acts
    if args.schedule in SGD_ONLY_SCHEDULES and args.optimizer != "sgd":
        raise UsageError(
            f"--schedule {args.schedule} drives --optimizer sgd only (scikit-learn's rule), "
            f"not --optimizer {args.optimizer}; use step, exponential or cosine, which drive "
            "every optimizer"
        )
    early = bool(args.early_stopping and validation)
    batch = (
        args.batch_size
        if args.batch_size == "auto"
        else effective_batch_size(args.batch_size, n_train)
    )
    params: dict[str, Any] = {
        "hidden_layer_sizes": hidden,
        "activation": activation,
        "solver": args.optimizer,
        "learning_rate_init": args.learning_rate,
        "learning_rate": args.schedule,
        "momentum": args.momentum,
        "max_iter": args.epochs,
        "batch_size": batch,
        "early_stopping": early,  # the fraction the command held out (a refit in Python)
        **({"validation_fraction": args.validation} if 0 < args.validation < 1 else {}),
        "n_iter_no_change": args.patience,
        "early_stopping_monitor": getattr(args, "monitor", COMMAND_DEFAULTS.monitor),
        "dropout": args.dropout,
        "batch_norm": bool(args.batch_norm),
        "alpha": command_alpha(args.alpha, n_train, args.batch_size),
        "random_state": args.seed,
        "init": COMMAND_DEFAULTS.init,
        "optimizer_style": COMMAND_DEFAULTS.optimizer_style,
        "dtype": args.dtype,
        "distributed": "auto",
    }
    if task == "classification":
        return MLPClassifier(
            class_weight="balanced" if args.class_weight == "balanced" else None, **params
        )
    return MLPRegressor(loss=args.loss, **params)


def train_run(
    args: argparse.Namespace,
    frame: pd.DataFrame,
    source: str,
    out: Output,
    *,
    checkpoint: Path | None = None,
) -> Run:
    """Target, task, split, preprocessing, estimator, fit: the common part of a run."""
    import numpy as np

    from deltaprop.app.candidates import chosen_estimator, largest_hidden, refit_linear
    from deltaprop.app.fitting import (
        fit_estimator,
        note_warnings,
        refit_run,
        train_validation_split,
    )
    from deltaprop.app.input_notes import prepare_inputs
    from deltaprop.app.preprocessing import TargetScaler
    from deltaprop.app.tasks import check_target, metrics, resolve_task, split_target

    features, y_raw, dropped = split_target(frame, args.target, source, ignore=args.ignore)
    task, reason = resolve_task(args, y_raw)
    y = check_target(y_raw, task, source).to_numpy()
    fingerprint = run_fingerprint(args, task, features, y)
    before = 0.0 if args.resume is None else check_resume(args, fingerprint, out)
    train_rows, val_rows = train_validation_split(y, args.validation, task, args.seed)
    classify = task == "classification"
    n_classes = len(np.unique(y.astype(str))) if classify else 0  # once: ~0.02 s per 100k rows
    what = f"{n_classes} classes" if classify else "numbers"
    out.line(
        f"data: {len(frame)} rows from {source}; {len(train_rows)} to train on, "
        f"{len(val_rows)} for validation"
    )
    out.line(f"task: {task} of {args.target!r} ({what}): {reason}")
    if dropped:
        out.note(f"{dropped} rows without a value of {args.target!r} were left out")
    if args.validation > 0 and len(val_rows) == 0:
        out.note("no rows could be held out for validation")
    if args.early_stopping and len(val_rows) == 0:
        out.note("early stopping is off: it needs validation rows (--validation)")

    pre, X_train, X_val, left_out = prepare_inputs(
        features, list(args.categorical or []), train_rows, val_rows, args.dtype, out
    )
    scaler = None
    y_train, y_val = y[train_rows], y[val_rows]
    if task == "regression" and getattr(args, "scale_target", False):
        scaler = TargetScaler.fit(y_train, center=args.loss != "poisson")
        y_train, y_val = scaler.transform(y_train), scaler.transform(y_val)
    n_out = n_classes if classify else 1
    hidden = largest_hidden(args.hidden, len(y))
    check_network_size(X_train.shape[1], hidden, n_out if n_out > 2 else 1)
    choice, est = chosen_estimator(args, task, X_train, y_train, X_val, y_val, make_estimator, out)
    linear = choice is not None and choice.linear  # L-BFGS: seconds, no checkpoint
    bar = None
    callbacks: list[Callback] = []
    if out.enabled and not args.quiet:
        score = "accuracy" if task == "classification" else "R²"
        bar = ProgressBar(args.epochs, out.console, score, label="epoch")
        callbacks.append(bar)
    callbacks.extend(interrupt_callbacks(args))  # Ctrl-C stops `train` with a model
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            info = fit_estimator(
                est,
                X_train,
                y_train,
                X_val if len(val_rows) else None,
                y_val if len(val_rows) else None,
                callbacks=callbacks,
                checkpoint=None if linear else checkpoint,
                checkpoint_every=getattr(args, "checkpoint_every", None) or 1,
                resume=None if linear else args.resume,
                run={"command": fingerprint},
                allow_changes=bool(getattr(args, "allow_changes", False)),
            )
    finally:
        if bar is not None:
            bar.stop()
    seconds = before + time.perf_counter() - start  # a resumed run's: all of it
    note_warnings(out, caught, args.epochs)
    run = Run(
        est,
        pre,
        scaler,
        task,
        reason,
        args.target,
        features,
        y,
        train_rows,
        val_rows,
        X_train,
        X_val,
        seconds,
        info["resumed_from_epoch"],
        hidden_choice=choice,
        left_out=left_out,
    )
    run.metrics["training"] = metrics(est, X_train, y[train_rows], scaler)
    if len(val_rows):
        run.metrics["validation"] = metrics(est, X_val, y[val_rows], scaler)
    if not refit_linear(args, run, y_train, y_val, out, make_estimator):
        refit_run(args, run, y_train, y_val, out)
    return run


def run_fingerprint(
    args: argparse.Namespace, task: str, features: pd.DataFrame, y: np.ndarray
) -> dict[str, Any]:
    """What a checkpoint recognises its run by: the options that must not change on
    ``--resume`` (by option name) and a SHA-256 of the data read (columns, types, every
    row's values in file order, the target)."""
    import numpy as np
    import pandas as pd

    from deltaprop.train.checkpoint import data_fingerprint, jsonable

    settings: dict[str, Any] = {
        "--target": args.target, "--task": task, "--seed": args.seed,
        "--validation": args.validation, "--hidden": args.hidden if args.hidden == "auto" else list(args.hidden),
        "--activation": list(args.activation), "--optimizer": args.optimizer,
        "--learning-rate": args.learning_rate, "--schedule": args.schedule,
        "--momentum": args.momentum, "--batch-size": args.batch_size, "--alpha": args.alpha,
        "--dropout": args.dropout, "--batch-norm": bool(args.batch_norm),
        "--early-stopping": bool(args.early_stopping), "--dtype": args.dtype,
        "--monitor": getattr(args, "monitor", COMMAND_DEFAULTS.monitor),
        "columns": list(map(str, features.columns)),
        "--categorical": list(args.categorical or []),
    }  # fmt: skip
    if task == "regression":
        settings["--loss"] = args.loss
        settings["--scale-target"] = bool(getattr(args, "scale_target", False))
    else:
        settings["--class-weight"] = args.class_weight
    rows = pd.util.hash_pandas_object(features, index=False).to_numpy()
    kinds = np.array([str(t) for t in features.dtypes], dtype=str)
    return {"settings": jsonable(settings), "data": data_fingerprint(kinds, rows, y)}


def check_resume(args: argparse.Namespace, fingerprint: dict[str, Any], out: Output) -> float:
    """Refuse to resume a checkpoint of a run with other settings or data (naming each
    change) unless ``--allow-changes``; return the run's training seconds so far.

    Raises
    ------
    UsageError
        One line: each changed option ``old → new``, or "the data changed".
    """
    from deltaprop.train.checkpoint import checkpoint_run, run_changes

    recorded = checkpoint_run(args.resume)
    changes = run_changes(recorded, "command", fingerprint)
    if changes is None:
        out.note(
            f"the checkpoint '{args.resume}' records no fingerprint of its run (an older "
            "file): its settings and data are not checked"
        )
    elif changes and not getattr(args, "allow_changes", False):
        raise UsageError(
            f"--resume '{args.resume}' continues a run with other settings or data: "
            f"{'; '.join(changes)}. Give the same data and options, or --allow-changes"
        )
    elif changes:
        out.note(f"resuming with changes (--allow-changes): {'; '.join(changes)}")
    seconds = (recorded or {}).get("seconds", 0.0)
    return float(seconds) if isinstance(seconds, int | float) else 0.0


def run_settings(args: argparse.Namespace, run: Run, source: str) -> dict[str, Any]:
    pre = run.pre
    settings: dict[str, Any] = {
        "data": source,
        "target": run.target,
        "task": f"{run.task} ({run.task_reason})",
        "rows (training / validation)": f"{len(run.train_rows)} / {len(run.val_rows)}",
        "numeric columns": len(pre.numeric),
        "categorical columns": len(pre.categorical),
        "network inputs": len(pre.feature_names),
        "hidden layers": describe_hidden(tuple(run.est.hidden_layer_sizes)),
        "activation": ",".join(args.activation),
        "optimizer": args.optimizer,
        "learning rate": args.learning_rate,
        "schedule": args.schedule,
        "epochs (maximum)": args.epochs,
        "batch size": args.batch_size,
        "validation fraction": args.validation,
        "early stopping": bool(run.est.early_stopping),
        "early stopping monitor": run.est.early_stopping_monitor,
        "patience": args.patience,
        "dropout": run.est.dropout,  # --hidden auto above its row limit: its own
        "L2 (alpha)": command_alpha(args.alpha, len(run.train_rows), args.batch_size),
        "seed": args.seed,
    }
    if run.task == "regression":
        settings["loss"] = args.loss
        settings["target standardized"] = run.scaler is not None
    if run.hidden_choice is not None:
        settings["hidden layers (--hidden auto)"] = run.hidden_choice.describe()
    if run.refit_epochs is not None:
        settings["refit on all rows (epochs)"] = run.refit_epochs
    if run.resumed_from is not None:
        settings["resumed from epoch"] = run.resumed_from
    return settings


def _kept_losses(run: Run) -> dict[str, float]:
    """The training and validation loss of the kept epoch (the curves' values there)."""
    est, k = run.est, run.kept_epoch - 1
    losses = {"training": float(est.loss_curve_[k])}
    if est.validation_loss_curve_:
        losses["validation"] = float(est.validation_loss_curve_[k])
    return losses


def run_results(run: Run) -> dict[str, Any]:
    """The results table as a dict: every number of the kept epoch (the report's table)."""
    results: dict[str, Any] = {}
    for part, values in run.metrics.items():
        for name, value in values.items():
            results[f"{part} {name}"] = value
    for part, value in _kept_losses(run).items():
        results[f"{part} loss (epoch {run.kept_epoch})"] = value
    results["epochs trained"] = len(run.est.loss_curve_)
    results["weights kept from epoch"] = run.kept_epoch
    results["training time (s)"] = round(run.seconds, 2)
    if run.stop_message is not None:  # the sentence the command printed under the table
        results["stopped"] = run.stop_message
    return results


def show_results(out: Output, run: Run, extra: dict[str, dict[str, float]] | None = None) -> None:
    """The metrics per part (training, validation, test) of the kept weights, the curves'
    loss at the kept epoch, the epochs trained and kept, the time; then why it stopped.

    The title names the kept epoch: every number in the table is of its weights (the
    losses are the curves' values in that epoch: the training loss averaged over its
    mini-batches, with the L2 term).
    """
    parts = {**run.metrics, **(extra or {})}
    names = list(next(iter(parts.values())))
    rows: list[list[Any]] = [[n, *[parts[p].get(n, math.nan) for p in parts]] for n in names]
    losses = _kept_losses(run)
    pad = [None] * (len(parts) - 1)
    rows.append([f"loss (epoch {run.kept_epoch})", *[losses.get(p) for p in parts]])
    rows.append(["epochs trained", len(run.est.loss_curve_), *pad])
    rows.append(["weights kept from epoch", run.kept_epoch, *pad])
    rows.append(["time (s)", round(run.seconds, 2), *pad])
    out.table(f"Results (the weights of epoch {run.kept_epoch})", ["", *parts], rows)
    if run.stop_message is not None:
        out.line(run.stop_message)


COMMAND_NAMES = {"epochs": "--epochs", "n_iter_no_change": "--patience", "tol": "tol",
                 "epochs_total": "--epochs"}  # fmt: skip
"""The command's names of the settings a stop message names."""


def attach_model_state(run: Run, source: str, settings: dict[str, Any]) -> None:
    """Attach the preprocessing and a summary of the run to the estimator, for its file."""
    config, arrays = run.pre.get_state()
    config.update(
        {
            "target": run.target,
            "task": run.task,
            "target_scaling": None
            if run.scaler is None
            else {"mean": run.scaler.mean, "scale": run.scaler.scale},
            "target_transformer": None  # as Python rebuilds it: a Poisson target not centred
            if run.scaler is None
            else {"kind": "StandardScaler", "with_mean": run.scaler.centered, "with_std": True},
            "run": {
                "data": source,
                "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                "seconds": round(run.seconds, 3),
                "rows_training": len(run.train_rows),
                "rows_validation": len(run.val_rows),
                "metrics": run.metrics,
                "epochs": len(run.est.loss_curve_),
                "kept_epoch": run.kept_epoch,
                "stop_reason": run.est.stop_reason_,
                "columns_left_out": run.left_out,
                "stop_message": run.stop_message,
                "settings": {
                    k: v if isinstance(v, int | float | str | bool) else str(v)
                    for k, v in settings.items()
                },
            },
        }
    )
    run.extra = (config, arrays)


def comm_and_root() -> tuple[Any, bool]:
    from deltaprop.parallel import get_communicator, is_root

    comm = get_communicator("auto")
    return comm, is_root(comm)


def barrier(comm: Any) -> None:
    if comm is not None:
        comm.comm.Barrier()
