"""The ``deltaprop`` command: train on a table, watch it learn, read the report.

Subcommands: ``demo``, ``train``, ``predict``, ``evaluate``, ``inspect``, ``export`` and
``gradcheck`` (``deltaprop SUBCOMMAND --help`` for each, with examples; ``docs/cli.md`` for
the whole story). This module parses arguments and prints; the work is done by
:mod:`deltaprop.app.tabular` (data, preprocessing, training), :mod:`deltaprop.app.report` (figures),
:mod:`deltaprop.io.persistence` (model files) and the estimators.

Errors end with one line on stderr, ``deltaprop: error: ...``, and exit code 2 for problems
with the command line, the data or a file, 1 for anything else (a diverging run, an
unexpected failure); ``--debug`` shows the traceback instead. Under ``mpiexec`` only rank 0
prints and writes files.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from deltaprop.train import Callback, ProgressBar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from rich.console import Console

    from deltaprop.app.tabular import Preprocessor, TargetScaler

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
DEMO_MARKER = ".backprop-demo"
"""File that marks a folder written by ``deltaprop demo``, which the demo may overwrite."""
MODEL_FILE = "model.safetensors"
CHECKPOINT_FILE = "checkpoint.safetensors"
REPORT_DIR = "report"
_HIDDEN_ACTIVATIONS = ("relu", "tanh", "sigmoid", "logistic", "leaky_relu", "elu", "gelu",
                       "softplus", "identity")  # fmt: skip


class UsageError(Exception):
    """A problem with the command line or the user's files: exit code 2."""


# ---------------------------------------------------------------------------------------
# Argument types
# ---------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _nonneg_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    """``"64,32"`` → ``(64, 32)``; ``""`` or ``"none"`` → no hidden layer."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(t) for t in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer sizes such as 64,32, got {text!r}"
        ) from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return sizes


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _batch_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


# ---------------------------------------------------------------------------------------
# The parser
# ---------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """Usage errors raise :class:`UsageError` (printed as one line) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


_FORMATTER = argparse.RawDescriptionHelpFormatter

