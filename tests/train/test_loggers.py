"""CSVLogger (train/loggers.py): one flushed row per epoch, the History's numbers."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deltaprop import Callback, CSVLogger, Network, Trainer


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    return X, (X[:, 0] - X[:, 1] > 0).astype(float)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_rows_hold_the_history(tmp_path: Path) -> None:
    X, y = _data()
    path = tmp_path / "history.csv"
    net = Network([3, 5, 1], "tanh", "binary_crossentropy", seed=0)
    tr = Trainer(
        net, "adam", epochs=4, validation_fraction=0.25, callbacks=[CSVLogger(path)], seed=0
    )
    h = tr.fit(X, y)
    rows = _rows(path)
    assert list(rows[0]) == ["epoch", "loss", "learning_rate", "val_loss", "val_score"]
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert [float(r["loss"]) for r in rows] == h.loss  # repr of a float round-trips
    assert [float(r["val_score"]) for r in rows] == h.val_score


def test_each_row_is_on_disk_when_its_epoch_ends(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    seen: list[int] = []

    class Reader(Callback):
        def on_epoch_end(self, trainer: Any, epoch: int, logs: Any = None) -> None:
            seen.append(len(_rows(path)))

    X, y = _data()
    net = Network([3, 5, 1], "tanh", "binary_crossentropy", seed=0)
    Trainer(net, "sgd", epochs=3, callbacks=[CSVLogger(path), Reader()], seed=0).fit(X, y)
    assert seen == [1, 2, 3]


def test_append_continues_a_file_and_separator(tmp_path: Path) -> None:
    X, y = _data()
    path = tmp_path / "h.tsv"
    net = Network([3, 5, 1], "tanh", "binary_crossentropy", seed=0)
    tr = Trainer(net, "adam", epochs=2, callbacks=[CSVLogger(path, "\t", append=True)], seed=0)
    tr.fit(X, y)
    tr.fit(X, y)
    lines = path.read_text().splitlines()
    assert lines[0] == "epoch\tloss\tlearning_rate" and len(lines) == 5
    with pytest.raises(ValueError, match="Received: separator=';;'"):
        CSVLogger(path, ";;")


def test_history_csv_is_what_the_logger_wrote(tmp_path: Path) -> None:
    from deltaprop.train import history_csv

    X, y = _data()
    path = tmp_path / "h.csv"
    net = Network([3, 5, 1], "tanh", "binary_crossentropy", seed=0)
    tr = Trainer(
        net, "adam", epochs=3, validation_fraction=0.25, callbacks=[CSVLogger(path)], seed=0
    )
    h = tr.fit(X, y)
    assert history_csv(h) == path.read_text().replace("\r\n", "\n")
