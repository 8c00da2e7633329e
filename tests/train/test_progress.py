"""The one reporter and its callbacks: scikit-learn's verbose lines, the progress bar's time
left and its progress inside long epochs (deltaprop.train.progress)."""

from __future__ import annotations

import io
import types
from typing import Any

import numpy as np
import pytest

from deltaprop import Network, Trainer
from deltaprop.core import fused
from deltaprop.train import Callback, ProgressBar, Reporter, VerboseLines
from deltaprop.train.progress import PROGRESS_PARTS, eta_text


def test_verbose_lines_are_sklearns_text_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40).astype(float)
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    trainer = Trainer(net, "sgd", learning_rate=0.1, epochs=2, seed=0, callbacks=[VerboseLines()])
    history = trainer.fit(X, y, validation_data=(X, y))
    expected = "".join(
        f"Iteration {i + 1}, loss = {loss:.8f}\nValidation score: {score:f}\n"
        for i, (loss, score) in enumerate(zip(history.loss, history.val_score, strict=True))
    )
    assert capsys.readouterr().out == expected
    trainer.fit(X, y)  # a second fit counts from 1 again
    assert capsys.readouterr().out.startswith("Iteration 1, loss = ")


def test_verbose_lines_of_a_plateau_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    """scikit-learn's adaptive texts: a line at each cut, the last when the rate is spent."""
    from deltaprop.optim import ReduceOnPlateau

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40).astype(float)
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    plateau = ReduceOnPlateau(patience=1, tol=100.0, min_lr=1e-3)
    trainer = Trainer(net, "sgd", learning_rate=0.1, schedule=plateau, epochs=50, seed=0,
                      callbacks=[VerboseLines()])  # fmt: skip
    trainer.fit(X, y)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if not ln.startswith("Iteration")]
    said = "Training loss did not improve more than tol=100.000000 for 1 consecutive epochs."
    assert lines == [
        f"{said} Setting learning rate to 0.020000",
        f"{said} Setting learning rate to 0.004000",
        f"{said} Setting learning rate to 0.000800",
        f"{said} Learning rate too small. Stopping.",
    ]
    assert len(trainer.history.loss) == 9  # 1 (the first sets the best), then 2 per line


def test_reporter_writes_to_its_stream() -> None:
    out = io.StringIO()
    VerboseLines(Reporter(out)).on_epoch_end(None, 0, {"loss": 0.5})
    assert out.getvalue() == "Iteration 1, loss = 0.50000000\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def bar_fields(bar: ProgressBar) -> tuple[float, str, str]:
    task = bar._progress.tasks[0]
    return task.completed, task.fields["eta"], task.fields["info"]


def test_progress_bar_eta_and_in_epoch_updates_with_a_fake_clock() -> None:
    from rich.console import Console

    clock = FakeClock()
    bar = ProgressBar(console=Console(file=io.StringIO()), clock=clock)
    run = types.SimpleNamespace(epoch=0, epochs=10)
    bar.on_train_begin(run)
    assert bar_fields(bar) == (0, "", "")
    clock.now += 2.0  # the first epoch took 2 s: 9 left, 18 s
    bar.on_epoch_end(run, 0, {"loss": 0.25})
    assert bar_fields(bar) == (1, "ETA 0:18", "loss 0.2500")
    clock.now += 1.0  # half of epoch 2 in 1 s: 3 s for 1.5 epochs, 8.5 left
    bar.on_epoch_progress(run, 1, {"samples": 500, "samples_total": 1000})
    assert bar_fields(bar) == (1.5, "ETA 0:17", "epoch 2: 50%  loss 0.2500")
    clock.now += 0.25  # too soon to redraw
    bar.on_epoch_progress(run, 1, {"samples": 600, "samples_total": 1000})
    assert bar_fields(bar)[0] == 1.5
    clock.now += 0.25  # 0.5 s after the last redraw
    bar.on_epoch_progress(run, 1, {"samples": 700, "samples_total": 1000})
    assert bar_fields(bar)[:2] == (1.7, "ETA 0:17")  # 3.5 s / 1.7 epochs x 8.3 left = 17.1 s
    bar.stop()


class Watch(Callback):
    def __init__(self) -> None:
        self.samples: list[tuple[int, int, int]] = []

    def on_epoch_progress(
        self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None
    ) -> None:
        assert logs is not None
        self.samples.append((epoch, logs["samples"], logs["samples_total"]))


def long_epochs(callbacks: list[Any], **kw: Any) -> Network:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3))
    y = (X[:, 0] > 0).astype(float)
    net = Network([3, 1024, 1], "tanh", "bce", seed=0, **kw)  # enough weights to compile
    Trainer(net, "adam", batch_size=10, epochs=2, seed=0, callbacks=callbacks).fit(X, y)
    return net


