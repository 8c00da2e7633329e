"""Figures of a fitted model's results: the confusion matrix and the decision boundary of a
classifier, predicted against true values for a regressor."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from deltaprop.app.figure import ReportFigure, new_figure

__all__ = ["confusion_matrix_figure", "decision_boundary_figure", "predicted_vs_true_figure"]


def confusion_matrix_figure(y_true: Any, y_pred: Any, labels: Sequence[Any]) -> ReportFigure:
    """Counts of true against predicted classes; colours are row-normalised (recall)."""
    from sklearn.metrics import confusion_matrix

    labels = list(labels)
    cm = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=labels)
    totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)
    n = len(labels)
    fig = new_figure()
    ax = fig.add_subplot()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(im, ax=ax, label="share of the true class")
    names = [str(c) for c in labels]
    if n <= 30:
        ax.set_xticks(
            range(n),
            names,
            rotation=45 if max(map(len, names)) > 3 else 0,
            ha="right" if max(map(len, names)) > 3 else "center",
        )
        ax.set_yticks(range(n), names)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    str(cm[i, j]),
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="white" if share[i, j] > 0.5 else "black",
                )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"Confusion matrix (accuracy {accuracy:.3f})")
    return ReportFigure(
        "confusion_matrix",
        "Confusion matrix",
        "Rows are the true classes, columns the predicted ones; the numbers are counts and "
        "the colour is the share of each true class. Off-diagonal cells are the mistakes.",
        fig,
    )


def predicted_vs_true_figure(
    y_true: Any,
    y_pred: Any,
    *,
    target: str = "value",
    training: tuple[Any, Any] | None = None,
) -> ReportFigure:
    """Each prediction against its true value, with the diagonal of perfect predictions.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        The rows the figure is about (validation rows, say); R² is computed on them.
    target : str, default="value"
        The target's name, for the axis labels.
    training : pair of array-like, optional
        ``(y_true, y_pred)`` of the training rows, drawn in grey behind.
    """
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    fig = new_figure()
    ax = fig.add_subplot()
    everything = [y_true, y_pred]
    if training is not None:
        t_true, t_pred = (np.asarray(a, dtype=float).ravel() for a in training)
        ax.scatter(t_true, t_pred, s=8, color="0.75", edgecolors="none", label="training rows")
        everything += [t_true, t_pred]
    ax.scatter(
        y_true,
        y_pred,
        s=14,
        alpha=0.8,
        edgecolors="none",
        color="C0",
        label="validation rows" if training is not None else "rows",
    )
    values = np.concatenate(everything) if y_true.size else np.array([0.0, 1.0])
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    ax.plot([lo, hi], [lo, hi], color="0.3", ls="--", lw=1, label="prediction = truth")
    ss_res = float(np.sum((y_true - y_pred) ** 2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2)) if y_true.size else 0.0
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    ax.set_xlabel(f"true {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title(f"Predicted against true (R² {r2:.3f})")
    ax.grid(alpha=0.3)
    ax.legend()
    return ReportFigure(
        "predicted_vs_true",
        "Predicted against true",
        "Each point is one row; points on the dashed diagonal are predicted exactly. R² is "
        "computed on the coloured points.",
        fig,
    )


def decision_boundary_figure(
    predict_proba: Callable[[np.ndarray], np.ndarray],
    X: Any,
    y: Any,
    classes: Sequence[Any],
    feature_names: Sequence[str] = ("x0", "x1"),
    *,
    resolution: int = 200,
) -> ReportFigure:
    """The classifier's decision regions over the plane of its two features.

    Parameters
    ----------
    predict_proba : callable
        Maps an array of shape ``(n, 2)`` of raw feature values to class probabilities
        of shape ``(n, n_classes)`` (columns in the order of ``classes``).
    X : array-like of shape (n_samples, 2)
        The points drawn over the regions, in raw feature units.
    y : array-like of shape (n_samples,)
        Their labels.
    classes : sequence
        The class labels, in the order of the probability columns.
    feature_names : pair of str
    resolution : int, default=200
        Grid points per axis.
    """
    from matplotlib.colors import ListedColormap, to_rgb

    X = np.asarray(X, dtype=float)
    y = np.asarray(y)
    classes = list(classes)
    lo, hi = np.nanmin(X, axis=0), np.nanmax(X, axis=0)
    pad = 0.05 * np.where(hi > lo, hi - lo, 1.0)
    g0 = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    g1 = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(g0, g1)
    proba = np.asarray(predict_proba(np.c_[xx.ravel(), yy.ravel()]), dtype=float)
    fig = new_figure()
    ax = fig.add_subplot()
    colors = np.array([to_rgb(f"C{k % 10}") for k in range(len(classes))])
    if len(classes) == 2:
        p = proba[:, 1].reshape(xx.shape)
        cmap = ListedColormap(
            np.linspace(0.35 + 0.65 * colors[0], 0.35 + 0.65 * colors[1], 256).clip(0, 1)
        )
        image = ax.imshow(
            p,
            origin="lower",
            aspect="auto",
            cmap=cmap,
            vmin=0,
            vmax=1,
            alpha=0.6,
            extent=(g0[0], g0[-1], g1[0], g1[-1]),
        )
        ax.contour(xx, yy, p, levels=[0.5], colors="k", linewidths=1.2)
        fig.colorbar(image, ax=ax, label=f"P({classes[1]})")
    else:
        k = proba.argmax(axis=1)
        conf = proba.max(axis=1)[:, None]
        shade = 0.4 + 0.6 * (conf - 1 / len(classes)) / (1 - 1 / len(classes))
        rgb = 1 - shade * 0.55 * (1 - colors[k])
        ax.imshow(
            rgb.reshape(*xx.shape, 3),
            origin="lower",
            aspect="auto",
            extent=(g0[0], g0[-1], g1[0], g1[-1]),
        )
    rng = np.random.default_rng(0)
    show = np.arange(len(y)) if len(y) <= 2000 else rng.choice(len(y), 2000, replace=False)
    for k, c in enumerate(classes):
        mask = y[show] == c
        ax.scatter(
            X[show][mask, 0],
            X[show][mask, 1],
            s=14,
            color=colors[k],
            edgecolors="k",
            linewidths=0.4,
            label=str(c),
        )
    ax.set_xlim(g0[0], g0[-1])
    ax.set_ylim(g1[0], g1[-1])
    ax.set_xlabel(feature_names[0])
    ax.set_ylabel(feature_names[1])
    ax.set_title("Decision boundary")
    ax.legend(title="class", fontsize="small")
    return ReportFigure(
        "decision_boundary",
        "Decision boundary",
        "The class the network predicts at each point of the plane of the two features "
        "(shade: its probability; black line: probability 0.5 for two classes), with the "
        "rows drawn on top in their true class's colour.",
        fig,
    )
