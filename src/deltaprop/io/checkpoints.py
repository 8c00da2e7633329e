"""The checkpoint file: a network, its random generator and a trainer's state, in one file.

A checkpoint is a safetensors container (:mod:`deltaprop.io.container`) of kind
``"checkpoint"`` and class ``"Network"``: the network's tensors under their model-file names
(:mod:`deltaprop.io.network_files`), plus the metadata ``checkpoint`` (JSON): the trainer's
state with each array replaced by ``{"$tensor": name}``, the optimizer and schedule class
names, the network's random generator state, ``target_epoch`` and ``finished``. The arrays
are stored under ``trainer/...`` and ``network_rng/...`` names next to the network's tensors.

This module knows the file, not the trainer: :mod:`deltaprop.train.checkpoint` saves a
:class:`~deltaprop.train.trainer.Trainer` into it, restores one from it, and resumes runs.

>>> import os, tempfile
>>> import numpy as np
>>> from deltaprop.core import Network
>>> net = Network([3, 4, 1], "tanh", "bce", seed=0)
>>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
>>> state = {"epoch": 2, "velocity": np.zeros(3)}
>>> _ = write_checkpoint_file(path, net, state, optimizer="SGD", schedule="Constant")
>>> contents = read_checkpoint_file(path, net, optimizer="SGD", schedule="Constant")
>>> contents.trainer_state["epoch"], sorted(contents.trainer_arrays)
(2, ['trainer/velocity'])
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deltaprop.core import Network
from deltaprop.io.container import (
    MODEL_KEYS,
    PathLike,
    atomic_write,
    base_meta,
    check_meta_keys,
    encode,
    read_container,
)
from deltaprop.io.errors import ModelFileError, naming_file
from deltaprop.io.network_files import (
    assign_network,
    network_section,
    network_tensors,
    sequential_layout,
)
from deltaprop.io.strict_json import parse_json, to_json

__all__ = ["CheckpointContents", "read_checkpoint_file", "write_checkpoint_file"]

_CHECKPOINT_KEYS = frozenset({"checkpoint"})
_CHECKPOINT_INFO = {"trainer_state", "optimizer", "schedule", "network_rng", "target_epoch",
                    "finished"}  # fmt: skip


def _split_arrays(obj: Any, prefix: str, out: dict[str, np.ndarray]) -> Any:
    """Replace each array in a nested state by ``{"$tensor": name}``, collecting them."""
    if isinstance(obj, np.ndarray):
        name = prefix
        if name in out:
            raise ValueError(f"two trainer state arrays map to the tensor name {name!r}")
        out[name] = obj.copy()
        return {"$tensor": name}
    if isinstance(obj, dict):
        return {k: _split_arrays(v, f"{prefix}/{k}", out) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_split_arrays(v, f"{prefix}/{i}", out) for i, v in enumerate(obj)]
    return obj


def _join_arrays(obj: Any, arrays: dict[str, np.ndarray], used: set[str]) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"$tensor"}:
            name = obj["$tensor"]
            if not isinstance(name, str) or name not in arrays:
                raise ModelFileError(f"checkpoint refers to a missing tensor {name!r}")
            if name in used:
                raise ModelFileError(f"checkpoint refers twice to the tensor {name!r}")
            used.add(name)
            return arrays[name]
        return {k: _join_arrays(v, arrays, used) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_arrays(v, arrays, used) for v in obj]
    return obj


def write_checkpoint_file(
    path: PathLike,
    net: Network,
    trainer_state: dict[str, Any],
    *,
    optimizer: str,
    schedule: str,
    target_epoch: int | None = None,
    finished: bool = False,
) -> Path:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : str or path-like
    net : Network
        Its weights, running statistics and random generator (dropout masks) are stored.
    trainer_state : dict
        JSON-able values and NumPy arrays (stored as ``trainer/<key>/...`` tensors).
    optimizer, schedule : str
        Class names, checked again when the file is read.
    target_epoch : int, optional
    finished : bool, default=False

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError
        If an array of the state holds NaN or infinity.
    """
    tensors = network_tensors(net)
    arrays: dict[str, np.ndarray] = {}
    state = _split_arrays(trainer_state, "trainer", arrays)
    rng_state = _split_arrays(net.rng.bit_generator.state, "network_rng", arrays)
    for name, arr in arrays.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"the trainer state array {name!r} contains NaN or infinity")
    tensors.update(arrays)
    info = {
        "trainer_state": state,
        "optimizer": optimizer,
        "schedule": schedule,
        "network_rng": rng_state,
        "target_epoch": None if target_epoch is None else int(target_epoch),
        "finished": bool(finished),
    }
    meta = base_meta("checkpoint", "Network", net.get_config())
    meta["layout"] = to_json(sequential_layout(net), "layout")
    meta["checkpoint"] = to_json(info, "checkpoint")
    return atomic_write(path, encode(tensors, meta))


