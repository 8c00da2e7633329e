"""A :class:`~deltaprop.core.network.Network` as named tensors (format version 1).

A network is stored under the names of the ``state_dict`` of the equivalent
``torch.nn.Sequential``, so ``safetensors.torch.load_file`` followed by
``Sequential.load_state_dict`` works as is. For each layer ``l = 1..L`` the Sequential holds,
at consecutive indices ``i``:

=========================  ===========================================  =====================
module                     tensors                                      when
=========================  ===========================================  =====================
``Linear(n_{l-1}, n_l)``   ``i.weight = W[l]`` (n_l, n_{l-1}),          always
                           ``i.bias = b[l]`` (n_l,)
``BatchNorm1d(n_l)``       ``i.weight = γ[l]``, ``i.bias = β[l]``,      hidden layer with
                           ``i.running_mean``, ``i.running_var`` (n_l,)  batch norm
                           ``i.num_batches_tracked`` (int64, shape ())
the activation             none (``Identity``, ``Sigmoid``, ``Tanh``,   always
                           ``ReLU``, ``LeakyReLU``, ``ELU``, ``GELU``,
                           ``Softplus``, ``Softmax(dim=1)``, ``Exp``)
``Dropout(p)``             none                                         hidden layer with
                                                                        dropout ``p > 0``
=========================  ===========================================  =====================

so a ``[4, 8, 3]`` network with tanh and softmax stores ``0.weight``, ``0.bias``,
``2.weight``, ``2.bias``. The list of modules is written to the metadata under ``"layout"``
(:func:`sequential_layout`). ``num_batches_tracked`` is written as 0: the running statistics
use a fixed momentum of 0.1 (PyTorch's default), for which PyTorch ignores that counter.
``Exp`` has no ``torch.nn`` class; define ``forward = torch.exp`` to load such a network.

Tensors whose names hold a ``/`` are not the network's: checkpoints keep the trainer's
state under ``trainer/...``, model files their extra section under ``extra/...``.

>>> from deltaprop.core import Network
>>> sorted(network_tensors(Network([4, 8, 3], ["tanh", "softmax"], "ce", seed=0)))
['0.bias', '0.weight', '2.bias', '2.weight']
"""

from __future__ import annotations

from typing import Any

import numpy as np

from deltaprop.core import ACTIVATIONS, Activation, BatchNorm, Network, get_activation
from deltaprop.io.container import TensorTable
from deltaprop.io.errors import ModelFileError
from deltaprop.io.strict_json import parse_json, to_json

__all__ = [
    "assign_network",
    "build_network",
    "check_network_values",
    "check_tensor_table",
    "checked_config",
    "network_section",
    "network_tensors",
    "read_network_tensors",
    "sequential_layout",
    "tensor_specs",
]

_NET_KEYS = {"layer_sizes", "activations", "loss", "init", "dtype", "dropout", "batch_norm"}


def _bad_config(message: str) -> ModelFileError:
    return ModelFileError(f"invalid network config: {message}")


def checked_config(config: Any) -> dict[str, Any]:
    """The structural checks that bound the tensor table; ``Network`` checks the rest."""
    if not isinstance(config, dict) or set(config) != _NET_KEYS:
        got = sorted(config) if isinstance(config, dict) else type(config).__name__
        raise _bad_config(f"expected the keys {sorted(_NET_KEYS)}. Received: {got}")
    sizes = config["layer_sizes"]
    if not (
        isinstance(sizes, list)
        and len(sizes) >= 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes)
    ):
        raise _bad_config(f"layer_sizes must be >= 2 positive integers. Received: {sizes!r}")
    L = len(sizes) - 1
    acts = config["activations"]
    if not (
        isinstance(acts, list)
        and len(acts) == L
        and all(isinstance(a, dict) and a.get("name") in ACTIVATIONS for a in acts)
    ):
        raise _bad_config(
            f"activations must be {L} configs with a known name. Received: {acts!r}"[:300]
        )
    bn, dropout = config["batch_norm"], config["dropout"]
    if not (isinstance(bn, list) and len(bn) == L - 1 and all(isinstance(b, bool) for b in bn)):
        raise _bad_config(f"batch_norm must list {L - 1} bools. Received: {bn!r}")
    if not (
        isinstance(dropout, list)
        and len(dropout) == L - 1
        and all(isinstance(r, int | float) and not isinstance(r, bool) for r in dropout)
    ):
        raise _bad_config(f"dropout must list {L - 1} numbers. Received: {dropout!r}")
    if config["dtype"] not in ("float32", "float64"):
        raise _bad_config(f"dtype must be float32 or float64. Received: {config['dtype']!r}")
    for act in acts:  # the layout reads the activations' PyTorch modules from them
        try:
            get_activation(act)
        except (ValueError, TypeError) as exc:
            raise _bad_config(str(exc)) from None
    return config


