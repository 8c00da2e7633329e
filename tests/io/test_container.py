"""The container: atomic writes, and files that are not models, truncated, inconsistent or
with bad metadata (deltaprop.io.container)."""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import safetensors.numpy as stnp

from deltaprop import Network
from deltaprop.io import (
    ModelFileError,
    ModelFileNotFoundError,
    load,
    save,
)
from tests.filetools import join_file, retensor, rewrite, split_file
from tests.io.networks import trained_net


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


# --------------------------------------------------------------------------- paths
@pytest.mark.parametrize("bad", [None, 3, 2.5, ["m.st"]])
def test_a_path_that_is_not_one_is_refused_before_any_os_call(bad: Any) -> None:
    def no_os(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("an os call")

    from deltaprop.io import container

    net = Network([2, 1], seed=0)
    with pytest.MonkeyPatch.context() as mp:  # the container's first calls of the system
        mp.setattr(container, "_regular_file_size", no_os)
        mp.setattr(container.os.path, "realpath", no_os)
        with pytest.raises(TypeError, match=rf"^path must be a file path \(str or os.PathLike\)"
                           rf". Received: path={re.escape(repr(bad))} of type "
                           rf"{type(bad).__name__}$"):  # fmt: skip
            load(bad)
        with pytest.raises(TypeError, match=r"^path must be a file path .*Received: path="):
            save(net, bad)


def test_load_of_an_int_leaves_the_callers_descriptor_open(tmp_path: Path) -> None:
    save(Network([2, 1], seed=0), tmp_path / "m.st")
    fd = os.open(tmp_path / "m.st", os.O_RDONLY)
    try:
        with pytest.raises(TypeError, match=rf"Received: path={fd} of type int"):
            load(fd)
        assert os.fstat(fd).st_size > 0 and os.lseek(fd, 0, os.SEEK_CUR) == 0
    finally:
        os.close(fd)


def test_bytes_paths_are_accepted(tmp_path: Path) -> None:
    net = Network([2, 1], seed=0)
    save(net, os.fsencode(tmp_path / "m.st"))
    np.testing.assert_array_equal(load(os.fsencode(tmp_path / "m.st")).parameters, net.parameters)


def test_a_missing_folder_is_named_and_nothing_is_created(tmp_path: Path) -> None:
    path = tmp_path / "no" / "such" / "clf.st"
    with pytest.raises(FileNotFoundError, match=rf"^cannot write '{path}': the folder "
                       rf"'{path.parent}' does not exist. Received: path='{path}'$"):  # fmt: skip
        save(Network([2, 1], seed=0), path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"the folder '.*file' is not a directory"):
        save(Network([2, 1], seed=0), tmp_path / "file" / "m.st")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["file"]


def test_save_through_a_symlink_replaces_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    target = tmp_path / "models" / "real.st"
    save(Network([2, 1], seed=0), target)
    target.chmod(0o600)
    link = tmp_path / "link.st"
    link.symlink_to(target)
    net = Network([2, 1], seed=1)
    assert save(net, link) == link
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.stat().st_mode & 0o777 == 0o600  # the target's mode is kept
    np.testing.assert_array_equal(load(target).parameters, net.parameters)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["link.st", "models", "real.st"]
    dangling = tmp_path / "dangling.st"
    dangling.symlink_to(tmp_path / "models" / "new.st")
    save(net, dangling)
    assert dangling.is_symlink() and (tmp_path / "models" / "new.st").is_file()


def test_save_into_a_fifo_writes_into_it_and_keeps_it(tmp_path: Path) -> None:
    """A FIFO or a device (``/dev/null``, ``/dev/stdout``) is written into, never replaced
    by a regular file (as root, replacing /dev/null broke the machine)."""
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    save(Network([2, 1], seed=0), fifo)
    reader.join(timeout=60)  # a hang guard: a replaced FIFO would leave the reader waiting
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary file left
    (tmp_path / "read.st").write_bytes(got[0])  # the whole model went through the pipe
    np.testing.assert_array_equal(
        load(tmp_path / "read.st").parameters, Network([2, 1], seed=0).parameters
    )