_EXAMPLES = {
    "demo": """examples:
  deltaprop demo                          # digits: train, compare sigmoid and ReLU, report
  deltaprop demo --dataset moons          # two features: the report shows the decision boundary
  deltaprop demo --out /tmp/demo --force  # elsewhere, replacing what is there""",
    "train": """examples:
  deltaprop train data.csv --target price
  deltaprop train data.csv --target species --hidden 128,64 --epochs 300 --out runs/species
  deltaprop train data.parquet --target y --task regression --loss huber
  deltaprop train data.csv --target y --checkpoint-every 10
  deltaprop train data.csv --target y --resume runs/data/checkpoint.safetensors
  mpiexec -n 4 deltaprop train data.csv --target y

Numeric columns are imputed with the median and standardized, the others one-hot encoded
(missing values becoming their own category). The model file holds that preprocessing.""",
    "predict": """examples:
  deltaprop predict runs/data/model.safetensors new.csv -o predictions.csv
  deltaprop predict runs/data/model.safetensors new.csv --keep id > predictions.csv

The output has a column 'prediction' and, for classifiers, one 'proba_<class>' per class.""",
    "evaluate": """examples:
  deltaprop evaluate runs/data/model.safetensors test.csv
  deltaprop evaluate runs/data/model.safetensors test.csv --target price --json""",
    "inspect": """examples:
  deltaprop inspect runs/data/model.safetensors
  deltaprop inspect runs/data/model.safetensors --json""",
    "export": """examples:
  deltaprop export runs/data/model.safetensors --onnx model.onnx

The ONNX graph takes the preprocessed features (standardized numbers, one-hot categories).""",
    "gradcheck": """examples:
  deltaprop gradcheck
  deltaprop gradcheck --layers 5,3,7,2 --activation relu,tanh,softmax --loss categorical_crossentropy
  deltaprop gradcheck --layers 4,8,8,3 --activation relu --dropout 0.3 --batch-norm""",
}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network and training")
    g.add_argument(
        "--hidden",
        type=_sizes,
        default=(64, 32),
        metavar="N,N,...",
        help="hidden layer sizes (default: 64,32; 'none' for no hidden layer)",
    )
    g.add_argument(
        "--activation",
        type=_names,
        default=["relu"],
        metavar="NAME[,NAME...]",
        help="hidden activation, one for all or one per layer: relu, tanh, "
        "sigmoid, leaky_relu, elu, gelu, softplus, identity (default: relu)",
    )
    g.add_argument(
        "--optimizer",
        default="adam",
        choices=["adam", "adamw", "sgd", "rmsprop", "lbfgs"],
        help="(default: adam)",
    )
    g.add_argument(
        "--learning-rate",
        type=_positive_float,
        default=1e-3,
        metavar="LR",
        help="initial learning rate (default: 0.001)",
    )
    g.add_argument(
        "--schedule",
        default="constant",
        choices=["constant", "invscaling", "adaptive", "step", "exponential", "cosine"],
        help="learning-rate schedule of --optimizer sgd (default: constant)",
    )
    g.add_argument("--momentum", type=_fraction, default=0.9, help="of sgd (default: 0.9)")
    g.add_argument(
        "--epochs", type=_positive_int, default=200, help="maximum number of epochs (default: 200)"
    )
    g.add_argument(
        "--batch-size",
        type=_batch_size,
        default=32,
        metavar="N",
        help="mini-batch size, or 'auto' = min(200, rows) as scikit-learn (default: 32)",
    )
    g.add_argument(
        "--validation",
        type=_fraction,
        default=0.1,
        metavar="FRACTION",
        help="share of the rows held out for validation, 0 for none (default: 0.1)",
    )
    g.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="stop when the validation score stops improving and keep the best "
        "weights (default: on)",
    )
    g.add_argument(
        "--patience",
        type=_positive_int,
        default=10,
        help="epochs without improvement before stopping (default: 10)",
    )
    g.add_argument("--dropout", type=_fraction, default=0.0, help="dropout rate (default: 0)")
    g.add_argument("--batch-norm", action="store_true", help="batch normalization")
    g.add_argument("--alpha", type=_nonneg_float, default=1e-4, help="L2 penalty (default: 0.0001)")
    g.add_argument(
        "--loss",
        default="squared_error",
        choices=["squared_error", "absolute_error", "huber", "poisson"],
        help="regression loss (default: squared_error)",
    )
    g.add_argument(
        "--class-weight",
        choices=["none", "balanced"],
        default="none",
        help="weight classes inversely to their frequency (default: none)",
    )
    g.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    g.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="precision of the network (default: float64)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``deltaprop`` argument parser with its subcommands."""
    parser = _Parser(
        prog="deltaprop",
        description="Neural networks trained by explicit backpropagation, on your tables.",
        epilog="Run 'deltaprop SUBCOMMAND --help' for the options and examples of each.",
        formatter_class=_FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"deltaprop {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=_Parser)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help, description=help, epilog=_EXAMPLES[name], formatter_class=_FORMATTER
        )
        _common(p)
        return p

    p = add("demo", "Train on built-in data and write the model and the report.")
    p.add_argument(
        "--dataset",
        choices=["digits", "moons"],
        default="digits",
        help="scikit-learn's digits (64 pixels, 10 classes) or two moons "
        "(2 features, 2 classes) (default: digits)",
    )
    p.add_argument(
        "--out", type=Path, default=Path("runs/demo"), help="output folder (default: runs/demo)"
    )
    p.add_argument(
        "--epochs", type=_positive_int, default=100, help="maximum number of epochs (default: 100)"
    )
    p.add_argument(
        "--compare-activations",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train a deep network with sigmoid and with ReLU and compare "
        "their gradient flow (default: on)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--force",
        action="store_true",
        help="write into --out even if it holds files not written by the demo",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("train", "Train a network on a table (CSV, Parquet, .npz).")
    p.add_argument("data", type=Path, help="the data file")
    p.add_argument("--target", required=True, metavar="COLUMN", help="the column to predict")
    p.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="what to do with the target (default: auto, from the target's values)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="output folder for the model and the report (default: runs/<data name>)",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    g = p.add_argument_group("columns")
    g.add_argument(
        "--categorical",
        type=_names,
        action="extend",
        default=[],
        metavar="COLS",
        help="columns to treat as categories even if they hold numbers",
    )
    g.add_argument(
        "--ignore",
        type=_names,
        action="extend",
        default=[],
        metavar="COLS",
        help="columns that are not features (identifiers, ...)",
    )
    g.add_argument(
        "--na-values",
        type=_names,
        action="extend",
        default=[],
        metavar="VALUES",
        help="extra strings that mean 'missing' (e.g. '?,-')",
    )
    g.add_argument(
        "--scale-target",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="standardize a regression target while training (default: on)",
    )
    _add_model_options(p)
    g = p.add_argument_group("checkpoints")
    g.add_argument(
        "--checkpoint-every",
        type=_positive_int,
        metavar="N",
        help="write a checkpoint every N epochs (and at the end)",
    )
    g.add_argument(
        "--checkpoint",
        type=Path,
        metavar="PATH",
        help="checkpoint file (default: <out>/checkpoint.safetensors)",
    )
    g.add_argument(
        "--resume",
        type=Path,
        metavar="CHECKPOINT",
        help="continue the run of a checkpoint, up to --epochs epochs in all; give "
        "the same data and options as the run that wrote it",
    )
    g = p.add_argument_group("output")
    g.add_argument("--no-report", action="store_true", help="do not write the report")
    g.add_argument("--quiet", action="store_true", help="no progress bar")

    p = add("predict", "Write predictions of a trained model as CSV.")
    p.add_argument("model", type=Path, help="a model file written by 'deltaprop train'")
    p.add_argument("data", type=Path, help="the data file (the target column may be absent)")
    p.add_argument(
        "-o", "--output", type=Path, metavar="CSV", help="output file (default: standard output)"
    )
    p.add_argument(
        "--keep",
        type=_names,
        action="extend",
        default=[],
        metavar="COLS",
        help="input columns to copy into the output (e.g. an id)",
    )
    p.add_argument(
        "--na-values",
        type=_names,
        action="extend",
        default=[],
        metavar="VALUES",
        help="extra strings that mean 'missing'",
    )
    p.add_argument("--force", action="store_true", help="overwrite the output file")

    p = add("evaluate", "Print the metrics of a trained model on labelled data.")
    p.add_argument("model", type=Path, help="a model file written by 'deltaprop train'")
    p.add_argument("data", type=Path, help="the data file, with the target column")
    p.add_argument(
        "--target",
        metavar="COLUMN",
        help="the target column (default: the one the model was trained on)",
    )
    p.add_argument(
        "--na-values",
        type=_names,
        action="extend",
        default=[],
        metavar="VALUES",
        help="extra strings that mean 'missing'",
    )
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")

    p = add("inspect", "Show a model's architecture, parameter counts and training summary.")
    p.add_argument("model", type=Path, help="a model file")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = add("export", "Export a trained model's network to ONNX.")
    p.add_argument("model", type=Path, help="a model file")
    p.add_argument("--onnx", type=Path, required=True, metavar="PATH", help="the .onnx file")
    p.add_argument("--opset", type=_positive_int, default=17, help="ONNX opset (default: 17)")
    p.add_argument("--force", action="store_true", help="overwrite the output file")

    p = add("gradcheck", "Check backpropagation against finite differences, layer by layer.")
    p.add_argument(
        "--layers",
        type=_sizes,
        default=(4, 6, 5, 3),
        metavar="N,N,...",
        help="layer sizes, input to output (default: 4,6,5,3)",
    )
    p.add_argument(
        "--activation",
        type=_names,
        default=["tanh"],
        metavar="NAME[,NAME...]",
        help="hidden activation (default: tanh); a list gives one per layer (the last the "
        "output's, e.g. relu,tanh,softmax); with one name the output follows the loss",
    )
    p.add_argument(
        "--loss",
        default="categorical_crossentropy",
        help="binary_crossentropy, categorical_crossentropy, mean_squared_error, "
        "mean_absolute_error, huber, poisson (default: categorical_crossentropy)",
    )
    p.add_argument("--samples", type=_positive_int, default=8, help="random examples (default: 8)")
    p.add_argument(
        "--dropout",
        type=_fraction,
        default=0.0,
        help="dropout rate, checked with a fixed mask (default: 0)",
    )
    p.add_argument("--batch-norm", action="store_true", help="batch normalization")
    p.add_argument("--l2", type=_nonneg_float, default=0.0, help="L2 coefficient (default: 0)")
    p.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="(default: float64; float32 is too coarse for finite differences)",
    )
    p.add_argument(
        "--tolerance",
        type=_positive_float,
        default=1e-6,
        help="largest relative error that passes (default: 1e-6)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    return parser


def _version() -> str:
    from deltaprop import __version__

    return __version__


# ---------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------
class _Out:
    """Printing that only rank 0 does; rich tables and a progress bar on stdout."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.notes: list[str] = []
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            class _Console(Console):
                def on_broken_pipe(self) -> None:
                    """``deltaprop demo | head``: stop printing but finish the work (rich's
                    default exits)."""
                    self.quiet = True
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, sys.stdout.fileno())

            self._console = _Console(highlight=False, soft_wrap=True)
        return self._console

    def _print(self, *objects: Any, **kwargs: Any) -> None:
        if self.enabled:
            self.console.print(*objects, **kwargs)

    def line(self, text: str = "") -> None:
        self._print(text, markup=False)

    def note(self, text: str) -> None:
        self.notes.append(text)
        self._print(f"note: {text}", markup=False, style="yellow")

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not self.enabled:
            return
        from rich.table import Table

        t = Table(title=title, title_justify="left", title_style="bold")
        for k, c in enumerate(columns):
            numeric = all(isinstance(r[k], int | float) for r in rows if r[k] is not None)
            t.add_column(c, justify="right" if k > 0 and numeric else "left")
        for row in rows:
            t.add_row(*[_fmt(v) for v in row])
        self._print(t)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return "n/a" if value != value else f"{value:.4g}"
    return "" if value is None else str(value)


# ---------------------------------------------------------------------------------------
# Output files: never overwrite what the user did not ask to
# ---------------------------------------------------------------------------------------
def _check_new(paths: Sequence[Path], force: bool, allowed: Sequence[Path] = ()) -> None:
    """Fail if one of ``paths`` exists, unless ``force`` (or it is in ``allowed``)."""
    if force:
        return
    keep = {p.resolve() for p in allowed}
    for path in paths:
        if path.exists() and path.resolve() not in keep:
            raise UsageError(
                f"'{path}' exists; use --force to overwrite it, or write somewhere else"
            )


def _check_parent(path: Path) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"cannot write '{path}': the folder '{parent}' does not exist")


# ---------------------------------------------------------------------------------------
# Training on a table (shared by `train` and `demo`)
# ---------------------------------------------------------------------------------------
@dataclass
class _Run:
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

    @property
    def score_name(self) -> str:
        return "accuracy" if self.task == "classification" else "R²"

    @property
    def best_epoch(self) -> int | None:
        scores = self.est.validation_scores_
        if not self.est.early_stopping or not scores:
            return None
        return int(max(range(len(scores)), key=lambda k: scores[k])) + 1


def _make_estimator(args: argparse.Namespace, task: str, n_train: int, validation: bool) -> Any:
    """The estimator the options describe, for ``n_train`` training rows."""
    from deltaprop.sklearn import MLPClassifier, MLPRegressor

    hidden = tuple(args.hidden)
    acts = list(args.activation)
    if len(acts) not in (1, max(len(hidden), 1)):
        raise UsageError(
            f"--activation needs one name or one per hidden layer ({len(hidden)}); "
            f"got {len(acts)}: {','.join(acts)}"
        )
    for name in acts:
        if name not in _HIDDEN_ACTIVATIONS:
            raise UsageError(
                f"--activation: unknown activation {name!r}; use one of "
                + ", ".join(_HIDDEN_ACTIVATIONS)
            )
    activation: Any = acts[0] if len(acts) == 1 else acts
    early = bool(args.early_stopping and validation)
    batch = args.batch_size if args.batch_size == "auto" else min(args.batch_size, n_train)
    params: dict[str, Any] = {
        "hidden_layer_sizes": hidden,
        "activation": activation,
        "solver": args.optimizer,
        "learning_rate_init": args.learning_rate,
        "learning_rate": args.schedule,
        "momentum": args.momentum,
        "max_iter": args.epochs,
        "batch_size": batch,
        "early_stopping": early,
        "n_iter_no_change": args.patience,
        "dropout": args.dropout,
        "batch_norm": bool(args.batch_norm),
        "alpha": args.alpha,
        "random_state": args.seed,
        "dtype": args.dtype,
        "distributed": "auto",
    }
    if task == "classification":
        return MLPClassifier(
            class_weight="balanced" if args.class_weight == "balanced" else None, **params
        )
    return MLPRegressor(loss=args.loss, **params)


def _train(
    args: argparse.Namespace,
    frame: pd.DataFrame,
    source: str,
    out: _Out,
    *,
    checkpoint: Path | None = None,
) -> _Run:
    """Target, task, split, preprocessing, estimator, fit: the common part of a run."""
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning

    from deltaprop.app import tabular

    features, y_raw, dropped = tabular.split_target(frame, args.target, source, ignore=args.ignore)
    if args.task == "auto":
        task, reason = tabular.detect_task(y_raw)
    else:
        task, reason = args.task, "set by --task"
    y = tabular.check_target(y_raw, task, source).to_numpy()
    train_rows, val_rows = tabular.train_validation_split(y, args.validation, task, args.seed)
    what = f"{len(np.unique(y.astype(str)))} classes" if task == "classification" else "numbers"
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

    pre = tabular.Preprocessor.for_frame(features, args.categorical)
    X_train = pre.fit_transform(features.iloc[train_rows])
    X_val = pre.transform(features.iloc[val_rows])
    out.line(
        f"inputs: {len(pre.numeric)} numeric and {len(pre.categorical)} categorical columns "
        f"-> {_plural(len(pre.feature_names), 'feature')}"
    )
    for col, cats in zip(pre.categorical, pre.categories, strict=True):
        if len(cats) > 50 and len(cats) > 0.5 * len(train_rows):
            out.note(
                f"column {col!r} has {len(cats)} distinct values, almost one per row: an "
                f"identifier? Leave it out with --ignore {col!r}"
            )
    scaler = None
    y_train, y_val = y[train_rows], y[val_rows]
    if task == "regression" and getattr(args, "scale_target", False):
        scaler = tabular.TargetScaler.fit(y_train)
        y_train, y_val = scaler.transform(y_train), scaler.transform(y_val)
    est = _make_estimator(args, task, len(train_rows), len(val_rows) > 0)
    bar = None
    callbacks: list[Callback] = []
    if out.enabled and not args.quiet:
        score = "accuracy" if task == "classification" else "R²"
        bar = ProgressBar(args.epochs, out.console, score, label="epoch")
        callbacks.append(bar)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            info = tabular.fit_estimator(
                est,
                X_train,
                y_train,
                X_val if len(val_rows) else None,
                y_val if len(val_rows) else None,
                callbacks=callbacks,
                checkpoint=checkpoint,
                checkpoint_every=getattr(args, "checkpoint_every", None) or 1,
                resume=args.resume,
            )
    finally:
        if bar is not None:
            bar.stop()
    seconds = time.perf_counter() - start
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            out.note(f"training reached --epochs {args.epochs} before converging")
        else:
            out.note(str(w.message).splitlines()[0])
    run = _Run(
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
    )
    run.metrics["training"] = tabular.metrics(est, X_train, y[train_rows], scaler)
    if len(val_rows):
        run.metrics["validation"] = tabular.metrics(est, X_val, y[val_rows], scaler)
    return run


def _settings(args: argparse.Namespace, run: _Run, source: str) -> dict[str, Any]:
    pre = run.pre
    settings: dict[str, Any] = {
        "data": source,
        "target": run.target,
        "task": f"{run.task} ({run.task_reason})",
        "rows (training / validation)": f"{len(run.train_rows)} / {len(run.val_rows)}",
        "numeric columns": len(pre.numeric),
        "categorical columns": len(pre.categorical),
        "network inputs": len(pre.feature_names),
        "hidden layers": ",".join(map(str, args.hidden)) or "none",
        "activation": ",".join(args.activation),
        "optimizer": args.optimizer,
        "learning rate": args.learning_rate,
        "epochs (maximum)": args.epochs,
        "batch size": args.batch_size,
        "validation fraction": args.validation,
        "early stopping": bool(run.est.early_stopping),
        "patience": args.patience,
        "dropout": args.dropout,
        "L2 (alpha)": args.alpha,
        "seed": args.seed,
    }
    if run.task == "regression":
        settings["loss"] = args.loss
        settings["target standardized"] = run.scaler is not None
    if run.resumed_from is not None:
        settings["resumed from epoch"] = run.resumed_from
    return settings


def _results(run: _Run) -> dict[str, Any]:
    est = run.est
    results: dict[str, Any] = {}
    for part, values in run.metrics.items():
        for name, value in values.items():
            results[f"{part} {name}"] = value
    results["final training loss"] = float(est.loss_curve_[-1])
    results["epochs"] = len(est.loss_curve_)
    if run.best_epoch is not None:
        results["weights kept from epoch"] = run.best_epoch
    results["training time (s)"] = round(run.seconds, 2)
    return results


def _print_results(out: _Out, run: _Run, extra: dict[str, dict[str, float]] | None = None) -> None:
    """The metrics per part (training, validation, test), then loss, epochs and time."""
    parts = {**run.metrics, **(extra or {})}
    names = list(next(iter(parts.values())))
    rows: list[list[Any]] = [[n, *[parts[p].get(n, math.nan) for p in parts]] for n in names]
    est = run.est
    losses = {"training": float(est.loss_curve_[-1])}
    if est.validation_loss_curve_:
        losses["validation"] = float(est.validation_loss_curve_[-1])
    rows.append(["loss (last epoch)", *[losses.get(p) for p in parts]])
    rows.append(["epochs", len(est.loss_curve_), *[None] * (len(parts) - 1)])
    rows.append(["time (s)", round(run.seconds, 2), *[None] * (len(parts) - 1)])
    out.table("Results", ["", *parts], rows)
    if run.best_epoch is not None and len(est.loss_curve_) < est.max_iter:
        out.line(
            f"early stopping: no better validation {run.score_name} for {est.n_iter_no_change} "
            f"epochs; the weights of epoch {run.best_epoch} are kept"
        )


def _model_state(run: _Run, source: str, settings: dict[str, Any]) -> None:
    """Attach the preprocessing and a summary of the run to the estimator, for its file."""
    config, arrays = run.pre.get_state()
    config.update(
        {
            "target": run.target,
            "task": run.task,
            "target_scaling": None
            if run.scaler is None
            else {"mean": run.scaler.mean, "scale": run.scaler.scale},
            "run": {
                "data": source,
                "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                "seconds": round(run.seconds, 3),
                "rows_training": len(run.train_rows),
                "rows_validation": len(run.val_rows),
                "metrics": run.metrics,
                "settings": {
                    k: v if isinstance(v, int | float | str | bool) else str(v)
                    for k, v in settings.items()
                },
            },
        }
    )
    run.est.preprocessing_ = (config, arrays)


def _figures(run: _Run) -> list[Any]:
    """The report's figures of a run: curves, gradient flow, results, decision boundary."""
    import numpy as np
    import pandas as pd

    from deltaprop.app import report, tabular

    est = run.est
    figs = [
        report.loss_figure(
            est.loss_curve_, est.validation_loss_curve_ or (), best_epoch=run.best_epoch
        )
    ]
    if est.validation_scores_:
        figs.append(
            report.score_figure(est.validation_scores_, run.score_name, best_epoch=run.best_epoch)
        )
    figs.append(report.gradient_flow_figure(est.gradient_norms_))
    rows, X = (run.val_rows, run.X_val) if len(run.val_rows) else (run.train_rows, run.X_train)
    if run.task == "classification":
        fig = report.confusion_matrix_figure(run.y[rows], est.predict(X), est.classes_)
        part = "validation" if len(run.val_rows) else "training"
        fig.caption += f" Computed on the {part} rows."
        figs.append(fig)
        if len(run.pre.numeric) == 2 and not run.pre.categorical:
            cols = run.pre.numeric

            def proba(grid: np.ndarray) -> np.ndarray:
                return np.asarray(
                    est.predict_proba(run.pre.transform(pd.DataFrame(grid, columns=cols)))
                )

            raw = run.features[cols].to_numpy(dtype=float)
            ok = ~np.isnan(raw).any(axis=1)
            figs.append(
                report.decision_boundary_figure(proba, raw[ok], run.y[ok], est.classes_, cols)
            )
    else:
        pred = tabular.predict_table(est, X, run.scaler)["prediction"].to_numpy()
        training = None
        if len(run.val_rows):
            fit = tabular.predict_table(est, run.X_train, run.scaler)["prediction"].to_numpy()
            training = (run.y[run.train_rows], fit)
        figs.append(
            report.predicted_vs_true_figure(run.y[rows], pred, target=run.target, training=training)
        )
    return figs


def _comm_and_root() -> tuple[Any, bool]:
    from deltaprop.parallel import get_communicator, is_root

    comm = get_communicator("auto")
    return comm, is_root(comm)


def _barrier(comm: Any) -> None:
    if comm is not None:
        comm.comm.Barrier()


# ---------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace, out: _Out) -> int:
    from deltaprop.app import tabular
    from deltaprop.io import save

    if args.checkpoint is not None and args.checkpoint_every is None:
        raise UsageError("--checkpoint needs --checkpoint-every N")
    if args.resume is not None and not args.resume.is_file():
        raise UsageError(f"--resume: no such file: '{args.resume}'")
    comm, root = _comm_and_root()
    out.enabled = out.enabled and root
    if comm is not None:
        out.line(f"data-parallel training on {comm.size} MPI processes")
    folder = args.out if args.out is not None else Path("runs") / args.data.stem
    model_path, report_dir = folder / MODEL_FILE, folder / REPORT_DIR
    checkpoint = None
    if args.checkpoint_every is not None:
        checkpoint = args.checkpoint or folder / CHECKPOINT_FILE
    frame = tabular.read_table(
        args.data, na_values=args.na_values, categorical=args.categorical, comm=comm
    )
    outputs = [model_path, *([] if args.no_report else [report_dir])]
    _check_new(
        [*outputs, *([checkpoint] if checkpoint else [])],
        args.force,
        allowed=[args.resume] if args.resume else [],
    )
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out '{folder}' is a file, not a folder")
    _barrier(comm)  # every rank has checked before rank 0 creates anything
    created = root and not folder.exists()
    if root:
        folder.mkdir(parents=True, exist_ok=True)
        if checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
    _barrier(comm)
    source = str(args.data)
    try:
        run = _train(args, frame, source, out, checkpoint=checkpoint)
    except BaseException:
        if created and not any(folder.iterdir()):
            folder.rmdir()  # leave no empty folder behind a failed run
        raise
    settings = _settings(args, run, source)
    _model_state(run, source, settings)
    _print_results(out, run)
    if root:
        save(run.est, model_path)
        out.line(f"model:  {model_path}")
        if checkpoint is not None:
            out.line(f"checkpoint: {checkpoint}")
        if not args.no_report:
            page = _write_report(
                run, report_dir, settings, out, f"deltaprop train {args.data.name}"
            )
            out.line(f"report: {page}")
    return EXIT_OK


def _write_report(
    run: _Run,
    folder: Path,
    settings: dict[str, Any],
    out: _Out,
    title: str,
    extra_figures: Sequence[Any] = (),
    extra_results: dict[str, Any] | None = None,
) -> Path:
    from deltaprop.app import report

    replaced = {f.name for f in extra_figures}
    figures = [f for f in _figures(run) if f.name not in replaced] + list(extra_figures)
    return report.write_report(
        folder,
        figures,
        title=title,
        subtitle=time.strftime("%Y-%m-%d %H:%M"),
        settings=settings,
        results={**_results(run), **(extra_results or {})},
        notes=out.notes,
    )


def _demo_data(name: str, seed: int) -> tuple[pd.DataFrame, str]:
    import numpy as np
    import pandas as pd

    if name == "moons":
        from sklearn.datasets import make_moons

        X, y = make_moons(n_samples=600, noise=0.25, random_state=seed)
        frame = pd.DataFrame({"x0": X[:, 0], "x1": X[:, 1], "label": y})
        return frame, "label"
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(X, columns=[f"pixel_{k}" for k in range(X.shape[1])])
    frame["digit"] = np.asarray(y)
    return frame, "digit"


def _compare_activations(
    X: np.ndarray, y: np.ndarray, seed: int, epochs: int
) -> tuple[dict[str, Any], dict[str, float]]:
    """A deep network (8 hidden layers of 32) trained with sigmoid and with ReLU (SGD)."""
    from deltaprop.sklearn import MLPClassifier

    runs, scores = {}, {}
    for act in ("sigmoid", "relu"):
        est = MLPClassifier(
            (32,) * 8,
            activation=act,
            solver="sgd",
            momentum=0.9,
            learning_rate_init=0.01,
            max_iter=epochs,
            batch_size=64,
            n_iter_no_change=10**6,
            random_state=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(X, y)
        runs[act] = est.gradient_norms_
        scores[act] = float(est.score(X, y))
    return runs, scores


def _cmd_demo(args: argparse.Namespace, out: _Out) -> int:
    import numpy as np
    from sklearn.model_selection import train_test_split

    from deltaprop.app import report, tabular
    from deltaprop.io import save

    folder: Path = args.out
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out '{folder}' is a file, not a folder")
    if (
        folder.is_dir()
        and any(folder.iterdir())
        and not (folder / DEMO_MARKER).exists()
        and not args.force
    ):
        raise UsageError(
            f"'{folder}' exists and was not written by 'deltaprop demo'; use --force to write "
            "into it anyway, or another --out"
        )
    _, root = _comm_and_root()
    out.enabled = out.enabled and root
    frame, target = _demo_data(args.dataset, args.seed)
    rest, test = train_test_split(
        np.arange(len(frame)), test_size=0.25, random_state=args.seed, stratify=frame[target]
    )
    train_args = argparse.Namespace(
        target=target,
        task="auto",
        ignore=[],
        categorical=[],
        scale_target=False,
        hidden=(64, 32),
        activation=["relu"],
        optimizer="adam",
        learning_rate=0.01 if args.dataset == "moons" else 3e-3,
        schedule="constant",
        momentum=0.9,
        epochs=args.epochs,
        batch_size=64,
        validation=0.15,
        early_stopping=True,
        patience=30 if args.dataset == "moons" else 10,
        dropout=0.0,
        batch_norm=False,
        alpha=1e-4,
        loss="squared_error",
        class_weight="none",
        seed=args.seed,
        dtype="float64",
        resume=None,
        quiet=args.quiet,
    )
    source = {
        "digits": "scikit-learn digits (8x8 images, 10 classes)",
        "moons": "two moons (scikit-learn make_moons, 600 points)",
    }[args.dataset]
    out.line(f"deltaprop demo: {source}; {len(rest)} rows to train on, {len(test)} to test")
    run = _train(train_args, frame.iloc[rest].reset_index(drop=True), source, out)
    test_frame = frame.iloc[test].reset_index(drop=True)
    X_test = run.pre.transform(test_frame)
    y_test = test_frame[target].to_numpy()
    test_metrics = tabular.metrics(run.est, X_test, y_test)
    _print_results(out, run, {"test": test_metrics})
    extra_figures = []
    extra_results: dict[str, Any] = {f"test {k}": v for k, v in test_metrics.items()}
    cm = report.confusion_matrix_figure(y_test, run.est.predict(X_test), run.est.classes_)
    cm.title = "Confusion matrix on the test rows"
    cm.caption += f" Computed on the {len(test)} test rows, which training never saw."
    extra_figures.append(cm)
    if args.compare_activations:
        out.line("comparing sigmoid and ReLU in a deep network (8 hidden layers of 32, SGD) ...")
        epochs = min(30, args.epochs)
        norms, scores = _compare_activations(run.X_train, run.y[run.train_rows], args.seed, epochs)
        extra_figures.append(report.gradient_flow_comparison_figure(norms))
        rows = []
        for act, g in norms.items():
            first, last = float(np.mean(g[:, 0])), float(np.mean(g[:, -1]))
            rows.append([act, first, last, last / first, scores[act]])
            extra_results[f"deep {act}: training accuracy"] = scores[act]
            extra_results[f"deep {act}: ‖dW[output]‖ / ‖dW[1]‖"] = last / first
        out.table(
            f"Gradient flow (mean ‖dW‖ over {epochs} epochs)",
            ["activation", "layer 1", "output layer", "output / layer 1", "training accuracy"],
            rows,
        )
    settings = _settings(train_args, run, source)
    _model_state(run, source, settings)
    if root:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / DEMO_MARKER).write_text(
            "written by deltaprop demo; it may overwrite this folder\n"
        )
        save(run.est, folder / MODEL_FILE)
        page = _write_report(
            run,
            folder / REPORT_DIR,
            settings,
            out,
            f"deltaprop demo: {args.dataset}",
            extra_figures,
            extra_results,
        )
        out.line(f"model:  {folder / MODEL_FILE}")
        out.line(f"report: {page}")
    return EXIT_OK


def _load_model(path: Path) -> Any:
    from deltaprop.io import load

    with warnings.catch_warnings():
        # Rebuilding the trainer of a loaded estimator with an integer batch_size warns
        # about clipping it to one sample; nothing is trained here.
        warnings.filterwarnings("ignore", message="Got `batch_size`", category=UserWarning)
        return load(path)


@dataclass
class _Loaded:
    est: Any
    pre: Preprocessor | None
    scaler: TargetScaler | None
    config: dict[str, Any]


def _load_estimator(path: Path) -> _Loaded:
    from deltaprop.app import tabular
    from deltaprop.core import Network
    from deltaprop.io import ModelFileError

    model = _load_model(path)
    if isinstance(model, Network):
        raise UsageError(
            f"'{path}' holds a bare Network, not a model trained by 'deltaprop train' or an "
            "estimator; use it from Python"
        )
    state = getattr(model, "preprocessing_", None)
    if state is None:
        return _Loaded(model, None, None, {})
    config, arrays = state
    try:
        pre = tabular.Preprocessor.from_state(config, arrays)
        scaling = config.get("target_scaling")
        scaler = (
            None
            if scaling is None
            else tabular.TargetScaler(float(scaling["mean"]), float(scaling["scale"]))
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelFileError(f"cannot load '{path}': invalid preprocessing: {exc}") from None
    if len(pre.feature_names) != model.n_features_in_:
        raise ModelFileError(
            f"cannot load '{path}': the preprocessing makes {len(pre.feature_names)} features "
            f"but the network takes {model.n_features_in_}"
        )
    return _Loaded(model, pre, scaler, config)


def _features(loaded: _Loaded, frame: pd.DataFrame, source: Path) -> Any:
    """The network's inputs from a table: the model's preprocessing, or numeric columns."""
    import numpy as np

    from deltaprop.app.tabular import DataError

    if loaded.pre is not None:
        return loaded.pre.transform(frame)
    est = loaded.est
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        missing = [n for n in names if n not in frame.columns]
        if missing:
            raise DataError(f"'{source}' lacks the column {missing[0]!r} the model needs")
        frame = frame[list(names)]
    if frame.shape[1] != est.n_features_in_:
        raise DataError(
            f"the model takes {est.n_features_in_} numeric columns and has no preprocessing; "
            f"'{source}' has {frame.shape[1]}"
        )
    try:
        X = frame.astype(np.float64)
        return X if names is not None else X.to_numpy()
    except (ValueError, TypeError):
        raise DataError(
            f"the model has no preprocessing and takes numbers only, but '{source}' holds text"
        ) from None


def _cmd_predict(args: argparse.Namespace, out: _Out) -> int:
    from deltaprop.app import tabular
    from deltaprop.io import atomic_write

    if args.output is not None:
        _check_new([args.output], args.force)
        _check_parent(args.output)
    loaded = _load_estimator(args.model)
    frame = tabular.read_table(args.data, na_values=args.na_values, parse_numbers=False)
    missing = [c for c in args.keep if c not in frame.columns]
    if missing:
        raise UsageError(f"--keep {missing[0]!r}: no such column in '{args.data}'")
    table = tabular.predict_table(loaded.est, _features(loaded, frame, args.data), loaded.scaler)
    for k, col in enumerate(args.keep):
        table.insert(k, col, frame[col].to_numpy())
    text = table.to_csv(index=False)
    if args.output is None:
        sys.stdout.write(text)
    else:
        atomic_write(args.output, text.encode("utf-8"))
        out.line(f"wrote {len(table)} predictions to {args.output}")
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace, out: _Out) -> int:
    from deltaprop.app import tabular

    loaded = _load_estimator(args.model)
    target = args.target or loaded.config.get("target")
    if target is None:
        raise UsageError("the model does not name its target column: give --target COLUMN")
    frame = tabular.read_table(args.data, na_values=args.na_values, parse_numbers=False)
    features, y, dropped = tabular.split_target(frame, target, args.data)
    X = _features(loaded, features, args.data)
    if hasattr(loaded.est, "classes_"):
        y_true: Any = tabular.align_labels(y, loaded.est.classes_)
    else:
        y_true = tabular.check_target(y, "regression", args.data).to_numpy()
    values = tabular.metrics(loaded.est, X, y_true, loaded.scaler)
    if args.json:
        sys.stdout.write(json.dumps({"rows": len(y_true), **values}) + "\n")
        return EXIT_OK
    if dropped:
        out.note(f"{dropped} rows without a value of {target!r} were left out")
    if "log_loss" in values and math.isnan(values["log_loss"]):
        out.note("log-loss is n/a: the data hold classes the model does not know")
    out.table(
        f"{args.data.name}: {len(y_true)} rows",
        ["metric", "value"],
        [[k, v] for k, v in values.items()],
    )
    return EXIT_OK


def _architecture(net: Any) -> list[list[Any]]:
    rows = []
    for l, layer in enumerate(net.dense, start=1):
        n_in, n_out = net.layer_sizes[l - 1], net.layer_sizes[l]
        extras = []
        if layer.batch_norm is not None:
            extras.append(f"batch norm ({2 * n_out} params)")
        if l < net.n_layers and net.dropout_rates[l - 1] > 0:
            extras.append(f"dropout {net.dropout_rates[l - 1]:g}")
        bn = 2 * n_out if layer.batch_norm is not None else 0
        rows.append(
            [
                f"{l}",
                f"{n_in} → {n_out}",
                layer.activation.name,
                n_in * n_out,
                n_out,
                n_in * n_out + n_out + bn,
                ", ".join(extras),
            ]
        )
    return rows


def _cmd_inspect(args: argparse.Namespace, out: _Out) -> int:
    from deltaprop.core import Network

    model = _load_model(args.model)
    net = model if isinstance(model, Network) else model.network_
    arch = _architecture(net)
    info: dict[str, Any] = {
        "file": str(args.model),
        "class": type(model).__name__,
        "layer_sizes": list(net.layer_sizes),
        "activations": [layer.activation.name for layer in net.dense],
        "loss": net.loss.name,
        "dtype": str(net.dtype),
        "parameters": int(net.n_params),
        "layers": [
            {
                "layer": int(r[0]),
                "shape": r[1],
                "activation": r[2],
                "weights": r[3],
                "biases": r[4],
                "parameters": r[5],
                "extras": r[6],
            }
            for r in arch
        ],
    }
    config: dict[str, Any] = {}
    if not isinstance(model, Network):
        state = getattr(model, "preprocessing_", None)
        config = state[0] if state is not None else {}
        info["classes"] = [_plain(c) for c in getattr(model, "classes_", [])] or None
        info["epochs"] = len(model.loss_curve_)
        info["final_loss"] = float(model.loss_curve_[-1])
        info["best_validation_score"] = model.best_validation_score_
        info["target"] = config.get("target")
        info["task"] = config.get("task")
        if config:
            info["numeric_columns"] = config.get("numeric")
            info["categorical_columns"] = {
                c: len(cats)
                for c, cats in zip(config["categorical"], config["categories"], strict=False)
            }
            info["run"] = config.get("run")
    if args.json:
        sys.stdout.write(json.dumps(info, default=str) + "\n")
        return EXIT_OK
    out.line(f"{args.model}: {info['class']} ({info['dtype']})")
    if config:
        classes = info.get("classes")
        what = (
            f"{len(classes)} classes: {', '.join(map(str, classes))}" if classes else "regression"
        )
        out.line(f"target: {config.get('target')!r} ({config.get('task')}; {what})")
        cats = info["categorical_columns"]
        out.line(
            f"inputs: {len(config['numeric'])} numeric and {len(cats)} categorical columns → "
            f"{net.layer_sizes[0]} features"
        )
        if cats:
            out.line("  categories: " + ", ".join(f"{c} ({n})" for c, n in cats.items()))
    out.table(
        "Architecture",
        ["layer", "shape", "activation", "weights", "biases", "parameters", "notes"],
        arch,
    )
    out.line(f"total parameters: {net.n_params:,}; loss: {net.loss.name}")
    if not isinstance(model, Network):
        summary = [["epochs", info["epochs"]], ["final training loss", info["final_loss"]]]
        if info["best_validation_score"] is not None:
            summary.append(["best validation score", float(info["best_validation_score"])])
        run = config.get("run") or {}
        for part, values in (run.get("metrics") or {}).items():
            summary += [[f"{part} {k}", float(v)] for k, v in values.items()]
        if run:
            summary += [
                ["data", run.get("data")],
                [
                    "rows (training / validation)",
                    f"{run.get('rows_training')} / {run.get('rows_validation')}",
                ],
                ["training time (s)", run.get("seconds")],
                ["trained on", run.get("date")],
            ]
        out.table("Training", ["", "value"], summary)
    return EXIT_OK


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _cmd_export(args: argparse.Namespace, out: _Out) -> int:
    _check_new([args.onnx], args.force)
    _check_parent(args.onnx)
    model = _load_model(args.model)
    try:
        from deltaprop.export import export_onnx
    except ImportError as exc:
        raise RuntimeError(
            f"exporting to ONNX needs the onnx package (pip install 'deltaprop[onnx]'): {exc}"
        ) from None
    proto = export_onnx(model, args.onnx, opset=args.opset)
    graph = proto.graph
    dims = [d.dim_value or d.dim_param for d in graph.output[0].type.tensor_type.shape.dim]
    n_in = graph.input[0].type.tensor_type.shape.dim[1].dim_value
    shape = ", ".join(map(str, dims))
    out.line(
        f"wrote {args.onnx}: input X (batch, {n_in}) → {graph.output[0].name} ({shape}), "
        f"opset {args.opset}"
    )
    state = getattr(model, "preprocessing_", None)
    if state is not None:
        out.note(
            f"the graph takes the {n_in} preprocessed features (standardized numbers, one-hot "
            "categories); the model file's preprocessing is not part of it"
        )
        scaling = state[0].get("target_scaling")
        if scaling:
            out.note(
                f"the output is the standardized target: multiply by {scaling['scale']:.6g} and "
                f"add {scaling['mean']:.6g}"
            )
    return EXIT_OK


def _cmd_gradcheck(args: argparse.Namespace, out: _Out) -> int:
    import numpy as np

    from deltaprop.core import Network, get_loss, gradcheck

    sizes = list(args.layers)
    if len(sizes) < 2:
        raise UsageError("--layers needs at least an input and an output size, e.g. 4,3")
    try:
        loss = get_loss(args.loss).name
        acts = args.activation
        net = Network(
            sizes,
            acts[0] if len(acts) == 1 else acts,
            loss,
            seed=args.seed,
            dtype=args.dtype,
            dropout=args.dropout,
            batch_norm=args.batch_norm,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    rng = np.random.default_rng(args.seed)
    m, n_out = args.samples, sizes[-1]
    X = rng.normal(size=(m, sizes[0]))
    if loss == "categorical_crossentropy":
        Y = np.eye(n_out)[rng.integers(0, n_out, m)]
    elif loss == "binary_crossentropy":
        Y = rng.integers(0, 2, (m, n_out)).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(2.0, (m, n_out)).astype(float)
    else:
        Y = rng.normal(size=(m, n_out))
    training = args.dropout > 0 or args.batch_norm
    result = gradcheck(net, X, Y, training=training, l2=args.l2)
    shapes = dict(net.named_parameters())
    rows = []
    for name, rel, abs_ in result.rows():
        ok = rel <= args.tolerance
        rows.append(
            [
                name,
                "×".join(map(str, shapes[name].shape)),
                f"{rel:.2e}",
                f"{abs_:.2e}",
                "ok" if ok else "FAIL",
            ]
        )
    out.line(
        f"network {'-'.join(map(str, sizes))}, {args.activation} hidden, "
        f"{net.output_activation.name} output, loss {loss}, {m} examples, {args.dtype}"
        + (", training mode (fixed dropout mask, batch statistics)" if training else "")
    )
    out.table(
        "Backpropagation against central finite differences",
        ["array", "shape", "max rel. error", "max abs. error", ""],
        rows,
    )
    worst = result.max_relative_error
    if worst <= args.tolerance:
        out.line(f"passed: worst relative error {worst:.2e} ≤ {args.tolerance:g}")
        return EXIT_OK
    out.line(f"FAILED: worst relative error {worst:.2e} > {args.tolerance:g}")
    return EXIT_FAILURE


_COMMANDS: dict[str, Callable[[argparse.Namespace, _Out], int]] = {
    "demo": _cmd_demo,
    "train": _cmd_train,
    "predict": _cmd_predict,
    "evaluate": _cmd_evaluate,
    "inspect": _cmd_inspect,
    "export": _cmd_export,
    "gradcheck": _cmd_gradcheck,
}


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------
def _exit_code(exc: BaseException) -> int:
    from deltaprop.app.tabular import DataError
    from deltaprop.io import ModelFileError

    if isinstance(exc, UsageError | DataError | ModelFileError | FileNotFoundError):
        return EXIT_USAGE
    return EXIT_FAILURE


def _message(exc: BaseException) -> str:
    from deltaprop.train import DivergenceError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, DivergenceError):
        return text.replace("Try a smaller learning rate", "Try a smaller --learning-rate")
    if isinstance(exc, UsageError | ValueError | OSError | RuntimeError):
        return text
    return f"{type(exc).__name__}: {text} (run with --debug for the traceback)"


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
    out = _Out()
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            build_parser().print_help()
            return EXIT_USAGE
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = _COMMANDS[args.command](args, out)
        for message in dict.fromkeys(str(w.message).splitlines()[0] for w in caught):
            sys.stderr.write(f"deltaprop: warning: {message}\n")
        return code
    except SystemExit as exc:  # --help and --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("deltaprop: interrupted\n")
        return 130
    except BrokenPipeError:  # `deltaprop predict ... | head`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        from deltaprop.parallel import get_rank

        code, rank = _exit_code(exc), get_rank()
        if rank != 0 and code == EXIT_USAGE:
            return code  # under mpiexec every rank meets the same bad input: rank 0 says it
        if debug:
            traceback.print_exc()
        where = f" (rank {rank})" if rank != 0 else ""
        sys.stderr.write(f"deltaprop: error{where}: {_message(exc)}\n")
        return code
