"""The compile notices of the training loop (logger ``deltaprop.compile``) in ``deltaprop
train``: each printed once, before the progress bar exists (``--hidden auto``'s
cross-validation), above it, and with ``--quiet``; the logger left as it was."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from deltaprop.app import fitting
from deltaprop.core import fused
from deltaprop.train import Callback
from tests.app.clitools import PENGUINS, call


class _LogInFirstEpoch(Callback):
    """Logs a notice at the end of the fit's first epoch (the bar, if any, is shown)."""

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch == 0:
            logging.getLogger(fused.COMPILE_LOGGER).info("compiling in the first epoch")


@pytest.mark.parametrize("quiet", [False, True])
def test_each_compile_notice_is_printed_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    quiet: bool,
) -> None:  # fmt: skip
    logger = logging.getLogger(fused.COMPILE_LOGGER)
    real = fitting.fit_estimator

    def fit(*args: Any, callbacks: Any = (), **kwargs: Any) -> Any:
        logger.info("compiling before the fit")  # as --hidden auto's choice does
        result = real(*args, callbacks=[*callbacks, _LogInFirstEpoch()], **kwargs)
        logger.info("compiled in 3 s", extra={"seconds": 3.0})
        return result

    monkeypatch.setattr(fitting, "fit_estimator", fit)
    logger.info("before the command: not shown")
    code, text, err = call(
        capsys, "train", PENGUINS, "--target", "species", "--ignore", "id", "--hidden", "8",
        "--epochs", "3", "--no-report", "--out", tmp_path / "run", *(["--quiet"] * quiet),
    )  # fmt: skip
    assert code == 0, err
    for message in ("compiling before the fit", "compiling in the first epoch", "compiled in 3 s"):
        assert text.count(f"note: {message}") == 1, text
    assert "not shown" not in text
    assert logger.level == logging.NOTSET and not logger.handlers  # as it was
    logger.info("after the command: not shown")
    assert "not shown" not in capsys.readouterr().out
