"""A :class:`~deltaprop.train.trainer.Trainer`'s resumable state: what it holds beyond the
network's weights (optimizer, schedule, counters, generator, history, best weights), as
NumPy arrays and JSON-able values. The trainer is typed ``Any`` here so that this module
does not import the loop's."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np

from deltaprop.train.callbacks import History
from deltaprop.train.stopping import StopRecord

_PCG64_STATE = (
    'a PCG64 generator state ("bit_generator": "PCG64", "state": {"state", "inc"}: integers '
    'in [0, 2**128), "has_uint32": 0 or 1, "uinteger": an integer in [0, 2**32))'
)


def check_generator_state(name: str, state: Any) -> dict[str, Any]:
    """``state`` if it is a NumPy ``PCG64`` generator state, else a ``ValueError`` naming
    the field ``name`` and showing the value (not Python's own message about it)."""

    def whole(v: Any, bits: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**bits

    inner = state.get("state") if isinstance(state, dict) else None
    ok = (
        isinstance(state, dict)
        and set(state) == {"bit_generator", "state", "has_uint32", "uinteger"}
        and state["bit_generator"] == "PCG64"
        and isinstance(inner, dict)
        and set(inner) == {"state", "inc"}
        and whole(inner["state"], 128)
        and whole(inner["inc"], 128)
        and state["has_uint32"] in (0, 1)
        and whole(state["uinteger"], 32)
    )
    if not ok:
        text = json.dumps(state, default=repr)  # as the file holds it
        shown = text if len(text) <= 200 else text[:200] + "…"
        raise ValueError(f"{name} must be {_PCG64_STATE}; got {shown}")
    return dict(state)


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
    self.rng.bit_generator.state = check_generator_state("trainer_state.rng", state["rng"])
    self.optimizer.load_state_dict(state["optimizer"])
    self.schedule.load_state_dict(state["schedule"])
    self.history = History.from_dict(state["history"])
    stop = state.get("stop")  # absent from checkpoints written before it was kept
    self.history.stop = None if stop is None else StopRecord.from_dict(stop)
    bp = state.get("best_parameters")
    self.best_parameters = None if bp is None else np.array(bp, dtype=self.net.dtype)
    bb = state.get("best_buffers")
    self.best_buffers = None if bb is None else {k: np.array(v) for k, v in bb.items()}