@dataclass(frozen=True)
class CheckpointContents:
    """What :func:`read_checkpoint_file` found, checked.

    Attributes
    ----------
    trainer_state : dict
        The trainer's state, its arrays back in place.
    trainer_arrays : dict of str to ndarray
        Those arrays by tensor name (``trainer/...``, ``network_rng/...``).
    network_rng : dict
        The network's random generator state.
    target_epoch : int or None
    finished : bool
    network_tensors : dict of str to ndarray
        The network's weights and statistics, for :meth:`assign_network`.
    """

    trainer_state: dict[str, Any]
    trainer_arrays: dict[str, np.ndarray]
    network_rng: dict[str, Any]
    target_epoch: int | None
    finished: bool
    network_tensors: dict[str, np.ndarray]

    def assign_network(self, net: Network) -> None:
        """Copy the checkpoint's weights and running statistics into ``net``."""
        assign_network(net, self.network_tensors)


def read_checkpoint_file(
    path: PathLike, net: Network, *, optimizer: str, schedule: str
) -> CheckpointContents:
    """Read and check a checkpoint written for ``net`` by the given optimizer and schedule.

    The whole file is checked: the container, the network's configuration (it must be
    ``net``'s), the class names, the metadata and every tensor reference.

    Parameters
    ----------
    path : str or path-like
    net : Network
        The network the checkpoint is to be restored into (not changed here).
    optimizer, schedule : str
        The class names the trainer has.

    Returns
    -------
    CheckpointContents

    Raises
    ------
    ModelFileError
        For any problem with the file or a mismatch with ``net``, ``optimizer``, ``schedule``
        (the message names the file).
    """
    with naming_file(path):
        return _read(path, net, optimizer, schedule)


def _read(path: PathLike, net: Network, optimizer: str, schedule: str) -> CheckpointContents:
    meta, tensors = read_container(path)
    check_meta_keys(meta, "checkpoint", MODEL_KEYS | _CHECKPOINT_KEYS)
    if meta["class"] != "Network":
        raise ModelFileError(f"checkpoint class must be 'Network'. Received: {meta['class']!r}")
    config, arrays = network_section(meta, tensors)
    own = parse_json(to_json(net.get_config(), "config"), "config")
    if config != own:
        diff = sorted(k for k in config if config[k] != own.get(k))
        raise ModelFileError(
            f"the checkpoint was written for a different network (differs in {', '.join(diff)}): "
            f"file has {[config[k] for k in diff]}, the trainer's network has "
            f"{[own[k] for k in diff]}"
        )
    info = parse_json(meta["checkpoint"], "metadata 'checkpoint'")
    if not isinstance(info, dict) or set(info) != _CHECKPOINT_INFO:
        got = sorted(info) if isinstance(info, dict) else type(info).__name__
        raise ModelFileError(
            f"metadata 'checkpoint' must have the keys {sorted(_CHECKPOINT_INFO)}. Received: {got}"
        )
    for key, name in (("optimizer", optimizer), ("schedule", schedule)):
        if info[key] != name:
            raise ModelFileError(
                f"the checkpoint was written with the {key} {info[key]!r} but the trainer has "
                f"{name!r}"
            )
    target, finished = info["target_epoch"], info["finished"]
    if not (target is None or (isinstance(target, int) and not isinstance(target, bool))):
        raise ModelFileError(f"checkpoint target_epoch must be an int. Received: {target!r}")
    if not isinstance(finished, bool):
        raise ModelFileError(f"checkpoint finished must be a bool. Received: {finished!r}")
    used: set[str] = set()
    state = _join_arrays(info["trainer_state"], arrays, used)
    rng_state = _join_arrays(info["network_rng"], arrays, used)
    if set(arrays) - used:
        raise ModelFileError(f"unexpected tensors: {', '.join(sorted(set(arrays) - used))}")
    if not isinstance(state, dict):
        raise ModelFileError("checkpoint trainer_state must be a JSON object")
    network = {k: v for k, v in tensors.items() if "/" not in k}
    return CheckpointContents(state, arrays, rng_state, target, finished, network)
