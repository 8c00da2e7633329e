"""The checkpoint file: a network, its random generator and a trainer's state, in one file.

A checkpoint is a safetensors container (:mod:`deltaprop.io.container`) of kind
``"checkpoint"`` and class ``"Network"``: the network's tensors under their model-file names
(:mod:`deltaprop.io.network_files`), plus the metadata ``checkpoint`` (JSON): the trainer's
state with each array replaced by ``{"$tensor": name}``, the optimizer and schedule class
names, the network's random generator state, ``target_epoch``, ``finished`` and, since 0.2,
``run`` (a JSON object or null: what the writer needs to recognise its run on resume, such
as a fingerprint of the settings and the data, and the training seconds so far; files
without it still load, with ``run`` None). The arrays
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

import math
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
    read_network_tensors,
    sequential_layout,
)
from deltaprop.io.strict_json import parse_json, to_json

__all__ = [
    "CheckpointContents",
    "read_checkpoint_file",
    "read_checkpoint_run",
    "write_checkpoint_file",
]

_CHECKPOINT_KEYS = frozenset({"checkpoint"})
_CHECKPOINT_INFO = {"trainer_state", "optimizer", "schedule", "network_rng", "target_epoch",
                    "finished"}  # fmt: skip
_CHECKPOINT_OPTIONAL = frozenset({"run"})


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


def _references(obj: Any, out: list[Any]) -> list[Any]:
    """The ``{"$tensor": name}`` names in a nested state."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if set(item) == {"$tensor"}:
                out.append(item["$tensor"])
            else:
                stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return out


def _check_references(info: dict[str, Any], names: set[str]) -> None:
    """Every tensor referred to exists, once, and every state tensor is referred to (before
    any tensor is read)."""
    refs = _references(info["network_rng"], _references(info["trainer_state"], []))
    for name in refs:
        if not isinstance(name, str) or name not in names:
            raise ModelFileError(f"checkpoint refers to a missing tensor {name!r}"[:300])
    if len(set(refs)) != len(refs):
        twice = sorted({n for n in refs if refs.count(n) > 1})
        raise ModelFileError(f"checkpoint refers twice to the tensor {twice[0]!r}")
    if names - set(refs):
        raise ModelFileError(f"unexpected tensors: {', '.join(sorted(names - set(refs)))}"[:300])


_COUNTERS = ("epoch", "samples_seen", "no_improvement", "split_seed")
_HISTORY_CURVES = ("loss", "val_loss", "val_score", "learning_rate")
_INT64_MAX = 2**63 - 1


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _INT64_MAX


