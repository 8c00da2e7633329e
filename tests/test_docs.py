"""The examples of README.md and docs/*.md run as written (what a newcomer copies first):
README's command lines (in-process) and its Python blocks, in order, in one namespace, in a
new folder; each document's Python blocks likewise, with the files they read made first
(docs/api.md's conventions block asserts its claims against PyTorch); and every
``deltaprop`` import in any block (fragments included) resolves."""

from __future__ import annotations

import ast
import importlib
import re
import shlex
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.app.clitools import PENGUINS, call

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FRAGMENTS = {("out-of-core.md", 1)}
"""Blocks that are parts of a program (names defined around them), only import-checked."""


def _blocks(path: Path, kind: str = "python") -> list[str]:
    """The document's code blocks of ``kind``, those indented in a list item included."""
    found = re.findall(r"^( *)```(\w+)\n(.*?)^\1```", path.read_text(), re.S | re.M)
    return [textwrap.dedent(text) for _, k, text in found if k == kind]


def _run(blocks: list[str], name: str) -> None:
    """Run the blocks in order in one namespace; a block that needs an optional extra which
    is not installed (the loggers' ``ImportError``: "pip install 'deltaprop[mlflow]'") is
    left out, as its reader would install the extra first."""
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short examples
        for text in blocks:
            try:
                exec(compile(text, name, "exec"), namespace)
            except ImportError as exc:
                if "pip install 'deltaprop[" not in str(exc):
                    raise


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_deltaprop_import_in_the_docs_resolves(path: Path) -> None:
    for text in _blocks(path):
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("deltaprop"):
                module = importlib.import_module(str(node.module))
                missing = [a.name for a in node.names if not hasattr(module, a.name)]
                assert not missing, f"{path.name}: from {node.module} import {missing}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("deltaprop"):
                        importlib.import_module(alias.name)


def _penguin_files(folder: Path) -> None:
    table = pd.read_csv(PENGUINS)
    table.to_csv(folder / "penguins.csv", index=False)
    table.to_csv(folder / "test.csv", index=False)
    table.drop(columns="species").to_csv(folder / "new.csv", index=False)


@pytest.mark.slow
def test_the_readme_examples_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _penguin_files(tmp_path)
    lines = [line.split("#")[0].strip() for text in _blocks(ROOT / "README.md", "bash")
             for line in text.splitlines()]  # fmt: skip
    # `make`, `pip`, `mpiexec` and the demo are the CI's, the MPI tests' and the demo's own
    commands = [shlex.split(x)[1:] for x in lines if x.startswith("deltaprop ")
                and not x.startswith("deltaprop demo")]  # fmt: skip
    assert [c[0] for c in commands] == ["train", "predict", "evaluate"], commands
    for argv in commands:
        code, _, err = call(capsys, *argv)
        assert code == 0, (argv, err)
    assert len(pd.read_csv("predictions.csv")) == len(pd.read_csv(PENGUINS))
    blocks = _blocks(ROOT / "README.md")
    assert len(blocks) >= 6
    # the checkpoint that the resume example reads, as its comment says it was written
    at = next(i for i, text in enumerate(blocks) if "resume_from=" in text)
    blocks.insert(at, "import deltaprop\nclf.set_params(max_iter=3, callbacks=[deltaprop."
                      "Checkpoint('run.ckpt', every=1)]).fit(X, y).set_params(max_iter=6)")  # fmt: skip
    _run(blocks, "README.md")
    capsys.readouterr()
    for made in ("copy.safetensors", "model.onnx", "model.safetensors", "run.ckpt"):
        assert (tmp_path / made).is_file(), made


@pytest.mark.slow
@pytest.mark.parametrize("name", ["api.md", "cli.md", "distributed.md", "out-of-core.md"])
def test_the_docs_examples_run_as_written(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _penguin_files(tmp_path)
    np.save("data.npy", np.arange(20.0).reshape(10, 2))
    rows = pd.DataFrame(np.random.default_rng(0).normal(size=(200, 3)), columns=["a", "b", "c"])
    rows["label"] = (rows["a"] > 0).astype(int)
    (tmp_path / "rows").mkdir()
    rows.to_parquet(tmp_path / "rows" / "part0.parquet")
    if name == "cli.md":  # its ONNX example reads the command's export
        for argv in (["train", "penguins.csv", "--target", "species", "--ignore", "id"],
                     ["export", "runs/penguins/model.safetensors", "--onnx", "model.onnx"]):  # fmt: skip
            assert call(capsys, *argv)[0] == 0, argv
    blocks = [b for i, b in enumerate(_blocks(ROOT / "docs" / name)) if (name, i) not in FRAGMENTS]
    assert blocks
    _run(blocks, name)
