"""Figures of a training run and the self-contained ``report.html`` that shows them.

Every figure is a :class:`matplotlib.figure.Figure` drawn on the Agg canvas
(:mod:`deltaprop.app.figure`); matplotlib is imported when a figure is made, never by the
numeric modules. The figures are made in :mod:`deltaprop.app.curve_figures` and
:mod:`deltaprop.app.result_figures`; this module names them all and writes the page.

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
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from deltaprop.app.curve_figures import (
    gradient_flow_comparison_figure,
    gradient_flow_figure,
    loss_figure,
    score_figure,
)
from deltaprop.app.figure import DPI, SIZE, WIDE, ReportFigure
from deltaprop.app.result_figures import (
    confusion_matrix_figure,
    decision_boundary_figure,
    predicted_vs_true_figure,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "SIZE",
    "WIDE",
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
        Created if needed; existing files of the same names are replaced. Each file is
        written whole or not at all (:func:`deltaprop.io.atomic_write`), ``report.html``
        last; if a write fails, the files this call created are removed (and the folder,
        if it created it) and the error is raised.
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
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []  # the files this call created
    stale = _linked_figures(folder / "report.html") - {f"{fig.name}.png" for fig in figures}
    try:
        page = _write_files(folder, figures, title, subtitle, settings, results, notes, written)
        for name in stale:  # a figure of the report this one replaces (--force), not drawn now
            (folder / name).unlink(missing_ok=True)
        return page
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise


def _linked_figures(page: Path) -> set[str]:
    """The PNG files that an earlier ``report.html`` in the folder links to (its own)."""
    try:
        text = page.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return set(re.findall(r'<a href="([^"/\\]+\.png)">', text))


def _write_files(
    folder: Path,
    figures: Sequence[ReportFigure],
    title: str,
    subtitle: str,
    settings: Mapping[str, Any] | None,
    results: Mapping[str, Any] | None,
    notes: Sequence[str],
    written: list[Path],
) -> Path:
    """:func:`write_report`'s files; each new file's path is added to ``written`` before it
    is written."""
    from deltaprop.io import atomic_write

    def write(path: Path, data: bytes) -> None:
        if not path.exists():
            written.append(path)
        atomic_write(path, data)

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
        write(folder / f"{fig.name}.png", data)
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
    write(page, "\n".join(parts).encode("utf-8"))
    return page