def _is_number(value: Any) -> bool:
    """An int or float that is a float64 (NaN and infinities included: curves record them)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return isinstance(value, float) or abs(value) <= _INT64_MAX


def check_trainer_state(state: dict[str, Any]) -> None:
    """The fields of a trainer's state that the file can check on its own, where present.

    Counters (``epoch``, ``samples_seen``, ``no_improvement``, ``split_seed``) are integers
    in ``[0, 2**63)``; ``best_metric`` is a number or null, ``best_epoch`` null or an epoch
    before ``epoch``; ``history`` maps its curves to lists of numbers (``grad_norms`` to
    lists of lists) and holds one loss per epoch done.

    Raises
    ------
    ModelFileError
        Naming the field and the value received.
    """
    for key in _COUNTERS:
        if key in state and not _is_count(state[key]):
            raise ModelFileError(
                f"checkpoint trainer_state {key!r} must be an integer in [0, 2**63). "
                f"Received: {state[key]!r}"[:300]
            )
    if "best_metric" in state and not (
        state["best_metric"] is None or _is_number(state["best_metric"])
    ):
        raise ModelFileError(
            f"checkpoint trainer_state 'best_metric' must be a number or null. "
            f"Received: {state['best_metric']!r}"[:300]
        )
    best_epoch = state.get("best_epoch")
    if best_epoch is not None and not (
        _is_count(best_epoch) and ("epoch" not in state or best_epoch < state["epoch"])
    ):
        raise ModelFileError(
            f"checkpoint trainer_state 'best_epoch' must be null or an epoch before 'epoch' "
            f"({state.get('epoch')!r}). Received: {best_epoch!r}"[:300]
        )
    if "history" not in state:
        return
    history = state["history"]
    if not isinstance(history, dict):
        raise ModelFileError(
            "checkpoint trainer_state 'history' must be a JSON object. "
            f"Received: {type(history).__name__}"
        )
    for key, curve in history.items():
        rows = curve if key == "grad_norms" and isinstance(curve, list) else [curve]
        if key not in (*_HISTORY_CURVES, "grad_norms") or not all(
            isinstance(row, list) and all(_is_number(v) for v in row) for row in rows
        ):
            raise ModelFileError(
                f"checkpoint trainer_state 'history' {key!r} must be a list of numbers"
                f"{' lists' if key == 'grad_norms' else ''}. Received: {curve!r}"[:300]
            )
    if "epoch" in state and len(history.get("loss", [])) != state["epoch"]:
        raise ModelFileError(
            f"checkpoint trainer_state 'epoch' is {state['epoch']} but its 'history' records "
            f"{len(history.get('loss', []))} epochs of loss"
        )


def write_checkpoint_file(
    path: PathLike,
    net: Network,
    trainer_state: dict[str, Any],
    *,
    optimizer: str,
    schedule: str,
    target_epoch: int | None = None,
    finished: bool = False,
    run: dict[str, Any] | None = None,
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
    run : dict, optional
        JSON-able facts about the run (a fingerprint of its settings and data, its seconds),
        returned as :attr:`CheckpointContents.run` and by :func:`read_checkpoint_run`.

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
        "run": None if run is None else dict(run),
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
    run : dict or None
        The writer's facts about the run (None in files written before it existed).
    """

    trainer_state: dict[str, Any]
    trainer_arrays: dict[str, np.ndarray]
    network_rng: dict[str, Any]
    target_epoch: int | None
    finished: bool
    network_tensors: dict[str, np.ndarray]
    run: dict[str, Any] | None = None

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
    meta, table = read_container(path)
    check_meta_keys(meta, "checkpoint", MODEL_KEYS | _CHECKPOINT_KEYS)
    if meta["class"] != "Network":
        raise ModelFileError(f"checkpoint class must be 'Network'. Received: {meta['class']!r}")
    config, state_names = network_section(meta, table)
    n_params = sum(
        math.prod(table[k].shape)
        for k in table
        if "/" not in k and k.endswith((".weight", ".bias"))
    )
    for name in state_names:  # the trainer's arrays are the flat buffer's size or smaller
        if math.prod(table[name].shape) > n_params:
            raise ModelFileError(
                f"tensor {name!r} has shape {table[name].shape}, more elements than the "
                f"network's {n_params} parameters"
            )
    own = parse_json(to_json(net.get_config(), "config"), "config")
    if config != own:
        diff = sorted(k for k in config if config[k] != own.get(k))
        raise ModelFileError(
            f"the checkpoint was written for a different network (differs in {', '.join(diff)}): "
            f"file has {[config[k] for k in diff]}, the trainer's network has "
            f"{[own[k] for k in diff]}"
        )
    info = _checkpoint_info(meta)
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
    if not isinstance(info["trainer_state"], dict):
        raise ModelFileError("checkpoint trainer_state must be a JSON object")
    check_trainer_state(info["trainer_state"])
    _check_references(info, set(state_names))
    arrays = table.read(state_names)
    used: set[str] = set()
    state = _join_arrays(info["trainer_state"], arrays, used)
    rng_state = _join_arrays(info["network_rng"], arrays, used)
    if set(arrays) - used:
        raise ModelFileError(f"unexpected tensors: {', '.join(sorted(set(arrays) - used))}")
    network = read_network_tensors(table)
    return CheckpointContents(state, arrays, rng_state, target, finished, network, info["run"])


def _checkpoint_info(meta: dict[str, str]) -> dict[str, Any]:
    """The metadata ``checkpoint``, its keys checked (``run`` None where absent)."""
    info = parse_json(meta["checkpoint"], "metadata 'checkpoint'")
    keys = set(info) if isinstance(info, dict) else set()
    if not isinstance(info, dict) or not (
        _CHECKPOINT_INFO <= keys <= _CHECKPOINT_INFO | _CHECKPOINT_OPTIONAL
    ):
        got = sorted(info) if isinstance(info, dict) else type(info).__name__
        raise ModelFileError(
            f"metadata 'checkpoint' must have the keys {sorted(_CHECKPOINT_INFO)} "
            f"(and optionally 'run'). Received: {got}"[:300]
        )
    run = info.setdefault("run", None)
    if not (run is None or isinstance(run, dict)):
        raise ModelFileError(
            f"checkpoint 'run' must be a JSON object or null. Received: {run!r}"[:300]
        )
    return info


def read_checkpoint_run(path: PathLike) -> dict[str, Any] | None:
    """The ``run`` facts of a checkpoint, from its header alone (no tensor is read).

    Returns
    -------
    dict or None
        None for a checkpoint written before the field existed.

    Raises
    ------
    ModelFileError
        If the file is not a checkpoint (the message names the file).
    """
    with naming_file(path):
        meta, _ = read_container(path)
        check_meta_keys(meta, "checkpoint", MODEL_KEYS | _CHECKPOINT_KEYS)
        run: dict[str, Any] | None = _checkpoint_info(meta)["run"]
        return run
