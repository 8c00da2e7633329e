"""Model files and checkpoints: round trips, PyTorch interop, atomic writes, corrupted files
(hypothesis), and resuming a killed run to the very same weights."""

from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy as stnp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deltaprop import Network
from deltaprop.io.persistence import (
    FORMAT_VERSION,
    ModelFileError,
    ModelFileNotFoundError,
    load,
    register_model_class,
    save,
    sequential_layout,
)
from tests.conftest import ALL_ACTIVATIONS
from tests.filetools import join_file, retensor, rewrite, split_file

ACTIVATIONS = [*ALL_ACTIVATIONS, "exp"]
LOSSES = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    {"name": "huber", "delta": 0.7},
    "poisson",
]


# --------------------------------------------------------------------------- helpers
def trained_net(dtype: str = "float64", **kwargs: Any) -> Network:
    """A small network whose batch-norm running statistics have moved off (0, 1)."""
    rng = np.random.default_rng(0)
    net = Network(seed=0, dtype=dtype, **kwargs)
    X = rng.normal(size=(40, net.layer_sizes[0]))
    for _ in range(3):
        net._forward(net.check_X(X), training=True)
    net.parameters += 0.01 * rng.normal(size=net.n_params).astype(net.dtype)
    return net


def assert_same_network(a: Network, b: Network, X: np.ndarray) -> None:
    assert a.get_config() == b.get_config()
    assert a.parameters.dtype == b.parameters.dtype
    np.testing.assert_array_equal(a.parameters, b.parameters)
    for (ka, va), (kb, vb) in zip(a.buffers(), b.buffers(), strict=True):
        assert ka == kb
        np.testing.assert_array_equal(va, vb)
    np.testing.assert_array_equal(a.forward(X), b.forward(X))


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


# --------------------------------------------------------------------------- atomic writes
def test_crash_during_replace_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.safetensors"
    old = Network([3, 4, 1], seed=0)
    save(old, path)
    before = path.read_bytes()

    def boom(src: Any, dst: Any) -> None:
        raise OSError("disk unplugged")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk unplugged"):
        save(Network([3, 4, 1], seed=1), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_crash_during_write_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.safetensors"
    save(Network([3, 4, 1], seed=0), path)
    before = path.read_bytes()

    def boom(fd: int) -> None:
        raise KeyboardInterrupt  # even an interrupt cleans up

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        save(Network([3, 4, 1], seed=1), path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]
    np.testing.assert_array_equal(load(path).parameters, Network([3, 4, 1], seed=0).parameters)


def test_overwrite_false_and_directories(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save(Network([2, 1], seed=0), path)
    with pytest.raises(FileExistsError, match="overwrite=False"):
        save(Network([2, 1], seed=1), path, overwrite=False)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        save(Network([2, 1], seed=1), tmp_path)
    with pytest.raises(FileNotFoundError):
        save(Network([2, 1], seed=1), tmp_path / "no" / "such" / "dir.safetensors")


def test_save_rejects_what_it_cannot_store(tmp_path: Path) -> None:
    net = Network([2, 3, 1], seed=0)
    net.dense[1].W[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"'2.weight' contains NaN"):
        save(net, tmp_path / "nan.safetensors")
    with pytest.raises(TypeError, match="Received: dict"):
        save({"W": np.zeros(3)}, tmp_path / "x.safetensors")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- bad files
@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    net = trained_net(layer_sizes=[3, 4, 2], activations="tanh", loss="bce", batch_norm=True)
    return save(net, tmp_path / "good.safetensors")


def test_missing_file_is_both_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelFileNotFoundError, match="no such file") as info:
        load(tmp_path / "nope.safetensors")
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ModelFileError)
    assert str(tmp_path / "nope.safetensors") in str(info.value)


