"""TensorBoardLogger: the event file, read back record by record, holds every value of the
History at each epoch."""

from __future__ import annotations

import struct
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from deltaprop import Network, Trainer
from deltaprop.train import TensorBoardLogger

pytest.importorskip("tensorboardX")


def read_scalars(log_dir: Path) -> dict[str, dict[int, float]]:
    """Every scalar of the event files in ``log_dir``: ``{tag: {step: value}}``, parsed from
    the TFRecord framing (length, CRC, Event protobuf, CRC)."""
    from tensorboardX.proto.event_pb2 import Event

    scalars: dict[str, dict[int, float]] = defaultdict(dict)
    for path in sorted(log_dir.glob("events.out.tfevents.*")):
        raw = path.read_bytes()
        at = 0
        while at < len(raw):
            (n,) = struct.unpack("<Q", raw[at : at + 8])
            event = Event.FromString(raw[at + 12 : at + 12 + n])
            at += 12 + n + 4
            for value in event.summary.value:
                scalars[value.tag][event.step] = value.simple_value
    return dict(scalars)


def test_every_history_value_at_every_epoch(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(float)
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    logger = TensorBoardLogger(tmp_path / "tb")
    h = Trainer(net, "adam", learning_rate=0.01, batch_size=16, epochs=5, seed=0,
                validation_fraction=0.2, callbacks=[logger]).fit(X, y)  # fmt: skip
    scalars = read_scalars(tmp_path / "tb")
    steps = [1, 2, 3, 4, 5]
    assert sorted(scalars) == sorted(
        ["loss", "learning_rate", "val_loss", "val_score", "grad_norm/layer_1", "grad_norm/layer_2"]
    )
    for tag, values in [("loss", h.loss), ("learning_rate", h.learning_rate),
                        ("val_loss", h.val_loss), ("val_score", h.val_score),
                        ("grad_norm/layer_1", [g[0] for g in h.grad_norms]),
                        ("grad_norm/layer_2", [g[1] for g in h.grad_norms])]:  # fmt: skip
        assert sorted(scalars[tag]) == steps
        # TensorBoard stores float32
        np.testing.assert_allclose([scalars[tag][s] for s in steps], values, rtol=1e-6)


def test_a_second_fit_goes_on_counting_epochs(tmp_path: Path) -> None:
    X = np.eye(2)
    net = Network([2, 3, 1], "tanh", "bce", seed=0)
    tr = Trainer(net, epochs=2, seed=0, callbacks=[TensorBoardLogger(tmp_path)])
    tr.fit(X, [0.0, 1.0])
    h = tr.fit(X, [0.0, 1.0])
    loss = read_scalars(tmp_path)["loss"]
    assert sorted(loss) == [1, 2, 3, 4]
    np.testing.assert_allclose([loss[s] for s in (1, 2, 3, 4)], h.loss, rtol=1e-6)


def test_without_tensorboardx_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails
    with pytest.raises(ImportError, match=r"pip install 'deltaprop\[tensorboard\]'"):
        TensorBoardLogger("anywhere")
