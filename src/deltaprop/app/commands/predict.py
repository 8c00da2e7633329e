"""``deltaprop predict`` and ``deltaprop evaluate``: a trained model on new data."""

from __future__ import annotations

import argparse
import math
from typing import Any

from deltaprop.app.console import Output, json_text, write_data
from deltaprop.app.errors import EXIT_OK, UsageError
from deltaprop.app.models import (
    check_finite_errors,
    check_finite_outputs,
    load_estimator,
    model_inputs,
)
from deltaprop.app.output_files import (
    check_new,
    check_not_input,
    check_parent,
    check_writable,
    writing,
)

__all__ = ["run_evaluate", "run_predict"]


def run_predict(args: argparse.Namespace, out: Output) -> int:
    from deltaprop.app.fitting import predict_table
    from deltaprop.app.tables import no_column_message, read_table
    from deltaprop.io import atomic_write

    loaded = load_estimator(args.model)
    frame = read_table(
        args.data, na_values=args.na_values, parse_numbers=False, decimal=args.decimal,
        thousands=args.thousands,
    )  # fmt: skip
    missing = [c for c in args.keep if c not in frame.columns]
    if missing:
        raise UsageError(no_column_message(missing[0], frame.columns, args.data, "--keep"))
    if args.output is not None:  # the inputs are checked first, then the output policy
        check_not_input([("-o", args.output)], [("MODEL", args.model), ("DATA", args.data)])
        check_new([args.output], args.force)
        check_parent(args.output)
        check_writable(args.output.parent, "-o", args.output)
    X = model_inputs(loaded, frame, args.data)
    table = predict_table(loaded.est, X, loaded.scaler)
    check_finite_outputs(table.select_dtypes("number").to_numpy(float), frame, args.data)
    for k, col in enumerate(args.keep):
        table.insert(k, col, frame[col].to_numpy())
    text = table.to_csv(index=False, float_format=f"%.{args.precision}g")
    if args.output is None:
        write_data(text)
    else:
        with writing("predictions", args.output, "-o"):  # whole, or not at all
            atomic_write(args.output, text.encode("utf-8"))
        out.line(f"wrote {len(table)} predictions to {args.output}")
    return EXIT_OK


def run_evaluate(args: argparse.Namespace, out: Output) -> int:
    from deltaprop.app.fitting import predict_table
    from deltaprop.app.tables import read_table
    from deltaprop.app.tasks import align_labels, check_target, metrics, split_target

    loaded = load_estimator(args.model)
    target = args.target or loaded.config.get("target")
    if target is None:
        raise UsageError("the model does not name its target column: give --target COLUMN")
    inputs = loaded.pre.columns if loaded.pre is not None else []
    if args.target is not None and args.target in inputs:
        trained = loaded.config.get("target")
        raise UsageError(
            f"--target {args.target!r} is one of the model's input columns, not what it "
            "predicts" + (f" (it was trained to predict {trained!r})" if trained else "")
        )
    frame = read_table(
        args.data, na_values=args.na_values, parse_numbers=False, decimal=args.decimal,
        thousands=args.thousands,
    )  # fmt: skip
    option = "--target" if args.target else "the model's target"
    features, y, dropped = split_target(frame, target, args.data, option=option)
    X = model_inputs(loaded, features, args.data)
    if hasattr(loaded.est, "classes_"):
        y_true: Any = align_labels(y, loaded.est.classes_, args.data)
    else:
        y_true = check_target(y, "regression", args.data).to_numpy()
    predicted = predict_table(loaded.est, X, loaded.scaler)  # in the target's units
    numeric = predicted.select_dtypes("number").to_numpy(float)
    check_finite_outputs(numeric, features, args.data)
    if not hasattr(loaded.est, "classes_"):  # squared errors that overflow: refused by row
        check_finite_errors(numeric, y_true, features, args.data)
    values = metrics(loaded.est, X, y_true, loaded.scaler)
    if args.json:
        write_data(json_text({"rows": len(y_true), **values}) + "\n")
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