def test_directory_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="a directory, not a model file"):
        load(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "0 bytes is too short"),
        (b"abc", "3 bytes is too short"),
        (b"hello, this is a text file, not a model", "header length field says"),
        (struct.pack("<Q", 2**40) + b"{}", r"header length field says 1099511627776 bytes \(limit"),
        (struct.pack("<Q", 50) + b"{}", "truncated or not a model file"),
        (struct.pack("<Q", 3) + b"\xff\xfe{", "header is not UTF-8"),
        (struct.pack("<Q", 2) + b"[]", "header is not a JSON object"),
        (struct.pack("<Q", 5) + b'{"a":', "not valid JSON"),
        (join_file({}, b""), "__metadata__ is missing"),
        (join_file({"__metadata__": {"format": "other"}}, b""), "metadata 'format' is 'other'"),
        (join_file({"__metadata__": {"format": "deltaprop"}}, b""), "no 'format_version'"),
        (
            join_file({"__metadata__": {"format": "deltaprop", "format_version": "2"}}, b""),
            "unsupported format_version '2'; this version of deltaprop reads format_version '1'",
        ),
        (b'\x10\x00\x00\x00\x00\x00\x00\x00{"a":1, "a":2}  ', "duplicate key 'a'"),
        (b'\x13\x00\x00\x00\x00\x00\x00\x00{"__metadata__":NaN}', "non-standard constant NaN"),
        (
            join_file({"a": json.loads("[" * 100 + "]" * 100)}, b""),
            "nested more than 64 levels deep",
        ),
        (
            struct.pack("<Q", 10006) + b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}",
            "not valid JSON: maximum recursion depth",
        ),
    ],
)
def test_not_a_model(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_plain_safetensors_file_is_not_a_backprop_model(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    stnp.save_file({"weight": np.zeros((2, 2))}, str(path))
    with pytest.raises(ModelFileError, match="not a deltaprop model file: __metadata__ is missing"):
        load(path)


def test_truncated_file(good_file: Path) -> None:
    raw = good_file.read_bytes()
    good_file.write_bytes(raw[:-5])
    with pytest.raises(ModelFileError, match="the file is truncated or has trailing bytes"):
        load(good_file)
    good_file.write_bytes(raw[:100])
    with pytest.raises(ModelFileError, match="truncated or not a model file"):
        load(good_file)
    good_file.write_bytes(raw + b"\x00")
    with pytest.raises(ModelFileError, match="has trailing bytes"):
        load(good_file)


def test_missing_and_extra_tensors(good_file: Path) -> None:
    raw = good_file.read_bytes()
    retensor(good_file, lambda t: t.pop("3.weight"))
    with pytest.raises(ModelFileError, match=r"missing tensors: 3\.weight\)"):
        load(good_file)
    good_file.write_bytes(raw)
    retensor(good_file, lambda t: t.update({"5.weight": np.zeros((2, 2))}))
    with pytest.raises(ModelFileError, match=r"unexpected tensors: 5\.weight"):
        load(good_file)
    good_file.write_bytes(raw)
    retensor(good_file, lambda t: t.update({"opt/m": np.zeros(2)}))
    with pytest.raises(ModelFileError, match="unexpected tensors: opt/m"):
        load(good_file)


def test_wrong_shape_and_dtype(good_file: Path) -> None:
    raw = good_file.read_bytes()
    retensor(good_file, lambda t: t.update({"0.weight": t["0.weight"].T.copy()}))
    with pytest.raises(
        ModelFileError, match=r"'0.weight' has shape \(3, 4\) but the architecture needs \(4, 3\)"
    ):
        load(good_file)
    good_file.write_bytes(raw)
    retensor(good_file, lambda t: t.update({"0.bias": t["0.bias"].astype(np.float32)}))
    with pytest.raises(
        ModelFileError, match=r"'0.bias' has dtype F32 but the architecture needs F64"
    ):
        load(good_file)
    good_file.write_bytes(raw)
    retensor(good_file, lambda t: t.update({"0.bias": t["0.bias"].astype(np.float16)}))
    with pytest.raises(ModelFileError, match=r"'0.bias' has unsupported dtype 'F16'"):
        load(good_file)
    good_file.write_bytes(raw)
    retensor(good_file, lambda t: t.update({"1.num_batches_tracked": np.array(-1)}))
    with pytest.raises(ModelFileError, match="is negative"):
        load(good_file)


def test_non_finite_weights_are_rejected(good_file: Path) -> None:
    retensor(good_file, lambda t: t["3.bias"].__setitem__(0, np.inf))
    with pytest.raises(ModelFileError, match=r"tensor '3.bias' contains NaN or infinity"):
        load(good_file)


def test_header_inconsistencies(good_file: Path) -> None:
    header, data = split_file(good_file.read_bytes())
    bad = json.loads(json.dumps(header))
    bad["0.bias"]["data_offsets"][1] += 8
    with pytest.raises(ModelFileError, match=r"'0.bias': data_offsets .* span 40 bytes but"):
        load(rewrite(good_file, bad, data))
    bad = json.loads(json.dumps(header))
    a, b = bad["0.bias"]["data_offsets"], bad["1.bias"]["data_offsets"]
    bad["1.bias"]["data_offsets"] = [a[0], a[1]]
    with pytest.raises(ModelFileError, match="tensors overlap or leave gaps"):
        load(rewrite(good_file, bad, data))
    bad = json.loads(json.dumps(header))
    bad["0.bias"]["extra"] = 1
    with pytest.raises(ModelFileError, match="must have exactly the keys dtype, shape"):
        load(rewrite(good_file, bad, data))
    assert b  # the span that lost its owner was 1.bias's


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "kind",
            "checkpoint",
            "the file's kind is 'checkpoint', expected 'model'; use load_checkpoint",
        ),
        ("class", "Pipeline", "unknown model class 'Pipeline'; loadable classes: Network"),
        ("config", "{", "metadata 'config' is not valid JSON"),
        ("config", "[1, 2]", "invalid network config: expected the keys"),
        ("layout", "[]", "metadata 'layout' does not match metadata 'config'"),
        ("surprise", "1", "metadata has unexpected keys: surprise"),
        ("class", None, "metadata is missing keys: class"),
        ("config", None, "metadata is missing keys: config"),
    ],
)
def test_bad_metadata(good_file: Path, key: str, value: str | None, message: str) -> None:
    header, data = split_file(good_file.read_bytes())
    if value is None:
        del header["__metadata__"][key]
    else:
        header["__metadata__"][key] = value
    with pytest.raises(ModelFileError, match=message):
        load(rewrite(good_file, header, data))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c.update(layer_sizes=[3, 5, 2]),
            r"'0.weight' has shape \(4, 3\) but the architecture needs \(5, 3\)",
        ),
        (lambda c: c.update(dtype="float32"), "has dtype F64 but the architecture needs F32"),
        (lambda c: c.update(dtype="float16"), "dtype must be float32 or float64"),
        (lambda c: c.update(batch_norm=[False]), "unexpected tensors: 1.bias"),
        (
            lambda c: c["activations"][0].update(name="swish"),
            "activations must be 2 configs with a known name",
        ),
        (lambda c: c["activations"][0].update(alpha=2.0), "invalid network config: .*alpha"),
        (lambda c: c.update(init=["nope", "nope"]), "invalid network config: .*nope"),
        (lambda c: c.update(loss={"name": "hinge"}), "invalid network config: .*hinge"),
        (lambda c: c.pop("dropout"), "expected the keys"),
        (lambda c: c.update(layer_sizes=[3, 0, 2]), "layer_sizes must be >= 2 positive integers"),
    ],
)
def test_bad_network_config(good_file: Path, edit: Any, message: str) -> None:
    header, data = split_file(good_file.read_bytes())
    meta = header["__metadata__"]
    config = json.loads(meta["config"])
    edit(config)
    meta["config"] = json.dumps(config)
    meta.pop("layout")  # optional; with it, the layout check would speak first
    with pytest.raises(ModelFileError, match=message):
        load(rewrite(good_file, header, data))


