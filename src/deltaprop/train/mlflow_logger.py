""":class:`MLflowLogger`: a run's settings and curves in MLflow, as it goes.

MLflow is an optional dependency (``pip install 'deltaprop[mlflow]'``, the light
``mlflow-skinny`` client, which logs to any tracking URI: a local folder, a server).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deltaprop.train.callbacks import Callback
from deltaprop.train.loggers import epoch_scalars, optional_import

__all__ = ["MLflowLogger", "trainer_params"]


def trainer_params(trainer: Any) -> dict[str, Any]:
    """The settings of ``trainer`` that :class:`MLflowLogger` logs as the run's parameters."""
    return {
        "layer_sizes": ",".join(map(str, trainer.net.layer_sizes)),
        "loss_function": trainer.net.loss.name,
        "optimizer": type(trainer.optimizer).__name__,
        "learning_rate": trainer.learning_rate,
        "schedule": type(trainer.schedule).__name__,
        "batch_size": trainer.batch_size,
        "epochs": trainer.epochs,
        "alpha": trainer.alpha,
        "clip_norm": trainer.clip_norm,
        "tol": trainer.tol,
        "n_iter_no_change": trainer.n_iter_no_change,
        "early_stopping": trainer.early_stopping,
        "validation_fraction": trainer.validation_fraction,
        "shuffle": trainer.shuffle,
    }


class MLflowLogger(Callback):
    """Log the trainer's settings when a fit begins and every history value each epoch.

    At train begin: the parameters :func:`trainer_params` (and ``params``), once per MLflow
    run (a second fit into the same run logs none: MLflow refuses to change a parameter).
    Each epoch: ``loss``, ``learning_rate``, with validation ``val_loss`` and
    ``val_score``, and ``grad_norm/layer_<l>`` (:func:`~deltaprop.train.loggers.epoch_scalars`;
    MLflow keeps the ``/``), at ``step`` = the epoch's number (1-based, counted over all
    fits, as ``history.csv``). At train end: the tags ``stop_reason`` and ``stop_message``;
    a run this logger started is then ended.

    Parameters
    ----------
    run : str, optional
        The id of an MLflow run to log into. By default the active run (``mlflow.start_run``
        around the fit), else a new run that the logger starts and ends.
    experiment : str, optional
        The experiment (by name, created if needed) of a run the logger starts.
    params : mapping, optional
        More parameters to log with the trainer's (the data's name, ...).

    Raises
    ------
    ImportError
        If ``mlflow`` is not installed, naming the pip extra.
    """

    def __init__(
        self, run: str | None = None, experiment: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self._mlflow = optional_import("mlflow", "mlflow", "MLflowLogger")
        if run is not None and not isinstance(run, str):
            raise TypeError(f"run must be an MLflow run id (str) or None. Received: run={run!r}")
        self.run = run
        self.experiment = experiment
        self.params = dict(params or {})
        self.run_id: str | None = None
        """The id of the run logged into, once a fit has begun."""
        self._owned = False
        self._logged_params: set[str] = set()

    def on_train_begin(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Find or start the run; log the parameters."""
        mlflow = self._mlflow
        active = mlflow.active_run()
        if self.run is not None and (active is None or active.info.run_id != self.run):
            mlflow.start_run(run_id=self.run)
            self._owned = True
        elif active is None:
            if self.experiment is not None:
                mlflow.set_experiment(self.experiment)
            mlflow.start_run()
            self._owned = True
        run_id = mlflow.active_run().info.run_id
        if run_id != self.run_id:
            self.run_id, self._logged_params = run_id, set()
        params = {**trainer_params(trainer), **self.params}
        new = {k: v for k, v in params.items() if k not in self._logged_params}
        if new:
            mlflow.log_params(new)
            self._logged_params.update(new)

    def on_epoch_end(self, trainer: Any, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Log the epoch's values at ``step=epoch + 1``."""
        self._mlflow.log_metrics(epoch_scalars(trainer, logs), step=epoch + 1)

    def on_train_end(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Tag why the fit stopped; end a run the logger started."""
        logs = logs or {}
        self._mlflow.set_tags(
            {
                "stop_reason": str(logs.get("stop_reason")),
                "stop_message": str(logs.get("stop_message")),
            }
        )
        self.end()

    def on_exception(self, trainer: Any, logs: dict[str, Any] | None = None) -> None:
        """Tag the exception that ended the fit (``"interrupted"`` for a Ctrl-C); end a run
        the logger started."""
        error = (logs or {}).get("exception")
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else "exception"
        self._mlflow.set_tags({"stop_reason": reason, "stop_message": repr(error)})
        self.end()

    def end(self) -> None:
        """End the run if the logger started it (also after an interrupted fit)."""
        if self._owned:
            self._mlflow.end_run()
            self._owned = False
