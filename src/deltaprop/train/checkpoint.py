"""Training checkpoints that survive a crash: save, load, resume, and a callback.

A checkpoint (the file: :mod:`deltaprop.io.checkpoints`) holds the network's tensors and
random generator, plus the trainer's state (optimizer, schedule, counters, random generator
states, history, best weights). A run resumed from its last checkpoint ends with exactly the
weights of a run that was never interrupted.

>>> import os, tempfile
>>> import numpy as np
>>> from deltaprop import Network, Trainer
>>> from deltaprop.train.checkpoint import Checkpoint, resume
>>> X = np.random.default_rng(0).normal(size=(40, 3)); Y = (X[:, :1] > 0).astype(float)
>>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
>>> trainer = Trainer(Network([3, 4, 1], "tanh", "bce", seed=0), "adam", epochs=3, seed=0,
...                   callbacks=[Checkpoint(path, every=1)])
>>> _ = trainer.fit(X, Y)
>>> again = Trainer(Network([3, 4, 1], "tanh", "bce", seed=1), "adam", epochs=3, seed=1)
>>> history = resume(again, path, X, Y)  # the run had finished: nothing is left to train
>>> len(history.loss), bool(np.array_equal(again.net.parameters, trainer.net.parameters))
(3, True)
>>> history.stop_message
'nothing resumed: the run in the checkpoint had already ended; stopped at epoch 3: reached the epoch limit (epochs=3)'
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.core import Network
from deltaprop.io import ModelFileError, naming_file, read_checkpoint_file, write_checkpoint_file
from deltaprop.io.checkpoints import read_checkpoint_run
from deltaprop.train.state import check_generator_state
from deltaprop.train.stopping import StopRecord
from deltaprop.train.trainer import Callback, History, Trainer

__all__ = [
    "Checkpoint",
    "ResumeFrom",
    "checkpoint_run",
    "data_fingerprint",
    "jsonable",
    "load_checkpoint",
    "resume",
    "run_changes",
    "save_checkpoint",
    "setting_changes",
]

PathLike = str | os.PathLike[str]


def _rank(trainer: Trainer, rank: int | None) -> int:
    if rank is not None:
        return int(rank)
    comm = getattr(trainer, "communicator", None)
    return 0 if comm is None else int(comm.rank)


def _check_trainer_arrays(net: Network, arrays: dict[str, np.ndarray]) -> None:
    """Optimizer state and best weights must be laid out like the network's buffers."""
    flat = ((net.n_params,), net.dtype)
    buffers = {f"trainer/best_buffers/{k}": (v.shape, v.dtype) for k, v in net.buffers()}
    for name, arr in arrays.items():
        if name.startswith("trainer/optimizer/") or name == "trainer/best_parameters":
            expected = flat
        elif name.startswith("trainer/best_buffers/"):
            if name not in buffers:
                raise ModelFileError(f"unexpected tensor {name!r}: the network has no such buffer")
            expected = buffers[name]
        else:
            continue
        if (arr.shape, arr.dtype) != expected:
            raise ModelFileError(
                f"tensor {name!r} has shape {arr.shape} and dtype {arr.dtype}, but the network "
                f"needs shape {expected[0]} and dtype {expected[1]}"
            )


def save_checkpoint(
    trainer: Trainer,
    path: PathLike,
    *,
    rank: int | None = None,
    target_epoch: int | None = None,
    finished: bool = False,
    run: dict[str, Any] | None = None,
) -> Path | None:
    """Write everything needed to resume training exactly, atomically.

    The file holds the network's weights and running statistics (under the model-file
    names), the network's random generator (dropout masks), and ``trainer.state_dict()``:
    optimizer state, schedule state, the trainer's random generator, counters, history and
    best weights.

    Parameters
    ----------
    trainer : Trainer
    path : str or path-like
    rank : int, optional
        Write only when this is 0; by default the rank of ``trainer.communicator`` (0
        without one), so that under data parallelism one process writes.
    target_epoch : int, optional
        The epoch count at which the run ends; :func:`resume` trains up to it.
    finished : bool, default=False
        Mark a run that ended; :func:`resume` then trains no further.
    run : dict, optional
        JSON-able facts about the run (fingerprints of its settings and data, its training
        seconds), read back by :func:`checkpoint_run` and :func:`load_checkpoint`.

    Returns
    -------
    pathlib.Path or None
        ``path``, or None on ranks other than 0.
    """
    if _rank(trainer, rank) != 0:
        return None
    return write_checkpoint_file(
        path,
        trainer.net,
        trainer.state_dict(),
        optimizer=type(trainer.optimizer).__name__,
        schedule=type(trainer.schedule).__name__,
        target_epoch=target_epoch,
        finished=finished,
        run=run,
    )


