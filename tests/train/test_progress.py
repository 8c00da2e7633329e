"""The one reporter and its callbacks: scikit-learn's verbose lines (deltaprop.train.progress)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from deltaprop import Network, Trainer
from deltaprop.train import Reporter, VerboseLines


def test_verbose_lines_are_sklearns_text_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40).astype(float)
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    trainer = Trainer(net, "sgd", learning_rate=0.1, epochs=2, seed=0, callbacks=[VerboseLines()])
    history = trainer.fit(X, y, validation_data=(X, y))
    expected = "".join(
        f"Iteration {i + 1}, loss = {loss:.8f}, validation score = {score:.6f}\n"
        for i, (loss, score) in enumerate(zip(history.loss, history.val_score, strict=True))
    )
    assert capsys.readouterr().out == expected
    trainer.fit(X, y)  # a second fit counts from 1 again
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")


def test_reporter_writes_to_its_stream() -> None:
    out = io.StringIO()
    VerboseLines(Reporter(out)).on_epoch_end(None, 0, {"loss": 0.5})
    assert out.getvalue() == "Iteration 1, loss = 0.50000000\n"
