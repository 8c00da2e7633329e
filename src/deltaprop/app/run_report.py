"""The report of a training run: its figures and the page that shows them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from deltaprop.app.console import Output
from deltaprop.app.runs import Run, run_results

__all__ = ["run_figures", "write_run_report"]


def run_figures(run: Run) -> list[Any]:
    """The report's figures of a run: curves, gradient flow, results, decision boundary."""
    import numpy as np
    import pandas as pd

    from deltaprop.app import report
    from deltaprop.app.fitting import predict_table

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
        fig.caption += f" Computed on the {part} rows." + _refit_caption(run)
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
        pred = predict_table(est, X, run.scaler)["prediction"].to_numpy()
        training = None
        if len(run.val_rows):
            fit = predict_table(est, run.X_train, run.scaler)["prediction"].to_numpy()
            training = (run.y[run.train_rows], fit)
        fig = report.predicted_vs_true_figure(
            run.y[rows], pred, target=run.target, training=training
        )
        fig.caption += _refit_caption(run)
        figs.append(fig)
    return figs


def _refit_caption(run: Run) -> str:
    """With ``--refit``, the figures' predictions are of weights that trained on every row."""
    if run.refit_epochs is None:
        return ""
    return (
        f" The model was refit on all rows, these included, for {run.refit_epochs} epochs "
        "(--refit): its predictions here are not held out (the results table's are)."
    )


def write_run_report(
    run: Run,
    folder: Path,
    settings: dict[str, Any],
    out: Output,
    title: str,
    extra_figures: Sequence[Any] = (),
    extra_results: dict[str, Any] | None = None,
) -> Path:
    from deltaprop.app import report

    replaced = {f.name for f in extra_figures}
    figures = [f for f in run_figures(run) if f.name not in replaced] + list(extra_figures)
    return report.write_report(
        folder,
        figures,
        title=title,
        subtitle=time.strftime("%Y-%m-%d %H:%M"),
        settings=settings,
        results={**run_results(run), **(extra_results or {})},
        notes=out.notes,
    )
