"""Corrupted model files found by hypothesis: byte flips, truncations, header mutations,
random headers and bytes all raise ModelFileError (deltaprop.io.container)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy as stnp
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from deltaprop import Network
from deltaprop.io import (
    ModelFileError,
    load,
    save,
)
from tests.filetools import join_file, split_file
from tests.io.networks import trained_net

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
    and the counter and the running variances non-negative, and then the weights are exactly the new bytes."""
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
    valid = valid and bool((expected["1.running_var"] >= 0).all())  # NaN fails too
    event(f"data: {'loads' if valid else 'rejected'}")
    if not valid:
        with pytest.raises(ModelFileError, match=r"NaN or infinity|is negative|negative variance"):
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