def test_every_message_names_the_file(good_file: Path) -> None:
    good_file.write_bytes(b"not a model")
    with pytest.raises(ModelFileError) as info:
        load(good_file)
    assert str(info.value).startswith(f"cannot load {str(good_file)!r}: ")
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- hypothesis
FUZZ_NET = trained_net(layer_sizes=[3, 4, 2], activations="tanh", loss="bce", batch_norm=True)


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("fuzz")
    raw = save(FUZZ_NET, folder / "good.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return {"raw": raw, "n": n, "path": folder / "case.safetensors"}


def load_bytes(fuzz: dict[str, Any], content: bytes) -> Any:
    path: Path = fuzz["path"]
    path.write_bytes(content)
    return load(path)


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


@fuzz_settings(400)
@given(data=st.data())
def test_fuzz_byte_flips(fuzz: dict[str, Any], data: st.DataObject) -> None:
    """Property: a file with flipped bytes either loads or raises ModelFileError, nothing
    else. If only the data section changed, it loads exactly when every float stays finite
    and the counter non-negative, and then the weights are exactly the new bytes."""
    raw: bytes = fuzz["raw"]
    start = {"prefix": 0, "header": 8, "data": 8 + fuzz["n"]}
    stop = {"prefix": 8, "header": 8 + fuzz["n"], "data": len(raw)}
    region = data.draw(st.sampled_from(["prefix", "header", "data"]))
    positions = data.draw(
        st.lists(st.integers(start[region], stop[region] - 1), min_size=1, max_size=4, unique=True)
    )
    buf = bytearray(raw)
    for pos in positions:
        buf[pos] ^= data.draw(st.integers(1, 255))
    if region == "data" and data.draw(st.booleans()):
        # Overwrite one whole 8-byte element (all tensors here are F64 or I64) with a
        # non-finite float or a negative int: the values random flips rarely produce.
        k = data.draw(st.integers(0, (stop["data"] - start["data"]) // 8 - 1))
        poison = data.draw(st.sampled_from([math.nan, math.inf, -math.inf, -1]))
        fmt = "<q" if isinstance(poison, int) else "<d"
        buf[start["data"] + 8 * k : start["data"] + 8 * k + 8] = struct.pack(fmt, poison)
    content = bytes(buf)
    if region != "data":
        try:
            assert isinstance(load_bytes(fuzz, content), Network)
            event(f"{region}: still a valid model")
        except ModelFileError:
            event(f"{region}: ModelFileError")
        return
    expected = stnp.load(content)
    valid = all(np.isfinite(v).all() for k, v in expected.items() if v.dtype.kind == "f")
    valid = valid and all(int(v) >= 0 for k, v in expected.items() if v.dtype.kind == "i")
    event(f"data: {'loads' if valid else 'rejected'}")
    if not valid:
        with pytest.raises(ModelFileError, match=r"NaN or infinity|is negative"):
            load_bytes(fuzz, content)
        return
    net = load_bytes(fuzz, content)
    for i, layer in ((0, net.dense[0]), (3, net.dense[1])):
        np.testing.assert_array_equal(layer.W, expected[f"{i}.weight"])
        np.testing.assert_array_equal(layer.b, expected[f"{i}.bias"])
    bn = net.dense[0].batch_norm
    np.testing.assert_array_equal(bn.params["gamma"], expected["1.weight"])
    np.testing.assert_array_equal(bn.running_var, expected["1.running_var"])


@fuzz_settings(150)
@given(cut=st.integers(0, 10**6))
def test_fuzz_truncations(fuzz: dict[str, Any], cut: int) -> None:
    """Property: every proper prefix of a model file raises ModelFileError."""
    raw: bytes = fuzz["raw"]
    with pytest.raises(ModelFileError):
        load_bytes(fuzz, raw[: cut % len(raw)])


MUTATIONS = [
    "drop_tensor", "add_tensor", "dtype", "shape", "offsets", "entry_key", "drop_meta",
    "meta_value", "meta_type", "add_meta", "metadata_type", "dropout", "layer_size",
    "batch_norm", "activation",
]  # fmt: skip


@fuzz_settings(400)
@given(data=st.data())
def test_fuzz_header_mutations(fuzz: dict[str, Any], data: st.DataObject) -> None:
    """Property: each of these changes to the header or the architecture raises
    ModelFileError (every one of them makes the file inconsistent)."""
    header, body = split_file(fuzz["raw"])
    meta = header["__metadata__"]
    names = sorted(k for k in header if k != "__metadata__")
    kind = data.draw(st.sampled_from(MUTATIONS))
    name = data.draw(st.sampled_from(names))
    entry = header[name]
    config = json.loads(meta["config"])
    text = st.text(max_size=20)
    if kind == "drop_tensor":
        del header[name]
    elif kind == "add_tensor":
        header[data.draw(text.filter(lambda s: s not in header))] = {
            "dtype": "F64", "shape": [1], "data_offsets": [len(body), len(body) + 8]}  # fmt: skip
        body += b"\x00" * 8
    elif kind == "dtype":
        entry["dtype"] = data.draw(
            st.sampled_from(
                ["F16", "BF16", "I32", "I8", "U8", "BOOL", "F32", "F64", "I64", "x"]
            ).filter(lambda d: d != entry["dtype"])
        )
    elif kind == "shape":
        entry["shape"] = data.draw(
            st.lists(st.integers(0, 10), max_size=3).filter(lambda s: s != entry["shape"])
        )
    elif kind == "offsets":
        entry["data_offsets"] = data.draw(
            st.lists(st.integers(-2, len(body) + 2), min_size=0, max_size=3).filter(
                lambda o: o != entry["data_offsets"]
            )
        )
    elif kind == "entry_key":
        entry[data.draw(text.filter(lambda s: s not in entry))] = data.draw(st.integers())
    elif kind == "drop_meta":
        del meta[
            data.draw(st.sampled_from(["format", "format_version", "kind", "class", "config"]))
        ]
    elif kind == "meta_value":
        key = data.draw(
            st.sampled_from(["format", "format_version", "kind", "class", "config", "layout"])
        )
        meta[key] = data.draw(text.filter(lambda s: s != meta[key]))
    elif kind == "meta_type":
        meta[data.draw(st.sampled_from(sorted(meta)))] = data.draw(
            st.one_of(st.integers(), st.lists(st.integers()), st.none(), st.booleans())
        )
    elif kind == "add_meta":
        meta[data.draw(text.filter(lambda s: s not in meta))] = data.draw(text)
    elif kind == "metadata_type":
        header["__metadata__"] = data.draw(st.one_of(st.integers(), st.lists(st.text()), st.none()))
    elif kind == "dropout":
        config["dropout"] = [data.draw(st.floats(0.0, 0.99).filter(lambda r: r != 0.0))]
    elif kind == "layer_size":
        i = data.draw(st.integers(0, 2))
        config["layer_sizes"][i] = data.draw(
            st.integers(-3, 10).filter(lambda n: n != config["layer_sizes"][i])
        )
    elif kind == "batch_norm":
        config["batch_norm"] = [False]
    elif kind == "activation":
        config["activations"][data.draw(st.integers(0, 1))]["name"] = data.draw(text)
    if kind in ("dropout", "layer_size", "batch_norm", "activation"):
        meta["config"] = json.dumps(config)
    with pytest.raises(ModelFileError):
        load_bytes(fuzz, join_file(header, body))


def json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=10)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    )


@fuzz_settings(150)
@given(header=json_values(), body=st.binary(max_size=64), structured=st.booleans(), data=st.data())
def test_fuzz_random_headers(
    fuzz: dict[str, Any], header: Any, body: bytes, structured: bool, data: st.DataObject
) -> None:
    """Property: a random JSON header, or a random tensor table behind genuine metadata,
    raises ModelFileError."""
    if structured:
        real, _ = split_file(fuzz["raw"])
        entry = st.fixed_dictionaries({
            "dtype": st.sampled_from(["F32", "F64", "I64", "F16"]),
            "shape": st.lists(st.integers(0, 4), max_size=3),
            "data_offsets": st.lists(st.integers(0, 64), min_size=2, max_size=2),
        })  # fmt: skip
        header = data.draw(st.dictionaries(st.text(max_size=12), entry, max_size=6))
        header["__metadata__"] = real["__metadata__"]
    text = json.dumps(header).encode()
    with pytest.raises(ModelFileError):
        load_bytes(fuzz, struct.pack("<Q", len(text)) + text + body)


@fuzz_settings(100)
@given(content=st.binary(max_size=512))
def test_fuzz_random_bytes(fuzz: dict[str, Any], content: bytes) -> None:
    """Property: random bytes raise ModelFileError."""
    with pytest.raises(ModelFileError):
        load_bytes(fuzz, content)


# --------------------------------------------------------------------------- estimators
class FakeEstimator:
    """Implements the two methods through which estimators plug into save and load."""

    def __init__(self, network: Network, classes: list[str], history: dict[str, Any]) -> None:
        self.network_ = network
        self.classes_ = np.array(classes)
        self.history_ = history
        self.n_iter_ = np.int64(7)

    def _get_model_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        config = {
            "class": "FakeEstimator",
            "network": self.network_.get_config(),
            "classes_": self.classes_.tolist(),
            "history": self.history_,
            "n_iter_": self.n_iter_,
            "scaler": {"with_mean": True},
        }
        arrays = {
            "parameters": self.network_.parameters,
            "class_counts": np.array([3, 5], dtype=np.int64),
        }
        return config, arrays

    @classmethod
    def _from_model_state(
        cls, config: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> FakeEstimator:
        net = Network(**config["network"])
        if arrays["parameters"].shape != net.parameters.shape:
            raise ValueError(f"parameters has shape {arrays['parameters'].shape}")
        net.parameters[...] = arrays["parameters"]
        est = cls(net, config["classes_"], config["history"])
        est.n_iter_ = np.int64(config["n_iter_"])
        est.counts = arrays["class_counts"]
        return est


register_model_class(FakeEstimator)


def test_estimator_round_trip(tmp_path: Path) -> None:
    net = Network([4, 5, 3], "relu", "ce", seed=0)
    history = {"loss": [1.5, 0.75, math.nan], "val_score": [-math.inf, 0.5]}
    est = FakeEstimator(net, ["cat", "dog", "emu"], history)
    path = save(est, tmp_path / "est.safetensors")
    back = load(path)
    assert type(back) is FakeEstimator
    np.testing.assert_array_equal(back.network_.parameters, net.parameters)
    assert back.classes_.tolist() == ["cat", "dog", "emu"]
    assert back.history_["loss"][:2] == [1.5, 0.75] and math.isnan(back.history_["loss"][2])
    assert back.history_["val_score"] == [-math.inf, 0.5]
    assert back.n_iter_ == 7 and back.counts.dtype == np.int64
    header, _ = split_file(path.read_bytes())
    assert header["__metadata__"]["class"] == "FakeEstimator"
    assert '{"$float":"nan"}' in header["__metadata__"]["config"]  # strict JSON on disk
    assert "layout" not in header["__metadata__"]


def test_estimator_state_errors_become_model_file_errors(tmp_path: Path) -> None:
    path = save(FakeEstimator(Network([4, 5, 3], seed=0), ["a", "b", "c"], {}), tmp_path / "e")
    retensor(path, lambda t: t.update({"parameters": t["parameters"][:-1]}))
    with pytest.raises(
        ModelFileError,
        match=r"invalid FakeEstimator state in the file: parameters has shape \(42,\)",
    ):
        load(path)


def test_estimator_names_resolve_lazily_and_safely(tmp_path: Path) -> None:
    path = save(Network([2, 1], seed=0), tmp_path / "n.safetensors")
    header, data = split_file(path.read_bytes())
    header["__metadata__"]["class"] = "MLPClassifier"
    del header["__metadata__"]["layout"]
    header["__metadata__"]["config"] = "{}"
    with pytest.raises(ModelFileError, match="MLPClassifier"):
        load(rewrite(path, header, data))
    header["__metadata__"]["class"] = "os.system"
    with pytest.raises(ModelFileError, match=r"unknown model class 'os.system'"):
        load(rewrite(path, header, data))


def test_registration_checks() -> None:
    class NoMethods:
        pass

    with pytest.raises(TypeError, match="must define _get_model_state"):
        register_model_class(NoMethods)
    with pytest.raises(ValueError, match="the class name 'Network' is reserved"):
        register_model_class(FakeEstimator, name="Network")

    class Unregistered(FakeEstimator):
        pass

    with pytest.raises(
        TypeError, match=r"registered with register_model_class. Received: .*Unregistered"
    ):
        save(Unregistered(Network([2, 1]), ["a"], {}), "never-written.safetensors")
