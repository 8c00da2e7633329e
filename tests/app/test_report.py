"""deltaprop.app.report: every figure is a real, non-blank PNG of the expected size; report.html
is self-contained and references every figure."""

from __future__ import annotations

import base64
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deltaprop.app import report
from deltaprop.app.report import ReportFigure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk."""
    assert data[:8] == PNG_MAGIC, "not a PNG file"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def assert_not_blank(path: Path) -> None:
    from matplotlib.image import imread

    pixels = imread(path)[..., :3]
    colours = np.unique(pixels.reshape(-1, 3).round(2), axis=0)
    assert pixels.std() > 0.05, f"{path.name} is nearly uniform"
    assert len(colours) > 20, f"{path.name} has only {len(colours)} colours"
    ink = (pixels.mean(axis=2) < 0.9).mean()
    assert 0.01 < ink < 0.95, f"{path.name}: {ink:.1%} of the pixels are drawn"


def check_png(path: Path, size: tuple[int, int]) -> None:
    data = path.read_bytes()
    assert png_size(data) == size
    assert_not_blank(path)


def make_figures() -> list[ReportFigure]:
    rng = np.random.default_rng(0)
    loss = list(np.exp(-np.arange(20) / 5) + 0.1)
    val = [v + 0.05 for v in loss]
    norms = np.exp(-np.arange(20)[:, None] / 10) * np.array([1e-4, 1e-2, 1.0])
    y = rng.integers(0, 3, 200)
    pred = np.where(rng.random(200) < 0.8, y, rng.integers(0, 3, 200))
    X = rng.normal(size=(100, 2))
    labels = np.where(X[:, 0] > 0, "right", "left")

    def proba(grid: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-3 * grid[:, 0]))
        return np.c_[1 - p, p]

    return [
        report.loss_figure(loss, val, best_epoch=15),
        report.score_figure(list(np.linspace(0.5, 0.9, 20)), "accuracy", best_epoch=15),
        report.gradient_flow_figure(norms),
        report.gradient_flow_comparison_figure({"sigmoid": norms, "relu": norms[:, ::-1]}),
        report.confusion_matrix_figure(y, pred, [0, 1, 2]),
        report.predicted_vs_true_figure(X[:, 0], X[:, 0] + 0.1 * X[:, 1]),
        report.decision_boundary_figure(proba, X, labels, ["left", "right"], ["a", "b"]),
    ]


SIZES = {"gradient_flow_comparison": (1200, 450)}


def test_write_report_writes_every_figure_and_a_self_contained_page(tmp_path: Path) -> None:
    figures = make_figures()
    names = [f.name for f in figures]
    assert len(set(names)) == len(names)
    page = report.write_report(
        tmp_path / "rep",
        figures,
        title="A <run>",
        settings={"data": "x.csv", "hidden": (64, 32), "column": "<script>alert(1)</script>"},
        results={"accuracy": 0.9512345, "epochs": 20, "log_loss": float("nan")},
        notes=["something to know"],
    )
    assert page == tmp_path / "rep" / "report.html"
    html = page.read_text(encoding="utf-8")
    for name in names:
        check_png(tmp_path / "rep" / f"{name}.png", SIZES.get(name, (720, 450)))
        assert f'href="{name}.png"' in html
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(uris) == len(names)
    for name, uri in zip(names, uris, strict=True):
        assert base64.b64decode(uri) == (tmp_path / "rep" / f"{name}.png").read_bytes()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "A &lt;run&gt;" in html and "0.951234" in html and "64, 32" in html and "n/a" in html
    assert "something to know" in html
    assert html.count("<figure") == len(names)
    assert not re.search(r'(src|href)="(https?:|/)', html), "the page must not load anything"
    (tmp_path / "rep" / "mine.png").write_bytes(b"a user's file")
    report.write_report(tmp_path / "rep", figures[:1], title="again")  # train --force
    kept = sorted(p.name for p in (tmp_path / "rep").glob("*.png"))
    assert kept == sorted([f"{names[0]}.png", "mine.png"])  # the earlier report's others: gone


def test_multiclass_decision_boundary_and_many_classes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    centers = np.array([[0, 0], [3, 0], [0, 3]])
    X = np.concatenate([c + rng.normal(size=(40, 2)) for c in centers])
    y = np.repeat(["a", "b", "c"], 40)

    def proba(grid: np.ndarray) -> np.ndarray:
        d = -((grid[:, None, :] - centers[None]) ** 2).sum(axis=2)
        e = np.exp(d - d.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    figs = [
        report.decision_boundary_figure(proba, X, y, ["a", "b", "c"]),
        report.confusion_matrix_figure(
            rng.integers(0, 40, 500), rng.integers(0, 40, 500), list(range(40))
        ),
    ]
    report.write_report(tmp_path, figs, title="t")
    check_png(tmp_path / "decision_boundary.png", (720, 450))
    check_png(tmp_path / "confusion_matrix.png", (720, 450))


def test_gradient_flow_with_zero_and_vanishing_norms(tmp_path: Path) -> None:
    norms = np.array([[0.0, 1e-12, 1.0], [0.0, 1e-13, 0.5], [1e-30, 1e-14, 0.2]])
    report.write_report(tmp_path, [report.gradient_flow_figure(norms)], title="t")
    check_png(tmp_path / "gradient_flow.png", (720, 450))


def test_loss_figure_switches_to_log_scale_for_wide_ranges() -> None:
    fig = report.loss_figure([100.0, 1.0, 0.01])
    assert fig.figure.axes[0].get_yscale() == "log"
    fig = report.loss_figure([1.0, 0.8, 0.7])
    assert fig.figure.axes[0].get_yscale() == "linear"


def test_numeric_modules_do_not_import_matplotlib() -> None:
    code = (
        "import sys, deltaprop, deltaprop.app.tables, deltaprop.app.tasks, "
        "deltaprop.app.preprocessing, deltaprop.app.fitting, deltaprop.io, deltaprop.app.report, "
        "deltaprop.app.cli, deltaprop.parallel; "
        "bad = [m for m in ('matplotlib', 'matplotlib.pyplot') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dpi", [report.DPI])
def test_dpi_constant(dpi: int) -> None:
    fig = report.loss_figure([1.0, 0.5])
    assert fig.figure.dpi == dpi
    assert tuple(fig.figure.get_size_inches()) == report.SIZE
