"""The ``deltaprop`` argument parser: its subcommands, their options, help and examples."""

from __future__ import annotations

import argparse
from importlib import metadata
from pathlib import Path
from typing import Any

from deltaprop.app.arg_parser import Parser
from deltaprop.app.arg_types import (
    batch_size_value,
    fraction,
    gradcheck_samples,
    name_list,
    nonneg_float,
    positive_float,
    positive_int,
    seed_value,
    size_list,
)
from deltaprop.app.candidates import AUTO_ROW_LIMIT, CV_FOLDS
from deltaprop.core import hidden_activation_names
from deltaprop.export import DEFAULT_OPSET
from deltaprop.train import COMMAND_DEFAULTS

__all__ = ["EXAMPLES", "Parser", "build_parser"]

C = COMMAND_DEFAULTS
"""The command's defaults, stated once in :mod:`deltaprop.train.defaults` (with why each
differs from the Trainer's and the estimators')."""


_FORMATTER = argparse.RawDescriptionHelpFormatter

EXAMPLES = {
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

The output has a column 'prediction' and, for classifiers, one 'proba_<class>' per class.
Numbers are written with 6 significant digits (--precision 17 writes them exactly).""",
    "evaluate": """examples:
  deltaprop evaluate runs/data/model.safetensors test.csv
  deltaprop evaluate runs/data/model.safetensors test.csv --target price --json""",
    "inspect": """examples:
  deltaprop inspect runs/data/model.safetensors
  deltaprop inspect runs/data/model.safetensors --json""",
    "export": """examples:
  deltaprop export runs/data/model.safetensors --onnx model.onnx

The graph includes the model's preprocessing: one (batch, 1) input per column, numbers
as floats (NaN where missing) and categories as strings ("" where missing); a regressor's
output is in the target's units.""",
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


def hidden_text(hidden: tuple[int, ...] | str) -> str:
    return hidden if isinstance(hidden, str) else ",".join(map(str, hidden)) or "none"


def hidden_option(text: str) -> tuple[int, ...] | str:
    """``--hidden``: ``"auto"``, or layer sizes (:func:`~deltaprop.app.arg_types.size_list`)."""
    return "auto" if text.strip().lower() == "auto" else size_list(text)


def _add_list(p: Any, flag: str, metavar: str, help: str) -> None:
    """A comma-separated option that may be repeated (``--ignore a,b --ignore c``)."""
    p.add_argument(flag, type=name_list, action="extend", default=[], metavar=metavar, help=help)


def _add_number_format(p: Any) -> None:
    """``--decimal`` and ``--thousands``: how a CSV file writes its numbers (pandas')."""
    p.add_argument(
        "--decimal",
        type=_one_character,
        default=".",
        metavar="CHAR",
        help="the decimal mark of the CSV file's numbers, e.g. ',' for 5,1 (default: '.')",
    )
    p.add_argument(
        "--thousands",
        type=_one_character,
        metavar="CHAR",
        help="the thousands separator of the CSV file's numbers, e.g. ',' for 2,960.5",
    )


def _one_character(text: str) -> str:
    if len(text) != 1 or text.isalnum() or text in '"\n\r':
        raise argparse.ArgumentTypeError(
            f"must be one character that is not a letter, digit, quote or line break; "
            f"received {text!r}"
        )
    return text


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network and training")
    auto = ",".join(map(str, C.auto_hidden))
    g.add_argument(
        "--hidden",
        type=hidden_option,
        default=C.hidden,
        metavar="N,N,...|none|auto",
        help="hidden layer sizes; 'none' for no hidden layer; 'auto' chooses between the "
        f"linear model and {auto} by {CV_FOLDS}-fold cross-validation on tables of at most "
        f"{AUTO_ROW_LIMIT} rows ({hidden_text(C.large_hidden)} with dropout {C.large_dropout:g} "
        f"above) (default: {hidden_text(C.hidden)})",
    )
    g.add_argument(
        "--activation",
        type=name_list,
        default=[C.activation],
        metavar="NAME[,NAME...]",
        help="hidden activation, one for all or one per layer: "
        + ", ".join(hidden_activation_names())
        + f" (default: {C.activation})",
    )
    g.add_argument(
        "--optimizer",
        default=C.optimizer,
        choices=["adam", "adamw", "sgd", "rmsprop", "lbfgs"],
        help=f"(default: {C.optimizer})",
    )
    g.add_argument(
        "--learning-rate",
        type=positive_float,
        default=C.learning_rate,
        metavar="LR",
        help=f"initial learning rate (default: {C.learning_rate:g})",
    )
    g.add_argument(
        "--schedule",
        default=C.schedule,
        choices=["constant", "invscaling", "adaptive", "step", "exponential", "cosine"],
        help="learning-rate schedule: step, exponential and cosine drive every optimizer; "
        f"invscaling and adaptive (scikit-learn's) sgd only (default: {C.schedule})",
    )
    g.add_argument(
        "--momentum", type=fraction, default=C.momentum, help=f"of sgd (default: {C.momentum:g})"
    )
    g.add_argument(
        "--epochs",
        type=positive_int,
        default=C.epochs,
        help=f"maximum number of epochs (default: {C.epochs})",
    )
    g.add_argument(
        "--batch-size",
        type=batch_size_value,
        default=C.batch_size,
        metavar="N",
        help="mini-batch size, or 'auto' = min(200, rows) as scikit-learn "
        f"(default: {C.batch_size})",
    )
    g.add_argument(
        "--validation",
        type=fraction,
        default=C.validation,
        metavar="FRACTION",
        help=f"share of the rows held out for validation, 0 for none (default: {C.validation:g})",
    )
    g.add_argument(
        "--early-stopping",
        action=argparse.BooleanOptionalAction,
        default=C.early_stopping,
        help="stop when the --monitor'ed validation metric stops improving and keep the "
        f"weights of its best epoch (default: {'on' if C.early_stopping else 'off'})",
    )
    g.add_argument(
        "--monitor",
        choices=["val_loss", "val_score"],
        default=C.monitor,
        help="what early stopping watches: the validation loss, or the validation score "
        f"(accuracy or R²) as scikit-learn (default: {C.monitor})",
    )
    g.add_argument(
        "--patience",
        type=positive_int,
        default=C.patience,
        help=f"epochs without improvement before stopping (default: {C.patience})",
    )
    g.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=C.refit,
        help="after early stopping picked the best epoch K, train again on all rows "
        "(validation ones too) for K epochs and keep those weights "
        f"(default: {'on' if C.refit else 'off'})",
    )
    g.add_argument("--dropout", type=fraction, default=0.0, help="dropout rate (default: 0)")
    g.add_argument("--batch-norm", action="store_true", help="batch normalization")
    g.add_argument(
        "--alpha",
        type=_alpha,
        default=C.alpha,
        help="L2 penalty α/(2m)·ΣW² on each batch of m rows; auto: "
        f"{C.auto_alpha:g}, or m/n on n rows where that is less (the total L2 of "
        f"LogisticRegression's C=1) (default: {C.alpha})",
    )
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
    g.add_argument(
        "--seed", type=seed_value, default=C.seed, help=f"random seed (default: {C.seed})"
    )
    g.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="precision of the network (default: float64)",
    )


