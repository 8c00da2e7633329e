"""A :class:`~deltaprop.train.trainer.Trainer`'s resumable state: what it holds beyond the
network's weights (optimizer, schedule, counters, generator, history, best weights), as
NumPy arrays and JSON-able values. The trainer is typed ``Any`` here so that this module
does not import the loop's."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from deltaprop.train.callbacks import History
from deltaprop.train.stopping import StopRecord


def _state_dict(self: Any) -> dict[str, Any]:
    """The :meth:`~deltaprop.train.trainer.Trainer.state_dict` of the trainer ``self``:
    everything needed to resume exactly: optimizer, schedule, counters, generator
    state, history, best weights (NumPy arrays and JSON-able values only), and the record
    of why the latest fit stopped (``None`` during the first fit)."""
    return {
        "epoch": self.epoch,
        "split_seed": self.split_seed,
        "samples_seen": self.samples_seen,
        "best_metric": self.best_metric,
        "best_epoch": self.best_epoch,
        "best_metric_epoch": self.best_metric_epoch,
        "no_improvement": self.no_improvement,
        "rng": copy.deepcopy(self.rng.bit_generator.state),
        "optimizer": self.optimizer.state_dict(),
        "schedule": self.schedule.state_dict(),
        "history": self.history.as_dict(),
        "stop": None if self.history.stop is None else self.history.stop.as_dict(),
        "best_parameters": None if self.best_parameters is None else self.best_parameters.copy(),
        "best_buffers": None
        if self.best_buffers is None
        else {k: v.copy() for k, v in self.best_buffers.items()},
    }


def _load_state_dict(self: Any, state: dict[str, Any]) -> None:
    """Restore :func:`_state_dict` output into the trainer ``self``."""
    self.epoch = int(state["epoch"])
    self.split_seed = int(state.get("split_seed", self.split_seed))
    self.samples_seen = int(state["samples_seen"])
    self.best_metric = float(state["best_metric"])
    self.best_epoch = None if state["best_epoch"] is None else int(state["best_epoch"])
    self.no_improvement = int(state["no_improvement"])
    bme = state.get("best_metric_epoch")
    self.best_metric_epoch = None if bme is None else int(bme)
    self.rng.bit_generator.state = state["rng"]
    self.optimizer.load_state_dict(state["optimizer"])
    self.schedule.load_state_dict(state["schedule"])
    self.history = History.from_dict(state["history"])
    stop = state.get("stop")  # absent from checkpoints written before it was kept
    self.history.stop = None if stop is None else StopRecord.from_dict(stop)
    bp = state.get("best_parameters")
    self.best_parameters = None if bp is None else np.array(bp, dtype=self.net.dtype)
    bb = state.get("best_buffers")
    self.best_buffers = None if bb is None else {k: np.array(v) for k, v in bb.items()}
