"""``deltaprop demo``: train on built-in data, compare sigmoid and ReLU, write the report."""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deltaprop.app.console import Output
from deltaprop.app.errors import EXIT_OK, UsageError
from deltaprop.app.output_files import writing
from deltaprop.app.run_report import write_run_report
from deltaprop.app.runs import (
    MODEL_FILE,
    REPORT_DIR,
    attach_model_state,
    comm_and_root,
    run_settings,
    show_results,
    train_run,
)

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["DEMO_MARKER", "run_demo"]

DEMO_MARKER = ".backprop-demo"
"""File that marks a folder written by ``deltaprop demo``, which the demo may overwrite."""


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
    from deltaprop.sklearn import MLPClassifier, interrupts_raise

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
        with warnings.catch_warnings(), interrupts_raise():  # Ctrl-C ends the demo
            warnings.simplefilter("ignore")
            est.fit(X, y)
        runs[act] = est.gradient_norms_
        scores[act] = float(est.score(X, y))
    return runs, scores


def run_demo(args: argparse.Namespace, out: Output) -> int:
    import numpy as np
    from sklearn.model_selection import train_test_split

    from deltaprop.app import report
    from deltaprop.app.tasks import metrics
    from deltaprop.io import atomic_write, save

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
    _, root = comm_and_root()
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
    run = train_run(train_args, frame.iloc[rest].reset_index(drop=True), source, out)
    test_frame = frame.iloc[test].reset_index(drop=True)
    X_test = run.pre.transform(test_frame)
    y_test = test_frame[target].to_numpy()
    test_metrics = metrics(run.est, X_test, y_test)
    show_results(out, run, {"test": test_metrics})
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
    settings = run_settings(train_args, run, source)
    attach_model_state(run, source, settings)
    if root:
        with writing("folder", folder, "--out"):
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write(
                folder / DEMO_MARKER, b"written by deltaprop demo; it may overwrite this folder\n"
            )
        with writing("model", folder / MODEL_FILE, "--out", folder):
            save(run.est, folder / MODEL_FILE, extra=run.extra)
        with writing("report", folder / REPORT_DIR / "report.html", "--out", folder):
            page = write_run_report(
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