def load_checkpoint(path: PathLike, trainer: Trainer) -> dict[str, Any]:
    """Restore a checkpoint written by :func:`save_checkpoint` into ``trainer``.

    The file is checked completely first; the trainer's network must have the same
    configuration, and the trainer the same optimizer and schedule classes. If restoring
    fails halfway, the trainer and its network are put back as they were.

    Parameters
    ----------
    path : str or path-like
    trainer : Trainer
        Built like the one that wrote the checkpoint.

    Returns
    -------
    dict
        ``{"epoch": int, "target_epoch": int or None, "finished": bool, "run": dict or
        None}`` (``run`` None for a file written before it existed).

    Raises
    ------
    ModelFileError
        For any problem with the file or a mismatch with ``trainer``.
    """
    net = trainer.net
    contents = read_checkpoint_file(
        path,
        net,
        optimizer=type(trainer.optimizer).__name__,
        schedule=type(trainer.schedule).__name__,
    )
    with naming_file(path):
        _check_trainer_arrays(net, contents.trainer_arrays)
        backup = (
            net.parameters.copy(),
            {k: v.copy() for k, v in net.buffers()},
            net.rng.bit_generator.state,
            trainer.state_dict(),
        )
        try:
            contents.assign_network(net)
            net.rng.bit_generator.state = check_generator_state("network_rng", contents.network_rng)
            trainer.load_state_dict(contents.trainer_state)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            net.parameters[...] = backup[0]
            net.set_buffers(backup[1])
            net.rng.bit_generator.state = backup[2]
            trainer.load_state_dict(backup[3])
            why = f"field {exc} is missing" if isinstance(exc, KeyError) else str(exc)
            raise ModelFileError(f"the checkpoint's trainer state does not fit: {why}") from None
    return {"epoch": trainer.epoch, "target_epoch": contents.target_epoch,
            "finished": contents.finished, "run": contents.run}  # fmt: skip


def resume(
    trainer: Trainer,
    path: PathLike,
    X: Any,
    Y: Any,
    sample_weight: Any = None,
    validation_data: tuple[Any, ...] | None = None,
) -> History:
    """Restore a checkpoint and train for the epochs the interrupted run had left.

    With the same data, a run resumed from the checkpoint of epoch ``k`` ends with exactly
    the weights of the run that was never interrupted (for the mini-batch optimizers; with
    ``validation_fraction`` the new :meth:`Trainer.fit` draws a new split, so pass
    ``validation_data`` instead; L-BFGS restarts its memory).

    A checkpoint of a run that had *ended* (its final checkpoint: a callback's
    ``stop_training``, early stopping or the tolerance, the epoch limit) trains nothing,
    as PyTorch Lightning's ``fit(ckpt_path=...)`` of a finished run does: the trainer holds
    the checkpoint's state and weights, and the returned history's ``stop`` is the run's own
    record with :attr:`~deltaprop.train.stopping.StopRecord.already_ended` set, so that
    ``stop_reason`` is why the run ended and ``stop_message`` says that nothing was resumed,
    at which epoch and why (``"nothing resumed: the run in the checkpoint had already
    ended; stopped at epoch 13: a callback (StopAt13) set stop_training"``). A checkpoint
    written before checkpoints kept that record gives ``stop_reason == "ended"``. To train
    such a run further, :func:`load_checkpoint` and call :meth:`Trainer.fit`.

    Parameters
    ----------
    trainer : Trainer
        Built like the interrupted one (same network, optimizer, schedule, settings).
    path : str or path-like
        A checkpoint from :func:`save_checkpoint` or :class:`Checkpoint`.
    X, Y, sample_weight, validation_data
        As for :meth:`Trainer.fit`.

    Returns
    -------
    History
        The history over the whole run.
    """
    info = load_checkpoint(path, trainer)
    target = info["target_epoch"]
    remaining = trainer.epochs if target is None else target - trainer.epoch
    if info["finished"] or remaining <= 0:
        trainer.history.stop = _ended(trainer, info["finished"], target)
        return trainer.history
    epochs = trainer.epochs
    trainer.epochs = remaining
    try:
        return trainer.fit(X, Y, sample_weight, validation_data)
    finally:
        trainer.epochs = epochs