def sequential_layout(net: Network | dict[str, Any]) -> list[dict[str, Any]]:
    """The modules of the ``torch.nn.Sequential`` equivalent to a network.

    Parameters
    ----------
    net : Network or dict
        A network or its :meth:`~deltaprop.core.network.Network.get_config`.

    Returns
    -------
    list of dict
        One entry per module, in order: ``{"type": "Linear", "in_features": ..,
        "out_features": ..}``, ``{"type": "BatchNorm1d", "num_features": .., "eps": ..,
        "momentum": ..}``, the activation (its class's ``torch_module`` with its
        ``torch_kwargs()``: ``{"type": "LeakyReLU", "negative_slope": ..}``,
        ``{"type": "ELU", "alpha": ..}``, ``{"type": "Softmax", "dim": 1}``, or just the
        type), ``{"type": "Dropout", "p": ..}``. Module ``i`` owns the tensors ``i.*``.
    """
    if isinstance(net, Network):
        config, activations = net.get_config(), list(net.activations)
    else:
        config, activations = net, [get_activation(a) for a in net["activations"]]
    sizes = config["layer_sizes"]
    bn_defaults = BatchNorm(1)
    L = len(sizes) - 1
    modules: list[dict[str, Any]] = []
    for l in range(1, L + 1):
        modules.append({"type": "Linear", "in_features": sizes[l - 1], "out_features": sizes[l]})
        if l < L and config["batch_norm"][l - 1]:
            modules.append(
                {
                    "type": "BatchNorm1d",
                    "num_features": sizes[l],
                    "eps": bn_defaults.epsilon,
                    "momentum": bn_defaults.momentum,
                }
            )
        modules.append(_torch_module(activations[l - 1]))
        if l < L and config["dropout"][l - 1] > 0:
            modules.append({"type": "Dropout", "p": float(config["dropout"][l - 1])})
    return modules


def _torch_module(activation: Activation) -> dict[str, Any]:
    """The layout entry of an activation: its ``torch_module`` and ``torch_kwargs()``."""
    return {"type": activation.torch_module, **activation.torch_kwargs()}


