"""MLflowLogger, against a fake ``mlflow`` module injected in ``sys.modules`` (mlflow itself
is not installed in the test environment): the parameters at train begin, every History
value per epoch at step = the epoch's number, the stop tags, the run's start and end."""

from __future__ import annotations

import sys
import types
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from deltaprop import Network, Trainer
from deltaprop.train import MLflowLogger


class FakeMlflow(types.ModuleType):
    """The part of mlflow's fluent API that the logger uses, recording what it is given."""

    def __init__(self) -> None:
        super().__init__("mlflow")
        self.runs: dict[str, dict[str, Any]] = {}
        self.current: str | None = None
        self.experiment: str | None = None

    def _run(self) -> dict[str, Any]:
        assert self.current is not None, "logged outside a run"
        return self.runs[self.current]

    def active_run(self) -> Any:
        if self.current is None:
            return None
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id=self.current))

    def set_experiment(self, name: str) -> None:
        self.experiment = name

    def start_run(self, run_id: str | None = None) -> Any:
        assert self.current is None, "a run is active"
        run_id = run_id or f"run{len(self.runs)}"
        self.runs.setdefault(run_id, {"params": {}, "metrics": defaultdict(dict), "tags": {},
                                      "experiment": self.experiment, "ended": False})  # fmt: skip
        self.current = run_id
        return self.active_run()

    def end_run(self) -> None:
        self._run()["ended"] = True
        self.current = None

    def log_params(self, params: dict[str, Any]) -> None:
        run = self._run()
        assert not set(params) & set(run["params"]), "mlflow refuses to change a parameter"
        run["params"].update(params)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for k, v in metrics.items():
            self._run()["metrics"][k][step] = v

    def set_tags(self, tags: dict[str, str]) -> None:
        self._run()["tags"].update(tags)


@pytest.fixture
def mlflow(monkeypatch: pytest.MonkeyPatch) -> FakeMlflow:
    fake = FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    return fake


def data() -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(0).normal(size=(50, 3))
    return X, (X[:, 1] > 0).astype(float)


def fit(callbacks: list[Any], epochs: int = 4) -> tuple[Trainer, Any]:
    X, y = data()
    net = Network([3, 4, 1], "tanh", "bce", seed=0)
    tr = Trainer(net, "adam", learning_rate=0.02, batch_size=10, epochs=epochs, seed=0,
                 validation_fraction=0.2, callbacks=callbacks)  # fmt: skip
    return tr, tr.fit(X, y)


def test_params_metrics_and_tags_of_a_new_run(mlflow: FakeMlflow) -> None:
    logger = MLflowLogger(experiment="penguins", params={"data": "penguins.csv"})
    _, h = fit([logger])
    run = mlflow.runs[logger.run_id or ""]
    assert run["experiment"] == "penguins" and run["ended"] and mlflow.current is None
    assert run["params"]["layer_sizes"] == "3,4,1"
    assert run["params"]["optimizer"] == "Adam" and run["params"]["learning_rate"] == 0.02
    assert run["params"]["batch_size"] == 10 and run["params"]["data"] == "penguins.csv"
    curves = {"loss": h.loss, "learning_rate": h.learning_rate, "val_loss": h.val_loss,
              "val_score": h.val_score, "grad_norm/layer_1": [g[0] for g in h.grad_norms],
              "grad_norm/layer_2": [g[1] for g in h.grad_norms]}  # fmt: skip
    assert sorted(run["metrics"]) == sorted(curves)
    for name, values in curves.items():
        assert run["metrics"][name] == {k + 1: v for k, v in enumerate(values)}
    assert run["tags"]["stop_reason"] == "epochs"
    assert run["tags"]["stop_message"] == h.stop_message


def test_the_active_run_is_used_and_left_open(mlflow: FakeMlflow) -> None:
    mlflow.start_run(run_id="mine")
    logger = MLflowLogger()
    tr, _ = fit([logger], epochs=2)
    tr.fit(*data())  # a second fit: no parameter logged twice
    run = mlflow.runs["mine"]
    assert logger.run_id == "mine" and not run["ended"] and mlflow.current == "mine"
    assert sorted(run["metrics"]["loss"]) == [1, 2, 3, 4]


def test_a_run_id_is_resumed_and_ended(mlflow: FakeMlflow) -> None:
    mlflow.start_run(run_id="old")
    mlflow.end_run()
    logger = MLflowLogger(run="old")
    fit([logger], epochs=3)
    assert mlflow.runs["old"]["ended"] and sorted(mlflow.runs["old"]["metrics"]["loss"]) == [
        1,
        2,
        3,
    ]


def test_bad_run_and_missing_mlflow(mlflow: FakeMlflow, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(
        TypeError, match=r"run must be an MLflow run id \(str\) or None. Received: run=3"
    ):
        MLflowLogger(run=3)  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match=r"MLflowLogger needs mlflow, .*'deltaprop\[mlflow\]'"):
        MLflowLogger()