@pytest.mark.skipif(not fused.enabled(), reason="compiled kernels switched off (DELTAPROP_FUSED=0)")
def test_the_compiled_loop_reports_long_epochs_in_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    from deltaprop.fast import CompiledLoop

    calls = []
    epoch = CompiledLoop.epoch

    def counted(self: Any, order: np.ndarray, *a: Any) -> Any:
        calls.append(order.size)
        return epoch(self, order, *a)

    monkeypatch.setattr(CompiledLoop, "epoch", counted)
    watch = Watch()
    net = long_epochs([watch])
    assert calls == [200] * (2 * PROGRESS_PARTS)  # 400 batches of 10: 20 calls of 20 batches
    assert watch.samples == [(e, 200 * k, 4000) for e in (0, 1) for k in range(1, 21)]
    calls.clear()
    plain = long_epochs([])
    assert calls == [4000, 4000]  # nobody watches: one call an epoch
    np.testing.assert_array_equal(net.parameters, plain.parameters)  # the same steps


def test_the_python_loop_reports_every_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    from deltaprop.fast import CompiledLoop

    monkeypatch.setattr(CompiledLoop, "create", staticmethod(lambda *a, **k: None))
    watch = Watch()
    long_epochs([watch])  # no compiled loop: the Python loop
    assert watch.samples[:3] == [(0, 10, 4000), (0, 20, 4000), (0, 30, 4000)]
    assert len(watch.samples) == 800


def test_eta_text() -> None:
    assert [eta_text(s) for s in (0, 59.6, 3600, -1.0)] == [
        "ETA 0:00",
        "ETA 1:00",
        "ETA 1:00:00",
        "",
    ]


def test_compile_notices_print_above_the_bar_and_leave_the_time_left() -> None:
    import logging

    from rich.console import Console

    clock, text = FakeClock(), io.StringIO()
    bar = ProgressBar(console=Console(file=text, width=200), clock=clock)
    run = types.SimpleNamespace(epoch=0, epochs=10)
    logger = logging.getLogger(fused.COMPILE_LOGGER)
    logger.info("before the bar: not shown")
    bar.on_train_begin(run)
    logger.info("compiling the training loop for float32: once on this machine")
    clock.now += 32.0  # 30 s compiling, then a first epoch of 2 s: 9 left, 18 s
    logger.info("compiled the training loop for float32 in 30 s", extra={"seconds": 30.0})
    bar.on_epoch_end(run, 0, {"loss": 0.25})
    assert bar_fields(bar)[1] == "ETA 0:18"
    bar.stop()
    logger.info("after the bar: not shown")
    shown = text.getvalue()
    assert "note: compiling the training loop for float32: once on this machine" in shown
    assert "note: compiled the training loop for float32 in 30 s" in shown
    assert "not shown" not in shown
    assert logger.level == logging.NOTSET and not logger.handlers  # as it was


def test_the_bar_fits_80_columns_the_losses_shortened_first() -> None:
    """Captured output is 80 columns wide: the epoch count, the bar, the time and the time
    left are whole; only the losses are cut short (they were, with everything else)."""
    import re

    from rich.console import Console

    from deltaprop.train.progress import BAR_WIDTH

    text = io.StringIO()
    bar = ProgressBar(3000, Console(file=text, width=80), "accuracy", label="epoch")
    run = types.SimpleNamespace(epoch=0, epochs=3000)
    bar.on_train_begin(run)
    for epoch in range(3000):
        bar.on_epoch_end(run, epoch, {"loss": 0.123456, "val_loss": 0.0345, "val_score": 0.98})
    bar.stop()
    last = text.getvalue().splitlines()[-1]
    assert len(last) <= 80
    assert re.match(
        rf"epoch 3000/3000 ━{{{BAR_WIDTH}}} \d:\d\d:\d\d ETA 0:00 loss 0\.1235  val loss 0\.0…$",
        last,
    ), last


def test_verbose_lines_show_a_compile_notice_and_release_the_logger() -> None:
    import io
    import logging

    from deltaprop.core import fused

    class Compiles(Callback):  # a first fit's compile, as announce_compiles logs it
        def on_epoch_begin(
            self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None
        ) -> None:
            if epoch == 0:
                logging.getLogger(fused.COMPILE_LOGGER).info("compiling the training loop")

    out = io.StringIO()
    net = Network([2, 3, 1], "tanh", "bce", seed=0)
    Trainer(net, epochs=2, seed=0, callbacks=[Compiles(), VerboseLines(Reporter(out))]).fit(
        np.eye(2), [0.0, 1.0]
    )
    lines = out.getvalue().splitlines()
    assert lines[0] == "note: compiling the training loop" and lines[1].startswith("Iteration 1")
    assert logging.getLogger(fused.COMPILE_LOGGER).handlers == []