def _ended(trainer: Trainer, finished: bool, target: int | None) -> StopRecord:
    """The stop record of a checkpoint's run that had ended, marked as such: its own (the
    final checkpoint's), or else the epoch limit that the checkpoint had reached."""
    stop, epoch = trainer.history.stop, trainer.epoch
    if finished and stop is not None:  # written at the end of the fit, after its record
        return replace(stop, already_ended=True)
    if target is not None and epoch >= target:  # the run's last epoch, as no fit recorded it
        start = max(target - trainer.epochs, 0)
        return StopRecord("epochs", epoch, limit=target - start, start=start, already_ended=True)
    return StopRecord("ended", epoch, already_ended=True)


class Checkpoint(Callback):
    """Write a checkpoint every ``every`` epochs and when training ends.

    Each write replaces ``path`` atomically, so a crash leaves the last complete checkpoint.
    Resume with :func:`resume` (or :func:`load_checkpoint` and :meth:`Trainer.fit`).

    Parameters
    ----------
    path : str or path-like
    every : int, default=1
        Write after epochs ``every``, ``2 every``, ... (counted over all fits).
    rank : int, optional
        Write only when this is 0; by default the rank of ``trainer.communicator``.
    at_end : bool, default=True
        Also write when :meth:`Trainer.fit` ends (marked finished).
    run : dict, optional
        JSON-able facts written in each checkpoint's ``run`` (a fingerprint of the
        settings and data, by section: the estimators add theirs under ``"estimator"``),
        with ``"seconds"``, the training time so far.
    seconds : float, default=0.0
        The training seconds before this callback's fits (those of the checkpoint a run
        resumes from); the time of each fit is added to it.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from deltaprop import Network, Trainer
    >>> from deltaprop.train.checkpoint import Checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
    >>> net = Network([2, 4, 1], "tanh", "bce", seed=0)
    >>> trainer = Trainer(net, epochs=3, seed=0, callbacks=[Checkpoint(path, every=1)])
    >>> _ = trainer.fit(np.eye(2), [0.0, 1.0])
    >>> os.path.exists(path)
    True
    """

    def __init__(
        self,
        path: PathLike,
        every: int = 1,
        *,
        rank: int | None = None,
        at_end: bool = True,
        run: dict[str, Any] | None = None,
        seconds: float = 0.0,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive integer. Received: every={every!r}")
        self.path = Path(path)
        self.every = every
        self.rank = rank
        self.at_end = bool(at_end)
        self.target_epoch: int | None = None
        self.run: dict[str, Any] = dict(run or {})
        self.seconds = float(seconds)
        self._started: float | None = None

    def elapsed(self) -> float:
        """The training seconds so far: :attr:`seconds` and the current fit's."""
        running = 0.0 if self._started is None else time.perf_counter() - self._started
        return self.seconds + running

    def _run(self) -> dict[str, Any]:
        return {**self.run, "seconds": self.elapsed()}

    def on_train_begin(self, trainer: Trainer, logs: dict[str, Any] | None = None) -> None:
        self.target_epoch = trainer.epoch + trainer.epochs
        self._started = time.perf_counter()

    def on_epoch_end(
        self, trainer: Trainer, epoch: int, logs: dict[str, Any] | None = None
    ) -> None:
        if (epoch + 1) % self.every == 0:
            save_checkpoint(
                trainer, self.path, rank=self.rank, target_epoch=self.target_epoch, run=self._run()
            )

    def on_train_end(self, trainer: Trainer, logs: dict[str, Any] | None = None) -> None:
        if self.at_end:
            save_checkpoint(trainer, self.path, rank=self.rank, target_epoch=self.target_epoch,
                            finished=True, run=self._run())  # fmt: skip
        self.seconds, self._started = self.elapsed(), None


# ------------------------------------------------------------ recognising a run on resume
@dataclass(frozen=True)
class ResumeFrom:
    """A checkpoint to resume from, and whether its run's settings and data may differ.

    ``fit(X, y, resume_from=ResumeFrom(path, allow_changes=True))`` resumes a checkpoint
    whose fingerprint does not match (warning, naming what changed) instead of refusing.
    """

    path: PathLike
    allow_changes: bool = False


def checkpoint_run(path: PathLike) -> dict[str, Any] | None:
    """The ``run`` facts of a checkpoint (fingerprints, seconds), from its header alone.

    Returns None for a checkpoint written before checkpoints carried them.

    Raises
    ------
    ModelFileError
        If the file is not a checkpoint.
    """
    return read_checkpoint_run(path)


def jsonable(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples as lists, keys as strings; other
    objects by ``repr``), so that a setting stored in a file compares equal to itself."""
    return json.loads(json.dumps(value, default=lambda o: f"<{type(o).__name__}>", sort_keys=True))


def data_fingerprint(*arrays: Any) -> str:
    """SHA-256 of arrays' dtypes, shapes and values in order (None and sparse allowed).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.arange(4.0)
    >>> data_fingerprint(a) == data_fingerprint(a.copy()), data_fingerprint(a) == data_fingerprint(a[::-1])
    (True, False)
    """
    digest = hashlib.sha256()
    for arr in arrays:
        if arr is None:
            digest.update(b"none;")
            continue
        if hasattr(arr, "tocsr"):  # scipy.sparse
            csr = arr.tocsr()
            digest.update(f"sparse{csr.shape};".encode())
            parts = [csr.data, csr.indices, csr.indptr]
        else:
            parts = [np.asarray(arr)]
        for part in parts:
            part = np.ascontiguousarray(part)
            if part.dtype == object:
                part = np.array([repr(v) for v in part.ravel()], dtype=str).reshape(part.shape)
            digest.update(f"{part.dtype.str}{part.shape};".encode())
            digest.update(part.tobytes())
    return digest.hexdigest()


def setting_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``"name: old → new"`` for each setting that differs (in ``new``'s order, then the
    ones ``new`` lacks); values compared as :func:`jsonable` makes them."""
    old, new = jsonable(old), jsonable(new)
    missing = "(not set)"
    return [
        f"{k}: {json.dumps(old.get(k, missing))} → {json.dumps(new.get(k, missing))}"
        for k in [*new, *(k for k in old if k not in new)]
        if old.get(k, missing) != new.get(k, missing)
    ]


def run_changes(
    run: dict[str, Any] | None, section: str, current: dict[str, Any]
) -> list[str] | None:
    """What differs between a checkpoint's fingerprint and the current run's.

    Parameters
    ----------
    run : dict or None
        The checkpoint's ``run`` facts (:func:`checkpoint_run`).
    section : str
        Whose fingerprint: ``"estimator"`` or ``"command"``.
    current : dict
        ``{"settings": dict, "data": str}``, the current run's.

    Returns
    -------
    list of str or None
        One ``"name: old → new"`` per changed setting, then ``"the data changed"``; None
        when the checkpoint has no such fingerprint (written before they existed).
    """
    old = (run or {}).get(section)
    if not isinstance(old, dict):
        return None
    changes = setting_changes(old.get("settings") or {}, current["settings"])
    if old.get("data") != current["data"]:
        changes.append("the data changed")
    return changes