def tensor_specs(config: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Expected tensor names, shapes and dtype codes of a network's file."""
    code = "F32" if config["dtype"] == "float32" else "F64"
    specs: dict[str, tuple[tuple[int, ...], str]] = {}
    for i, module in enumerate(sequential_layout(config)):
        if module["type"] == "Linear":
            n_out, n_in = module["out_features"], module["in_features"]
            specs[f"{i}.weight"] = ((n_out, n_in), code)
            specs[f"{i}.bias"] = ((n_out,), code)
        elif module["type"] == "BatchNorm1d":
            n = module["num_features"]
            for name in ("weight", "bias", "running_mean", "running_var"):
                specs[f"{i}.{name}"] = ((n,), code)
            specs[f"{i}.num_batches_tracked"] = ((), "I64")
    return specs


def _network_arrays(net: Network) -> dict[str, Any]:
    """The network's own arrays under the Sequential's tensor names, in the layout's order;
    ``None`` for ``num_batches_tracked``, which the network does not keep."""
    arrays: dict[str, Any] = {}
    dense = iter(net.dense)
    layer = None
    for i, module in enumerate(sequential_layout(net)):
        if module["type"] == "Linear":
            layer = next(dense)
            arrays[f"{i}.weight"], arrays[f"{i}.bias"] = layer.W, layer.b
        elif module["type"] == "BatchNorm1d":
            assert layer is not None and layer.batch_norm is not None
            bn = layer.batch_norm
            arrays[f"{i}.weight"], arrays[f"{i}.bias"] = bn.params["gamma"], bn.params["beta"]
            arrays[f"{i}.running_mean"] = bn.running_mean
            arrays[f"{i}.running_var"] = bn.running_var
            arrays[f"{i}.num_batches_tracked"] = None
    return arrays


def network_tensors(net: Network) -> dict[str, np.ndarray]:
    """The network's weights and running statistics under the Sequential's names (copies)."""
    to_np = net.backend.to_numpy
    tensors = {
        name: np.zeros((), dtype=np.int64) if arr is None else to_np(arr).copy()
        for name, arr in _network_arrays(net).items()
    }
    for name, arr in tensors.items():
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(
                f"the network's {name!r} contains NaN or infinity; such a model cannot be saved"
            )
    return tensors


def check_tensor_table(
    specs: dict[str, tuple[tuple[int, ...], str]],
    found: dict[str, tuple[tuple[int, ...], str]],
) -> None:
    """The tensors found (name to shape and dtype code, before any is read) must be exactly
    those of ``specs``, with their shapes and dtype codes."""
    missing = [k for k in specs if k not in found]
    unexpected = sorted(set(found) - set(specs))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensors: {', '.join(missing)}"[:300])
        if unexpected:
            parts.append(f"unexpected tensors: {', '.join(unexpected)}"[:300])
        raise ModelFileError(f"the tensors do not match the architecture ({'; '.join(parts)})")
    for name, (shape, code) in specs.items():
        got_shape, got_code = found[name]
        if got_shape != shape:
            raise ModelFileError(
                f"tensor {name!r} has shape {got_shape} but the architecture needs {shape}"
            )
        if got_code != code:
            raise ModelFileError(
                f"tensor {name!r} has dtype {got_code} but the architecture needs {code}"
            )


def check_network_values(tensors: dict[str, np.ndarray]) -> None:
    """Values a network's tensors must have: counters and running variances non-negative."""
    for name, arr in tensors.items():
        if name.endswith(".num_batches_tracked") and int(arr) < 0:
            raise ModelFileError(f"tensor {name!r} is negative ({int(arr)})")
        if name.endswith(".running_var") and arr.size and float(arr.min()) < 0:
            raise ModelFileError(
                f"tensor {name!r} holds a negative variance ({float(arr.min())!r})"
            )


def build_network(config: dict[str, Any], tensors: dict[str, np.ndarray]) -> Network:
    """A new network of ``config`` holding ``tensors``; an invalid config is a ModelFileError."""
    try:
        net = Network(seed=None, **config)
    except (ValueError, TypeError, KeyError) as exc:
        raise _bad_config(str(exc)) from None
    assign_network(net, tensors)
    return net


def assign_network(net: Network, tensors: dict[str, np.ndarray]) -> None:
    """Copy checked tensors (:func:`check_tensor_table`) into ``net``'s weights and statistics."""
    xp = net.xp
    for name, arr in _network_arrays(net).items():
        if arr is not None:
            arr[...] = xp.asarray(tensors[name])


def network_section(meta: dict[str, str], table: TensorTable) -> tuple[dict[str, Any], list[str]]:
    """The checked network config; the table's network tensors (names without ``/``) are
    checked against it, before any is read. The other tensor names are returned."""
    config = checked_config(parse_json(meta["config"], "metadata 'config'"))
    specs = tensor_specs(config)
    if "layout" in meta:
        layout = parse_json(meta["layout"], "metadata 'layout'")
        if layout != parse_json(to_json(sequential_layout(config), "layout"), "layout"):
            raise ModelFileError("metadata 'layout' does not match metadata 'config'")
    check_tensor_table(specs, table.specs(k for k in table if "/" not in k))
    return config, [k for k in table if "/" in k]


def read_network_tensors(table: TensorTable) -> dict[str, np.ndarray]:
    """Read the network's tensors (checked by :func:`network_section`) and check their values."""
    tensors = table.read(k for k in table if "/" not in k)
    check_network_values(tensors)
    return tensors
