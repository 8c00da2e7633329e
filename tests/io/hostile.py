"""A generator of hostile model files and checkpoints: mutations of valid files of each kind
(Network, MLPClassifier, MLPRegressor, checkpoint), one per class of issue #14's items 1-3
and 12, each with the field its error must name.

:func:`hostile_cases` writes the files into a folder and returns the cases;
``tests/io/test_hostile_files.py`` loads them in a subprocess whose address space is capped.
The big files are sparse: they declare gigabytes and occupy a few kilobytes on disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.filetools import join_file, split_file

GIB = 2**30


@dataclass(frozen=True)
class Case:
    """One hostile file: how to load it and the field its ModelFileError must name."""

    name: str
    path: str
    loader: str  # "model" (deltaprop.io.load) or "checkpoint" (load_checkpoint)
    field: str  # a regular expression the message must match (besides the file's name)


def checkpoint_trainer() -> Any:
    """The trainer the checkpoints are written by, and read back into (same architecture)."""
    from deltaprop import Network, Trainer

    net = Network([4, 6, 3], ["relu", "softmax"], "categorical_crossentropy", seed=0)
    return Trainer(net, "adam", epochs=3, batch_size=10, seed=0)


def valid_files(folder: Path) -> dict[str, Path]:
    """One small valid file of each kind, trained a few steps on seeded data."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from deltaprop import MLPClassifier, MLPRegressor, Network
    from deltaprop.io import save
    from deltaprop.train import save_checkpoint

    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    y = np.arange(30) % 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(
            hidden_layer_sizes=[8], max_iter=3, random_state=0, batch_norm=True
        ).fit(X, y)
        reg = MLPRegressor(hidden_layer_sizes=[5], max_iter=3, random_state=0).fit(X, X[:, 0])
    net = Network([4, 8, 3], ["tanh", "softmax"], "ce", seed=0, batch_norm=True)
    trainer = checkpoint_trainer()
    trainer.fit(X, np.eye(3)[y])
    files = {
        "network": save(net, folder / "network.safetensors"),
        "classifier": save(clf, folder / "classifier.safetensors"),
        "regressor": save(reg, folder / "regressor.safetensors"),
        "checkpoint": folder / "run.ckpt",
    }
    save_checkpoint(trainer, files["checkpoint"])
    return files


def _write(path: Path, header: dict[str, Any], data: bytes, size: int | None = None) -> str:
    path.write_bytes(join_file(header, data))
    if size is not None:  # extend with a hole: declared bytes that occupy no disk
        with open(path, "r+b") as f:
            f.truncate(size)
    return str(path)


def _meta_json(header: dict[str, Any], key: str, change: Callable[[Any], None]) -> None:
    value = json.loads(header["__metadata__"][key])
    change(value)
    header["__metadata__"][key] = json.dumps(value)


def _set(keys: str, value: Any) -> Callable[[Any], None]:
    """A change of the JSON value at the dotted path ``keys``."""
    *parents, last = keys.split(".")

    def change(obj: Any) -> None:
        for k in parents:
            obj = obj[int(k) if isinstance(obj, list) else k]
        obj[int(last) if isinstance(obj, list) else last] = value

    return change