def _alpha(text: str) -> float | str:
    return "auto" if text == "auto" else nonneg_float(text)


def build_parser() -> argparse.ArgumentParser:
    """The ``deltaprop`` argument parser with its subcommands."""
    parser = Parser(
        prog="deltaprop",
        description="Neural networks trained by explicit backpropagation, on your tables.",
        epilog="Run 'deltaprop SUBCOMMAND --help' for the options and examples of each.",
        formatter_class=_FORMATTER,
    )
    parser.add_argument("--version", action="version", version=f"deltaprop {_version()}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND", parser_class=Parser)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, help=help, description=help, epilog=EXAMPLES[name], formatter_class=_FORMATTER
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
        "--epochs", type=positive_int, default=100, help="maximum number of epochs (default: 100)"
    )
    p.add_argument(
        "--compare-activations",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train a deep network with sigmoid and with ReLU and compare "
        "their gradient flow (default: on)",
    )
    p.add_argument("--seed", type=seed_value, default=0, help="random seed (default: 0)")
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
    _add_list(
        g, "--categorical", "COLS", "columns to treat as categories even if they hold numbers"
    )
    _add_list(g, "--ignore", "COLS", "columns that are not features (identifiers, ...)")
    _add_list(g, "--na-values", "VALUES", "extra strings that mean 'missing' (e.g. '?,-')")
    _add_number_format(g)
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
        type=positive_int,
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
        "the same data and options as the run that wrote it (other ones are refused)",
    )
    g.add_argument(
        "--allow-changes",
        action="store_true",
        help="with --resume: go on even if the data or options differ from the run's",
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
    _add_list(p, "--keep", "COLS", "input columns to copy into the output (e.g. an id)")
    _add_list(p, "--na-values", "VALUES", "extra strings that mean 'missing'")
    _add_number_format(p)
    p.add_argument(
        "--precision",
        type=int,
        choices=range(1, 18),
        default=6,
        metavar="DIGITS",
        help="significant digits of the numbers written, 1 to 17 (default: 6, as pandas "
        "shows them; 17 writes every float64 exactly)",
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
    _add_list(p, "--na-values", "VALUES", "extra strings that mean 'missing'")
    _add_number_format(p)
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")

    p = add("inspect", "Show a model's architecture, parameter counts and training summary.")
    p.add_argument("model", type=Path, help="a model file")
    p.add_argument("--json", action="store_true", help="print as JSON")

    p = add("export", "Export a trained model (its preprocessing included) to ONNX.")
    p.add_argument("model", type=Path, help="a model file")
    p.add_argument("--onnx", type=Path, required=True, metavar="PATH", help="the .onnx file")
    p.add_argument(
        "--dtype",
        choices=["float32", "float64"],
        default=None,
        help="the graph's type (default: the model's)",
    )
    p.add_argument(
        "--opset",
        type=positive_int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset (default: {DEFAULT_OPSET})",
    )
    p.add_argument("--force", action="store_true", help="overwrite the output file")

    p = add("gradcheck", "Check backpropagation against finite differences, layer by layer.")
    p.add_argument(
        "--layers",
        type=size_list,
        default=(4, 6, 5, 3),
        metavar="N,N,...",
        help="layer sizes, input to output (default: 4,6,5,3)",
    )
    p.add_argument(
        "--activation",
        type=name_list,
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
    p.add_argument(
        "--samples", type=gradcheck_samples, default=8, help="random examples (default: 8)"
    )
    p.add_argument(
        "--dropout",
        type=fraction,
        default=0.0,
        help="dropout rate, checked with a fixed mask (default: 0)",
    )
    p.add_argument("--batch-norm", action="store_true", help="batch normalization")
    p.add_argument("--l2", type=nonneg_float, default=0.0, help="L2: alpha/(2m)·ΣW² (default: 0)")
    p.add_argument(
        "--dtype",
        choices=["float64", "float32"],
        default="float64",
        help="(default: float64; float32 is checked with step 1e-2 and tolerance 1e-2)",
    )
    p.add_argument(
        "--tolerance",
        type=positive_float,
        default=None,
        help="largest relative error that passes (default: 1e-6; float32: 1e-2)",
    )
    p.add_argument("--seed", type=seed_value, default=0, help="random seed (default: 0)")
    return parser


def _version() -> str:
    """The installed distribution's version (``"unknown"`` when it is not installed)."""
    try:
        return metadata.version("deltaprop")
    except metadata.PackageNotFoundError:
        return "unknown"
