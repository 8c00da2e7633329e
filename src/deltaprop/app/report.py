"""Figures of a training run and the self-contained ``report.html`` that shows them.

Every figure is a :class:`matplotlib.figure.Figure` drawn on the Agg canvas, chosen here
and only here (no ``pyplot``, no global state, no display needed); matplotlib is imported
when a figure is made, never by the numeric modules.

Figures (each function returns a :class:`ReportFigure`):

* :func:`loss_figure`: training and validation loss per epoch;
* :func:`score_figure`: the validation score (accuracy or R²) per epoch;
* :func:`gradient_flow_figure`: ``‖dW[l]‖`` per layer per epoch on a log scale, where
  vanishing gradients show as lines that sink by orders of magnitude toward the input;
* :func:`gradient_flow_comparison_figure`: the same for several runs side by side (sigmoid
  against ReLU in a deep network), with the mean norm per layer;
* :func:`confusion_matrix_figure` for classifiers, :func:`predicted_vs_true_figure` for
  regressors;
* :func:`decision_boundary_figure` for classifiers of two features.

:func:`write_report` writes each figure as a PNG file and ``report.html``, which embeds
the same PNGs as base64 data URIs (the page needs no other file), links to the files, and
holds tables of the run's settings and results.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "ReportFigure",
    "confusion_matrix_figure",
    "decision_boundary_figure",
    "gradient_flow_comparison_figure",
    "gradient_flow_figure",
    "loss_figure",
    "predicted_vs_true_figure",
    "score_figure",
    "write_report",
]

DPI = 100
"""Resolution of the PNG files: a figure of ``w × h`` inches is ``100 w × 100 h`` pixels."""

SIZE = (7.2, 4.5)
"""Size in inches of the single-panel figures (720 × 450 pixels)."""

WIDE = (12.0, 4.5)
"""Size in inches of the gradient-flow comparison (1200 × 450 pixels)."""


@dataclass
class ReportFigure:
    """A figure of the report.

    Attributes
    ----------
    name : str
        File stem: the PNG is ``<name>.png``.
    title : str
        Heading in the report.
    caption : str
        One or two sentences saying how to read the figure.
    figure : matplotlib.figure.Figure
    """

    name: str
    title: str
    caption: str
    figure: Figure


def _figure(size: tuple[float, float] = SIZE) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _epochs(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def _epoch_axis(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# ---------------------------------------------------------------------------------------
# Training curves
# ---------------------------------------------------------------------------------------
def loss_figure(
    loss: Sequence[float], val_loss: Sequence[float] = (), *, best_epoch: int | None = None
) -> ReportFigure:
    """Training and validation loss per epoch.

    Parameters
    ----------
    loss : sequence of float
        Training objective per epoch (L2 term included).
    val_loss : sequence of float, optional
        Validation loss per epoch.
    best_epoch : int, optional
        1-based epoch whose weights were kept (early stopping), marked by a line.
    """
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(
        _epochs(len(loss)), loss, marker="o" if len(loss) < 30 else None, ms=3, label="training"
    )
    if len(val_loss):
        ax.plot(
            _epochs(len(val_loss)),
            val_loss,
            marker="o" if len(val_loss) < 30 else None,
            ms=3,
            label="validation",
        )
    if best_epoch is not None:
        ax.axvline(best_epoch, color="0.5", ls="--", lw=1, label=f"kept: epoch {best_epoch}")
    values = np.asarray([*loss, *val_loss], dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() > 30:
        ax.set_yscale("log")
    _epoch_axis(ax)
    ax.set_ylabel("loss")
    ax.set_title("Loss per epoch")
    ax.grid(alpha=0.3)
    ax.legend()
    return ReportFigure(
        "loss",
        "Loss per epoch",
        "The training objective and the loss on the validation rows after each epoch. A "
        "validation loss that rises while the training loss falls means overfitting.",
        fig,
    )


def score_figure(
    val_score: Sequence[float], score_name: str, *, best_epoch: int | None = None
) -> ReportFigure:
    """The validation score per epoch (accuracy for classifiers, R² for regressors)."""
    fig = _figure()
    ax = fig.add_subplot()
    ax.plot(
        _epochs(len(val_score)),
        val_score,
        color="C2",
        marker="o" if len(val_score) < 30 else None,
        ms=3,
    )
    if best_epoch is not None:
        ax.axvline(best_epoch, color="0.5", ls="--", lw=1, label=f"kept: epoch {best_epoch}")
        ax.legend()
    _epoch_axis(ax)
    ax.set_ylabel(f"validation {score_name}")
    ax.set_title(f"Validation {score_name} per epoch")
    ax.grid(alpha=0.3)
    return ReportFigure(
        "score",
        f"Validation {score_name} per epoch",
        f"The {score_name} on the validation rows after each epoch (higher is better).",
        fig,
    )


def _positive(a: np.ndarray) -> np.ndarray:
    """Zeros and non-finite values become NaN, which a log axis skips."""
    a = np.asarray(a, dtype=float)
    return np.where(np.isfinite(a) & (a > 0), a, np.nan)


def _layer_lines(ax: Any, norms: np.ndarray, legend: bool) -> None:
    from matplotlib import colormaps

    n_layers = norms.shape[1]
    cmap = colormaps["viridis"]
    for l in range(n_layers):
        label = f"W[{l + 1}]" + (" (output)" if l == n_layers - 1 else "")
        ax.plot(
            _epochs(norms.shape[0]),
            _positive(norms[:, l]),
            color=cmap(l / max(n_layers - 1, 1)),
            label=label,
        )
    ax.set_yscale("log")
    _epoch_axis(ax)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize="small", ncols=2 if n_layers > 5 else 1)


def gradient_flow_figure(grad_norms: Any) -> ReportFigure:
    """``‖dW[l]‖`` per layer and epoch, on a log scale.

    Parameters
    ----------
    grad_norms : array-like of shape (n_epochs, n_layers)
        The Frobenius norm of each layer's weight gradient, averaged over the epoch's
        mini-batches (an estimator's ``gradient_norms_``).
    """
    norms = np.atleast_2d(np.asarray(grad_norms, dtype=float))
    fig = _figure()
    ax = fig.add_subplot()
    if norms.size:
        _layer_lines(ax, norms, legend=True)
    ax.set_ylabel("‖dW[l]‖ (log scale)")
    ax.set_title("Gradient flow: norm of dW per layer")
    return ReportFigure(
        "gradient_flow",
        "Gradient flow",
        "The norm of each layer's weight gradient dW[l] per epoch, on a log scale. Layers "
        "whose lines lie orders of magnitude below the others learn that much more slowly: "
        "vanishing gradients.",
        fig,
    )


def gradient_flow_comparison_figure(runs: Mapping[str, Any]) -> ReportFigure:
    """Gradient flow of several runs side by side, plus the mean norm per layer.

    Parameters
    ----------
    runs : mapping of str to array-like of shape (n_epochs, n_layers)
        A label (such as the activation) and the run's ``gradient_norms_``.
    """
    fig = _figure(WIDE)
    axes = fig.subplots(1, len(runs) + 1, sharey=True)
    arrays = {k: np.atleast_2d(np.asarray(v, dtype=float)) for k, v in runs.items()}
    for ax, (label, norms) in zip(axes, arrays.items(), strict=False):
        _layer_lines(ax, norms, legend=False)
        ax.set_title(f"{label}: ‖dW[l]‖ per epoch")
    axes[0].set_ylabel("‖dW[l]‖ (log scale)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles, labels, loc="outside lower center", ncols=min(len(labels), 10), fontsize="small"
    )
    last = axes[-1]
    ratios = []
    for k, (label, norms) in enumerate(arrays.items()):
        mean = np.nanmean(_positive(norms), axis=0) if norms.size else np.empty(0)
        last.plot(np.arange(1, mean.size + 1), mean, marker="o", color=f"C{k}", label=label)
        if mean.size > 1:
            ratios.append(f"{label} {mean[-1] / mean[0]:.3g}")
    last.set_yscale("log")
    last.set_xlabel("layer l (1 = next to the input)")
    last.set_title("mean over epochs, per layer")
    last.grid(alpha=0.3)
    last.legend()
    names = " and ".join(runs)
    measured = f" Here ‖dW[output]‖ / ‖dW[1]‖ is: {'; '.join(ratios)}." if ratios else ""
    return ReportFigure(
        "gradient_flow_comparison",
        f"Gradient flow: {names}",
        "The same deep network trained with each activation. With sigmoid the gradient "
        "shrinks at every layer on its way back to the input (σ' ≤ 1/4), so the first "
        "layers barely learn: vanishing gradients. With ReLU (derivative 1 where active) it "
        "keeps its size through the layers." + measured,
        fig,
    )


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------
def confusion_matrix_figure(y_true: Any, y_pred: Any, labels: Sequence[Any]) -> ReportFigure:
    """Counts of true against predicted classes; colours are row-normalised (recall)."""
    from sklearn.metrics import confusion_matrix

    labels = list(labels)
    cm = confusion_matrix(np.asarray(y_true), np.asarray(y_pred), labels=labels)
    totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)
    n = len(labels)
    fig = _figure()
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
    fig = _figure()
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
    fig = _figure()
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


# ---------------------------------------------------------------------------------------
# The HTML report
# ---------------------------------------------------------------------------------------
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1250px; padding: 0 1em; color: #222; }
h1 { margin-bottom: 0.2em; } .sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.9em; text-align: left; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.tables { display: flex; gap: 3em; flex-wrap: wrap; }
figure { margin: 1.5em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; max-width: 900px; } .notes li { color: #7a4b00; }
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = "n/a" if value != value else f"{value:.6g}"
        return f'<td class="num">{html.escape(text)}</td>'
    if isinstance(value, bool) or value is None:
        return f"<td>{html.escape(str(value))}</td>"
    if isinstance(value, int | np.integer):
        return f'<td class="num">{value}</td>'
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    return f"<td>{html.escape(str(value))}</td>"


def _table(title: str, rows: Mapping[str, Any]) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th>{_cell(v)}</tr>" for k, v in rows.items())
    return f"<div><h2>{html.escape(title)}</h2><table>{body}</table></div>"


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    return buf.getvalue()


def write_report(
    folder: str | os.PathLike[str],
    figures: Sequence[ReportFigure],
    *,
    title: str,
    subtitle: str = "",
    settings: Mapping[str, Any] | None = None,
    results: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write ``<name>.png`` for each figure and ``report.html`` into ``folder``.

    Parameters
    ----------
    folder : str or path-like
        Created if needed; existing files of the same names are replaced.
    figures : sequence of ReportFigure
        Closed (their memory released) once written.
    title, subtitle : str
    settings, results : mapping, optional
        Shown as two tables (the run's options; its metrics, time and epochs).
    notes : sequence of str
        Warnings and remarks about the run, listed under the tables.

    Returns
    -------
    pathlib.Path
        The path of ``report.html``. The page embeds every PNG as a data URI, so it can be
        mailed on its own, and links each to its file.

    Examples
    --------
    >>> import tempfile
    >>> from deltaprop.app.report import loss_figure, write_report
    >>> page = write_report(tempfile.mkdtemp(), [loss_figure([1.0, 0.5, 0.3])], title="run")
    >>> page.name, (page.parent / "loss.png").exists()
    ('report.html', True)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if subtitle:
        parts.append(f'<p class="sub">{html.escape(subtitle)}</p>')
    tables = []
    if settings:
        tables.append(_table("Settings", settings))
    if results:
        tables.append(_table("Results", results))
    if tables:
        parts.append('<div class="tables">' + "".join(tables) + "</div>")
    if notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
        parts.append(f'<h2>Notes</h2><ul class="notes">{items}</ul>')
    for fig in figures:
        data = _png(fig.figure)
        (folder / f"{fig.name}.png").write_bytes(data)
        fig.figure.clear()
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        parts.append(
            f'<figure id="{html.escape(fig.name)}"><h2>{html.escape(fig.title)}</h2>'
            f'<img src="{uri}" alt="{html.escape(fig.title)}">'
            f"<figcaption>{html.escape(fig.caption)} "
            f'(<a href="{html.escape(fig.name)}.png">{html.escape(fig.name)}.png</a>)'
            "</figcaption></figure>"
        )
    parts.append("</body></html>")
    page = folder / "report.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    return page