def _big_entry(header: dict[str, Any], data: bytes, name: str, nbytes: int) -> int:
    """Add an F64 entry of ``nbytes`` after the data section; the file's new total size."""
    end = len(data)
    header[name] = {"dtype": "F64", "shape": [nbytes // 8], "data_offsets": [end, end + nbytes]}
    return end + nbytes


def hostile_cases(folder: Path) -> list[Case]:
    """Write every hostile file into ``folder`` and return the cases."""
    files = valid_files(folder)
    cases: list[Case] = []

    def case(name: str, kind: str, field: str, loader: str = "model", **edit: Any) -> None:
        header, data = split_file(files[kind].read_bytes())
        for key, change in edit.get("meta", {}).items():
            _meta_json(header, key, change)
        size = None
        if "tensor" in edit:
            edit["tensor"](header)
        if "empty" in edit:  # a zero-byte entry at the end: only its shape is wrong
            header["empty"] = {"dtype": "F64", "shape": edit["empty"],
                               "data_offsets": [len(data), len(data)]}  # fmt: skip
        if "big" in edit:
            total = _big_entry(header, data, *edit["big"])
            size = 8 + len(json.dumps(header).encode()) + total
        path = folder / f"{name}.safetensors"
        cases.append(Case(name, _write(path, header, data, size), loader, field))

    # ---- item 1: memory before checks (declared sizes, the table against the file length)
    for kind in ("classifier", "regressor"):
        for sizes in ([4, 10000, 20000, 3], [4, 10**7, 10**7, 3]):
            n = len(sizes)
            hidden = {
                "config": lambda c, s=sizes: c["network"].update(
                    layer_sizes=s,
                    activations=[c["network"]["activations"][0]] * (len(s) - 2)
                    + [c["network"]["activations"][-1]],
                    init=[c["network"]["init"][0]] * (len(s) - 2) + [c["network"]["init"][-1]],
                    dropout=[0.0] * (len(s) - 2),
                    batch_norm=[False] * (len(s) - 2),
                )
            }
            case(f"{kind}_layers_{n}x{sizes[1]}", kind, r"layer_sizes", meta=hidden)
    case("network_layers_huge", "network", r"'0\.weight'",
         meta={"config": _set("layer_sizes", [4, 10**7, 3])},
         tensor=lambda h: h["__metadata__"].pop("layout"))  # fmt: skip
    case("network_sparse_extra_2gib", "network", r"unexpected tensors: big", big=("big", 2 * GIB))
    case("classifier_sparse_extra_2gib", "classifier", r"big", big=("big", 2 * GIB))
    case("checkpoint_sparse_extra_2gib", "checkpoint", r"'trainer/big'.*parameters",
         "checkpoint", big=("trainer/big", 2 * GIB))  # fmt: skip

    header, data = split_file(files["checkpoint"].read_bytes())
    # the referenced optimizer state declared 2 GiB: moved to the end of a sparse file
    header.pop("trainer/optimizer/exp_avg")
    rest = sorted(((v["data_offsets"], k) for k, v in header.items() if k != "__metadata__"))
    packed, offset = b"", 0
    for (begin, end), k in rest:
        packed += data[begin:end]
        header[k]["data_offsets"] = [offset, offset + end - begin]
        offset += end - begin
    total = _big_entry(header, packed, "trainer/optimizer/exp_avg", 2 * GIB)
    path = folder / "checkpoint_state_2gib.safetensors"
    size = 8 + len(json.dumps(header).encode()) + total
    cases.append(Case(path.stem, _write(path, header, packed, size), "checkpoint",
                      r"'trainer/optimizer/exp_avg'.*parameters"))  # fmt: skip

    # ---- item 2: wrong exception types
    for kind in ("classifier", "regressor"):
        case(f"{kind}_history_list", kind, r"'history'", meta={"config": _set("history", [])})
        case(f"{kind}_extra_list", kind, r"'extra'", meta={"config": _set("extra", [])})
        case(f"{kind}_loss_10e400", kind, r"'config'.*out of range",
             meta={"config": _set("history.loss", [10**400])})  # fmt: skip
        case(f"{kind}_loss_text", kind, r"history 'loss'",
             meta={"config": _set("history.loss", ["abc"])})  # fmt: skip
    for kind in ("network", "classifier", "checkpoint"):
        loader = "checkpoint" if kind == "checkpoint" else "model"
        first = "0.weight" if kind != "classifier" else "parameters"
        case(f"{kind}_dtype_list", kind, rf"'{first}'.*dtype", loader,
             tensor=lambda h, f=first: h[f].update(dtype=["F64"]))  # fmt: skip
        case(f"{kind}_empty_shape_100_dims", kind, r"'empty'.*shape", loader, empty=[0] * 100)
        case(f"{kind}_shape_100_dims", kind, rf"'{first}'.*shape", loader,
             tensor=lambda h, f=first: h[f].update(shape=[0] * 100))  # fmt: skip
    ckpt = {"loader": "checkpoint"}
    for i, (field, value, expect) in enumerate(
        (
            ("epoch", {"$float": "inf"}, r"'epoch'"),
            ("epoch", 2, r"'epoch' is 2 but its 'history' records 3"),
            ("epoch", -1, r"'epoch'"),
            ("best_metric", 10**400, r"'checkpoint'.*out of range"),
            ("best_metric", 10**300, r"'best_metric'"),
            ("best_metric", "x", r"'best_metric'"),
            ("best_epoch", 7, r"'best_epoch'"),
            ("history", [], r"'history'"),
            ("history.loss", [1.0, "x", 2.0], r"'history' 'loss'"),
            ("samples_seen", 2**70, r"'samples_seen'"),
        )
    ):
        key = "trainer_state." + field
        case(f"checkpoint_{field}_{i}", "checkpoint", expect,
             meta={"checkpoint": _set(key, value)}, **ckpt)  # fmt: skip

    # ---- item 3: inconsistent files (parameters, fitted attributes, network)
    for act, expect in (("identity", "activations"), ("relu", "activations"),
                        ("sigmoid", "activations")):  # fmt: skip
        case(f"classifier_output_{act}", "classifier", expect,
             meta={"config": _set("network.activations.1", {"name": act})})  # fmt: skip
    case("regressor_output_softmax", "regressor", "activations",
         meta={"config": _set("network.activations.1", {"name": "softmax"})})  # fmt: skip
    case("regressor_loss_bce", "regressor", "loss",
         meta={"config": _set("network.loss", {"name": "binary_crossentropy"})})  # fmt: skip
    for kind in ("classifier", "regressor"):
        for param, value, expect in (
            ("hidden_layer_sizes", [999], "hidden_layer_sizes"),
            ("activation", "tanh", "activations"),
            ("batch_norm", kind == "regressor", "batch_norm"),
            ("dropout", 0.5, "dropout"),
        ):
            case(f"{kind}_param_{param}", kind, expect,
                 meta={"config": _set(f"params.{param}", value)})  # fmt: skip
        for attr, value in (("n_layers_", 5), ("n_outputs_", 7), ("out_activation_", "relu"),
                            ("n_features_in_", 9), ("n_iter_", "abc"), ("t_", -3),
                            ("loss_", "x"), ("loss_curve_", {"a": 1}), ("bogus_", 1)):  # fmt: skip
            case(f"{kind}_fitted_{attr}", kind, attr.rstrip("_") if attr == "bogus_" else attr,
                 meta={"config": _set(f"fitted.{attr}", value)})  # fmt: skip
    return cases + _value_cases(folder, files) + _special_files(folder)


def _value_cases(folder: Path, files: dict[str, Path]) -> list[Case]:
    """Files whose tensors' values are wrong: a negative running variance."""
    import safetensors.numpy as stnp

    out = []
    for kind, name in (("network", "1.running_var"), ("classifier", "buffer.running_var[1]")):
        raw = files[kind].read_bytes()
        header, _ = split_file(raw)
        tensors = stnp.load(raw)
        tensors[name] = np.full_like(tensors[name], -1.0)
        path = folder / f"{kind}_negative_running_var.safetensors"
        path.write_bytes(stnp.save(tensors, metadata=header["__metadata__"]))
        out.append(Case(path.stem, str(path), "model", r"running_var.*negative variance"))
    return out


def _special_files(folder: Path) -> list[Case]:
    """Paths that are not regular files: a FIFO (a read would block), /dev/zero (endless)."""
    fifo = folder / "fifo.safetensors"
    os.mkfifo(fifo)
    cases = [
        Case("fifo", str(fifo), "model", r"a FIFO"),
        Case("fifo_checkpoint", str(fifo), "checkpoint", r"a FIFO"),
        Case("directory", str(folder), "model", r"a directory"),
    ]
    if os.path.exists("/dev/zero"):
        cases.append(Case("dev_zero", "/dev/zero", "model", r"a character device"))
    return cases
