"""Network files: round trips for every activation, loss and dtype, the torch layout, PyTorch
interop (deltaprop.io.network_files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deltaprop import Network
from deltaprop.io import (
    FORMAT_VERSION,
    load,
    save,
    sequential_layout,
)
from tests.conftest import ALL_ACTIVATIONS
from tests.filetools import split_file
from tests.io.networks import assert_same_network, trained_net

ACTIVATIONS = [*ALL_ACTIVATIONS, "exp"]
LOSSES = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    {"name": "huber", "delta": 0.7},
    "poisson",
]


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_round_trip_every_activation(tmp_path: Path, dtype: str, activation: str) -> None:
    net = trained_net(
        dtype,
        layer_sizes=[4, 6, 5, 3],
        activations=[activation, activation, "softmax"],
        loss="categorical_crossentropy",
        dropout=[0.25, 0.0],
        batch_norm=[True, False],
    )
    path = save(net, tmp_path / "net.safetensors")
    back = load(path)
    assert isinstance(back, Network)
    X = np.random.default_rng(1).normal(size=(9, 4))
    assert_same_network(net, back, X)
    assert back.dropout_rates == [0.25, 0.0] and back.batch_norms == [True, False]


@pytest.mark.parametrize("loss", LOSSES, ids=str)
def test_round_trip_every_loss(tmp_path: Path, loss: Any) -> None:
    net = trained_net(layer_sizes=[3, 5, 2], activations="tanh", loss=loss, batch_norm=True)
    back = load(save(net, tmp_path / "m.safetensors"))
    assert back.loss.get_config() == net.loss.get_config()
    assert back.output_activation.name == net.output_activation.name
    rng = np.random.default_rng(2)
    X = rng.normal(size=(8, 3))
    Y = net.forward(X) if net.loss.name != "categorical_crossentropy" else np.eye(2)[[0, 1] * 4]
    assert back.cost(X, Y) == net.cost(X, Y)


def test_float32_weights_stay_float32_on_disk(tmp_path: Path) -> None:
    net = trained_net("float32", layer_sizes=[2, 3, 1], batch_norm=True)
    path = save(net, tmp_path / "f32.safetensors")
    header, _ = split_file(path.read_bytes())
    dtypes = {k: v["dtype"] for k, v in header.items() if k != "__metadata__"}
    assert dtypes == {
        "0.weight": "F32",
        "0.bias": "F32",
        "1.weight": "F32",
        "1.bias": "F32",
        "1.running_mean": "F32",
        "1.running_var": "F32",
        "1.num_batches_tracked": "I64",
        "3.weight": "F32",
        "3.bias": "F32",
    }
    meta = header["__metadata__"]
    assert meta["format"] == "deltaprop" and meta["format_version"] == str(FORMAT_VERSION)
    assert meta["kind"] == "model" and meta["class"] == "Network"
    assert json.loads(meta["config"]) == net.get_config()
    assert json.loads(meta["layout"]) == sequential_layout(net)


def test_layout_names_the_torch_modules() -> None:
    net = Network(
        [4, 8, 8, 3], ["leaky_relu", "softmax"], "ce", dropout=0.1, batch_norm=[False, True]
    )
    assert sequential_layout(net) == [
        {"type": "Linear", "in_features": 4, "out_features": 8},
        {"type": "LeakyReLU", "negative_slope": 0.01},
        {"type": "Dropout", "p": 0.1},
        {"type": "Linear", "in_features": 8, "out_features": 8},
        {"type": "BatchNorm1d", "num_features": 8, "eps": 1e-5, "momentum": 0.1},
        {"type": "LeakyReLU", "negative_slope": 0.01},
        {"type": "Dropout", "p": 0.1},
        {"type": "Linear", "in_features": 8, "out_features": 3},
        {"type": "Softmax", "dim": 1},
    ]


# --------------------------------------------------------------------------- PyTorch
def torch_sequential(layout: list[dict[str, Any]], dtype: Any) -> Any:
    """Build the ``nn.Sequential`` that the file's ``layout`` metadata describes."""
    import torch
    from torch import nn

    class Exp(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.exp(x)

    modules: list[nn.Module] = []
    for m in layout:
        kind = m["type"]
        if kind == "Linear":
            modules.append(nn.Linear(m["in_features"], m["out_features"], dtype=dtype))
        elif kind == "BatchNorm1d":
            bn = nn.BatchNorm1d(m["num_features"], eps=m["eps"], momentum=m["momentum"])
            modules.append(bn.to(dtype))
        elif kind == "LeakyReLU":
            modules.append(nn.LeakyReLU(m["negative_slope"]))
        elif kind == "ELU":
            modules.append(nn.ELU(m["alpha"]))
        elif kind == "Softmax":
            modules.append(nn.Softmax(dim=m["dim"]))
        elif kind == "Dropout":
            modules.append(nn.Dropout(m["p"]))
        elif kind == "Exp":
            modules.append(Exp())
        else:
            modules.append(getattr(nn, kind)())
    return nn.Sequential(*modules)


@pytest.mark.parametrize(
    ("dtype", "rtol", "atol"), [("float64", 1e-12, 1e-14), ("float32", 1e-5, 1e-5)]
)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_torch_sequential_loads_the_file(
    tmp_path: Path, dtype: str, rtol: float, atol: float, activation: str
) -> None:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    net = trained_net(
        dtype,
        layer_sizes=[5, 7, 6, 4],
        activations=[activation, activation, "softmax" if activation == "exp" else activation],
        loss="mse",
        dropout=[0.3, 0.2],
        batch_norm=[True, True],
    )
    path = save(net, tmp_path / "net.safetensors")
    with safe_open(str(path), "pt") as f:
        layout = json.loads(f.metadata()["layout"])
    seq = torch_sequential(layout, getattr(torch, dtype))
    seq.load_state_dict(load_file(str(path)))  # strict: every name and shape matches
    seq.eval()
    X = np.random.default_rng(3).normal(size=(11, 5)).astype(dtype)
    with torch.no_grad():
        out = seq(torch.from_numpy(X)).numpy()
    assert out.dtype == net.dtype
    np.testing.assert_allclose(out, net.forward(X), rtol=rtol, atol=atol)
