"""README's examples run as written: its command lines (in-process) and its Python blocks,
in order, in one namespace, in a new folder (what a newcomer copies first)."""

from __future__ import annotations

import re
import shlex
import textwrap
import warnings
from pathlib import Path

import pandas as pd
import pytest

from tests.app.clitools import PENGUINS, call

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```(python|bash)\n(.*?)^```", README.read_text(), re.S | re.M)
SKIPPED = ("make ", "mpiexec", "pip ", "deltaprop demo")  # elsewhere: the CI, the MPI tests


def _commands() -> list[list[str]]:
    lines = [line.split("#")[0].strip() for kind, text in BLOCKS if kind == "bash"
             for line in text.splitlines()]  # fmt: skip
    return [shlex.split(x)[1:] for x in lines if x.startswith("deltaprop ")
            and not x.startswith(SKIPPED)]  # fmt: skip


@pytest.mark.slow
def test_the_readme_examples_run_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    table = pd.read_csv(PENGUINS)
    table.to_csv("penguins.csv", index=False)
    table.to_csv("test.csv", index=False)
    table.drop(columns="species").to_csv("new.csv", index=False)
    commands = _commands()
    assert [c[0] for c in commands] == ["train", "predict", "evaluate"], commands
    for argv in commands:
        code, _, err = call(capsys, *argv)
        assert code == 0, (argv, err)
    assert len(pd.read_csv("predictions.csv")) == len(table)
    python = [text for kind, text in BLOCKS if kind == "python"]
    assert len(python) >= 6
    namespace: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the short examples
        for text in python:
            if "resume_from=" in text:  # the checkpoint it resumes from, as its comment says
                exec("import deltaprop\nclf.set_params(max_iter=3, callbacks=[deltaprop."
                     "Checkpoint('run.ckpt', every=1)]).fit(X, y).set_params(max_iter=6)",
                     namespace)  # fmt: skip
            exec(compile(textwrap.dedent(text), "README.md", "exec"), namespace)
    capsys.readouterr()
    for made in ("copy.safetensors", "model.onnx", "model.safetensors", "run.ckpt"):
        assert (tmp_path / made).is_file(), made
