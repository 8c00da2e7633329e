"""``deltaprop inspect``: a model's architecture, parameter counts and training summary."""

from __future__ import annotations

import argparse
from typing import Any

from deltaprop.app.console import Output, json_text, write_data
from deltaprop.app.errors import EXIT_OK
from deltaprop.app.models import load_model

__all__ = ["run_inspect"]


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


def run_inspect(args: argparse.Namespace, out: Output) -> int:
    from deltaprop.core import Network
    from deltaprop.io.container import read_container

    model, state = load_model(args.model)
    meta = read_container(args.model)[0]  # the header, read again: what wrote the file
    net = model if isinstance(model, Network) else model.network_
    arch = _architecture(net)
    info: dict[str, Any] = {
        "file": str(args.model),
        "class": type(model).__name__,
        "library_version": meta.get("library_version"),  # absent from early files
        "format_version": meta.get("format_version"),
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
        config = state[0] if state is not None else {}
        info["classes"] = [_plain(c) for c in getattr(model, "classes_", [])] or None
        names = getattr(model, "feature_names_in_", None)
        info["feature_names"] = None if names is None else [str(c) for c in names]
        run = config.get("run") or {}
        info["epochs"] = len(model.loss_curve_)
        kept = run.get("kept_epoch")
        stop = model.history_.stop if model.history_ is not None else None  # saved from Python
        if not isinstance(kept, int):
            best = None if stop is None else stop.best_epoch
            kept = best if isinstance(best, int) else len(model.loss_curve_)
        info["kept_epoch"] = kept
        info["kept_epoch_loss"] = float(model.loss_curve_[info["kept_epoch"] - 1])
        info["stop_message"] = run.get("stop_message") or model.stop_message_
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
        write_data(json_text(info) + "\n")
        return EXIT_OK
    out.line(f"{args.model}: {info['class']} ({info['dtype']})")
    written = info["library_version"] or "an unrecorded version"
    out.line(f"written by deltaprop {written} (file format {info['format_version']})")
    if config:
        classes = info.get("classes")
        task = config.get("task")
        what = f"; {len(classes)} classes: {', '.join(map(str, classes))}" if classes else ""
        if not classes and task != "regression":
            what = "; regression"
        target = config.get("target")  # None in a pipeline saved from Python
        named = "not recorded" if target is None else repr(target)
        out.line(f"target: {named} ({task}{what})")
        cats = info["categorical_columns"]
        out.line(
            f"inputs: {len(config['numeric'])} numeric and {len(cats)} categorical columns → "
            f"{net.layer_sizes[0]} features"
        )
        if config["numeric"]:
            out.line("  numeric: " + ", ".join(map(str, config["numeric"])))
        if cats:
            out.line("  categories: " + ", ".join(f"{c} ({n})" for c, n in cats.items()))
        left_out = (config.get("run") or {}).get("columns_left_out") or []
        if left_out:
            out.line(
                "  left out (no value in any row, or a row index): " + ", ".join(map(str, left_out))
            )
    elif not isinstance(model, Network):  # an estimator saved from Python
        classes = info.get("classes")
        if classes:
            out.line(f"classes ({len(classes)}): {', '.join(map(str, classes))}")
        names = info.get("feature_names")
        width = net.layer_sizes[0]
        out.line(f"inputs: {width} columns" + (": " + ", ".join(names) if names else ""))
    out.table(
        "Architecture",
        ["layer", "shape", "activation", "weights", "biases", "parameters", "notes"],
        arch,
    )
    out.line(f"total parameters: {net.n_params:,}; loss: {net.loss.name}")
    if not isinstance(model, Network):
        kept = info["kept_epoch"]
        summary = [
            ["epochs trained", info["epochs"]],
            ["weights kept from epoch", kept],
            [f"training loss (epoch {kept})", info["kept_epoch_loss"]],
        ]
        scores = model.validation_scores_ or []
        if len(scores) >= kept:
            summary.append([f"validation score (epoch {kept})", float(scores[kept - 1])])
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
                *[[k, v] for k, v in (run.get("settings") or {}).items() if "--hidden" in k],
                ["trained on", run.get("date")],
            ]
        out.table("Training", ["", "value"], summary)
        if info["stop_message"]:
            out.line(str(info["stop_message"]))
    return EXIT_OK


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
