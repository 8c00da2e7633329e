"""Ctrl-C during ``deltaprop train``: the model, the history and the report are written as
for a normal end (marked as interrupted), the command that resumes is printed and works,
and the exit code is 130."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from deltaprop.app import runs
from deltaprop.app.cli import main
from deltaprop.app.interrupt import resume_command
from deltaprop.io import load
from deltaprop.train import Callback, StopOnInterrupt
from tests.app.clitools import PENGUINS, command, interrupt_at_the_first_checkpoint, load_quietly

COMMON = [
    "--target",
    "species",
    "--ignore",
    "id",
    "--quiet",
    "--checkpoint-every",
    "1",
    "--hidden",
    "32",
]


class CtrlCAfter(Callback):
    """Raise ``KeyboardInterrupt`` when ``n`` epochs of the fit are done (as if typed then);
    :attr:`start` is the epoch the fit started after."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.start = -1

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        self.start = trainer.epoch

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch + 1 == self.start + self.n:
            raise KeyboardInterrupt


def ctrl_c_after(monkeypatch: pytest.MonkeyPatch, n: int) -> CtrlCAfter:
    """The command's fit gets a Ctrl-C after ``n`` of its epochs."""
    ctrl_c = CtrlCAfter(n)
    monkeypatch.setattr(runs, "interrupt_callbacks", lambda args: [ctrl_c, StopOnInterrupt()])
    return ctrl_c


def resume_line(stdout: str) -> list[str]:
    (line,) = [s for s in stdout.splitlines() if s.startswith("resume with: ")]
    words = shlex.split(line.removeprefix("resume with: "))
    assert words[:2] == ["deltaprop", "train"]
    return words[1:]


def check_outputs(folder: Path, epochs: int) -> None:
    """The model (marked as interrupted), history and report of ``epochs`` epochs."""
    est, (config, _) = load(folder / "model.safetensors", return_extra=True)
    assert len(est.loss_curve_) == epochs
    stopped = config["run"]["settings"]["stopped"]
    assert stopped.startswith(f"interrupted in epoch {epochs + 1} (Ctrl-C) after ")
    history = pd.read_csv(folder / "history.csv")
    assert history["epoch"].tolist() == list(range(1, epochs + 1))
    page = (folder / "report" / "report.html").read_text(encoding="utf-8")
    assert "training was interrupted (Ctrl-C); the model has" in page


def test_ctrl_c_at_epoch_3_saves_model_report_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    args = ["train", str(PENGUINS), *COMMON, "--epochs", "6", "--no-early-stopping",
            "--out", str(out)]  # fmt: skip
    ctrl_c_after(monkeypatch, 3)
    assert main(args) == 130
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines()[-1] == "deltaprop: interrupted"
    assert "interrupted in epoch 4 (Ctrl-C) after 3 complete epochs" in captured.out
    assert "the model has the weights of epoch 3, the last complete one" in captured.out
    check_outputs(out, 3)
    resumed = resume_line(captured.out)
    assert resumed == [*args, "--resume", str(out / "checkpoint.safetensors"), "--force"]

    monkeypatch.undo()  # the resumed run is not interrupted: it trains the epochs left
    assert main(resumed) == 0
    est = load_quietly(out / "model.safetensors")
    assert len(est.loss_curve_) == 6
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1, 2, 3, 4, 5, 6]


def test_interrupted_with_early_stopping_keeps_the_best_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from deltaprop.app import fitting

    kept: dict[str, Any] = {}
    fit = fitting.fit_estimator

    def spy(est: Any, *a: Any, **k: Any) -> Any:
        info = fit(est, *a, **k)
        trainer = est._trainer
        kept["best"] = trainer.best_epoch + 1
        kept["equal"] = np.array_equal(trainer.best_parameters, est.network_.parameters)
        return info

    monkeypatch.setattr(fitting, "fit_estimator", spy)
    ctrl_c_after(monkeypatch, 4)
    out = tmp_path / "run"
    code = main(["train", str(PENGUINS), *COMMON, "--epochs", "9", "--early-stopping",
                 "--learning-rate", "0.3", "--out", str(out)])  # fmt: skip
    assert code == 130
    text = capsys.readouterr().out
    assert kept["equal"] and 1 <= kept["best"] <= 4
    assert f"the best weights so far (by validation), from epoch {kept['best']}" in text
    check_outputs(out, 4)


def test_without_a_checkpoint_it_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ctrl_c_after(monkeypatch, 2)
    out = tmp_path / "run"
    args = ["train", str(PENGUINS), "--target", "species", "--quiet", "--epochs", "5",
            "--out", str(out)]  # fmt: skip
    assert main(args) == 130
    text = capsys.readouterr().out
    assert "no checkpoint was written (--checkpoint-every N writes one to resume from)" in text
    assert "resume with" not in text
    assert len(load_quietly(out / "model.safetensors").loss_curve_) == 2


def test_resume_command_replaces_resume_and_force() -> None:
    argv = ["--debug", "train", "d.csv", "--resume=old.st", "--force", "--target", "a b"]
    assert resume_command(argv, Path("new.st")) == (
        "deltaprop --debug train d.csv --target 'a b' --resume new.st --force"
    )
    argv = ["train", "d.csv", "--resume", "old.st", "--epochs", "3"]
    assert resume_command(argv, Path("x")) == (
        "deltaprop train d.csv --epochs 3 --resume x --force"
    )


@pytest.mark.slow
def test_sigint_to_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real SIGINT to ``python -m deltaprop train`` once its first checkpoint (epoch 1)
    is written."""
    out = tmp_path / "run"
    args = ["train", str(PENGUINS), *COMMON, "--epochs", "100000", "--patience", "100000",
            "--no-early-stopping", "--out", str(out)]  # fmt: skip
    env = {**os.environ, "DELTAPROP_DISTRIBUTED": "0", "COLUMNS": "200"}
    proc = subprocess.Popen(
        command(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stdout, stderr = interrupt_at_the_first_checkpoint(proc, out)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "deltaprop: interrupted", stderr
    epochs = len(load_quietly(out / "model.safetensors").loss_curve_)
    assert epochs >= 1
    check_outputs(out, epochs)
    predictions = tmp_path / "predictions.csv"
    assert main(["predict", str(out / "model.safetensors"), str(PENGUINS), "-o",
                 str(predictions)]) == 0  # fmt: skip
    assert len(pd.read_csv(predictions)) == len(pd.read_csv(PENGUINS))
    resumed = resume_line(stdout)
    ctrl_c = ctrl_c_after(monkeypatch, 1)  # the resumed run, in-process, stopped again
    capsys.readouterr()
    assert main(resumed) == 130
    assert ctrl_c.start >= 1  # it went on from the checkpoint
    assert len(load_quietly(out / "model.safetensors").loss_curve_) == ctrl_c.start + 1
    assert "resume with: " in capsys.readouterr().out
