"""A callback that watches single batches keeps the compiled loop: the trainer calls it one
batch at a time (``deltaprop.train.sgd._compiled_batches``), with the batch hooks between
calls, and trains as the Python loop does (float64, 1e-12 relative)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import deltaprop
from deltaprop.core import fused as _fused
from deltaprop.train import trainer as training

pytest.importorskip("numba")


class Recorder(deltaprop.Callback):
    """Records every batch hook: (hook, epoch, batch, logs, samples seen, a weight)."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def on_batch_begin(self, trainer: Any, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.calls.append(("begin", trainer.epoch, batch, dict(logs or {}), trainer.samples_seen,
                           float(trainer.net.parameters[5])))  # fmt: skip

    def on_batch_end(self, trainer: Any, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.calls.append(("end", trainer.epoch, batch, dict(logs or {}), trainer.samples_seen,
                           float(trainer.net.parameters[5])))  # fmt: skip


def _fit(compiled: bool, monkeypatch: pytest.MonkeyPatch, dropout: float, shuffle: bool,
         opt: str) -> tuple[deltaprop.Trainer, Recorder]:  # fmt: skip
    real = training.CompiledLoop.create
    monkeypatch.setattr(training.CompiledLoop, "create",
                        staticmethod(real if compiled else lambda *a, **k: None))  # fmt: skip
    rng = np.random.default_rng(0)
    X = rng.standard_normal((103, 8))
    Y = np.eye(3)[rng.integers(0, 3, 103)]
    w = rng.uniform(0.5, 2.0, 103)
    if not shuffle:
        w[16:32] = 0.0  # batch 1 weighs nothing: no hook, no step, the indices go on
    net = deltaprop.Network([8, 24, 16, 3], ["tanh", "relu", "softmax"], "ce",
                            dropout=dropout, seed=3)  # fmt: skip
    rec = Recorder()
    tr = deltaprop.Trainer(net, opt, learning_rate=0.01, batch_size=16, epochs=2, seed=1,
                           tol=0.0, alpha=1e-3, clip_norm=1.0, shuffle=shuffle,
                           callbacks=[rec])  # fmt: skip
    tr.fit(X, Y, sample_weight=w)
    return tr, rec


@pytest.mark.parametrize(
    ("dropout", "shuffle", "opt"),
    [(0.0, False, "adam"), (0.2, True, "momentum")],
    ids=["zero-weight batch, adam", "dropout, shuffled, momentum"],
)
def test_batch_hooks_keep_the_compiled_loop(
    dropout: float, shuffle: bool, opt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fused, "MIN_SIZE", 0)
    c, rc = _fit(True, monkeypatch, dropout, shuffle, opt)
    assert c.engine == "compiled"
    p, rp = _fit(False, monkeypatch, dropout, shuffle, opt)
    assert p.engine == "python"
    np.testing.assert_allclose(c.net.parameters, p.net.parameters, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c.history.loss, p.history.loss, rtol=1e-12)
    assert c.optimizer.t == p.optimizer.t
    # every batch once: begin then end, the batch's index in its epoch (7 batches of 16 and
    # one of 7; without shuffling batch 1 weighs nothing and is not seen)
    batches = [0, *range(2, 7)] if not shuffle else list(range(7))
    expected = [(h, e, b) for e in range(2) for b in batches for h in ("begin", "end")]
    assert [x[:3] for x in rc.calls] == [x[:3] for x in rp.calls] == expected
    assert c.optimizer.t == 2 * len(batches)
    for a, b in zip(rc.calls, rp.calls, strict=True):
        assert a[3].keys() == b[3].keys() == ({"batch_size"} if a[0] == "begin" else
                                              {"batch_size", "loss"})  # fmt: skip
        assert a[3]["batch_size"] == b[3]["batch_size"] == (7 if a[2] == 6 else 16)
        if a[0] == "end":
            assert a[3]["loss"] == pytest.approx(b[3]["loss"], rel=1e-12)
        assert a[4] == b[4]  # the samples seen, counted batch by batch
        assert a[5] == pytest.approx(b[5], rel=1e-12, abs=1e-14)  # the step happened between
