"""Figures of a run's curves, epoch by epoch: the loss, the validation score, and the
gradient flow ``‖dW[l]‖`` per layer (one run, or several side by side)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from deltaprop.app.figure import WIDE, ReportFigure, epoch_axis, epoch_numbers, new_figure

__all__ = ["gradient_flow_comparison_figure", "gradient_flow_figure", "loss_figure", "score_figure"]


def _curve(ax: Any, values: Sequence[float], **style: Any) -> None:
    """One value per epoch, against the 1-based epoch; dots while there are few epochs."""
    n = len(values)
    ax.plot(epoch_numbers(n), values, marker="o" if n < 30 else None, ms=3, **style)


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
    fig = new_figure()
    ax = fig.add_subplot()
    _curve(ax, loss, label="training")
    if len(val_loss):
        _curve(ax, val_loss, label="validation")
    if best_epoch is not None:
        ax.axvline(best_epoch, color="0.5", ls="--", lw=1, label=f"kept: epoch {best_epoch}")
    values = np.asarray([*loss, *val_loss], dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size and values.max() / values.min() > 30:
        ax.set_yscale("log")
    epoch_axis(ax)
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
    fig = new_figure()
    ax = fig.add_subplot()
    _curve(ax, val_score, color="C2")
    if best_epoch is not None:
        ax.axvline(best_epoch, color="0.5", ls="--", lw=1, label=f"kept: epoch {best_epoch}")
        ax.legend()
    epoch_axis(ax)
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
            epoch_numbers(norms.shape[0]),
            _positive(norms[:, l]),
            color=cmap(l / max(n_layers - 1, 1)),
            label=label,
        )
    ax.set_yscale("log")
    epoch_axis(ax)
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
    fig = new_figure()
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
    fig = new_figure(WIDE)
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
