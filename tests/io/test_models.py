"""The registry of loadable classes: save and load through a class's state (deltaprop.io.models)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deltaprop import Network
from deltaprop.io import (
    ModelFileError,
    load,
    register_model_class,
    save,
)
from tests.filetools import retensor, rewrite, split_file


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


def test_extra_section_round_trip(tmp_path: Path) -> None:
    est = FakeEstimator(Network([4, 5, 3], seed=0), ["a", "b", "c"], {})
    extra = ({"columns": ["x", "y"], "gap": math.inf}, {"mean": np.arange(3.0)})
    path = save(est, tmp_path / "e.safetensors", extra=extra)
    back, (config, arrays) = load(path, return_extra=True)
    assert type(back) is FakeEstimator and not hasattr(back, "extra")
    assert config == {"columns": ["x", "y"], "gap": math.inf}
    np.testing.assert_array_equal(arrays["mean"], np.arange(3.0))
    assert load(save(est, tmp_path / "plain"), return_extra=True)[1] is None
    net_path = save(Network([2, 1], seed=0), tmp_path / "n", extra=({}, {"s": np.ones(2)}))
    assert load(net_path, return_extra=True)[1][1]["s"].shape == (2,)  # type: ignore[index]
    with pytest.raises(TypeError, match="extra array 'bad' must be float32"):
        save(est, tmp_path / "x", extra=({}, {"bad": np.array(["s"])}))


# --------------------------------------------------------------------------- wrappers
class Scaled:
    """A composite: a network and a scale, saved as the network plus an extra section."""

    def __init__(self, net: Network, scale: float) -> None:
        self.net, self.scale = net, scale


def _split(obj: Scaled) -> tuple[Network, Any]:
    return obj.net, ({"scale": obj.scale}, {"offset": np.zeros(2)})


def _wrap(model: Any, extra: Any) -> Scaled | None:
    config, _ = extra
    if not isinstance(model, Network) or "scale" not in config:
        return None
    if not config["scale"] > 0:
        raise ValueError(f"scale must be > 0; got {config['scale']!r}")
    return Scaled(model, config["scale"])


def test_a_wrapper_saves_its_parts_and_load_builds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deltaprop.io import register_model_wrapper, registry

    monkeypatch.setattr(registry, "_WRAPPERS", dict(registry._WRAPPERS))  # undone after the test
    register_model_wrapper(Scaled, _split, _wrap)
    net = Network([3, 4, 2], seed=0)
    path = save(Scaled(net, 2.5), tmp_path / "w.safetensors", extra=({"note": "n"}, {}))
    back = load(path)
    assert isinstance(back, Scaled) and back.scale == 2.5
    assert np.array_equal(back.net.parameters, net.parameters)
    model, (config, arrays) = load(path, return_extra=True)  # the parts as stored
    assert isinstance(model, Network) and config == {"scale": 2.5, "note": "n"}
    assert list(arrays) == ["offset"]
    plain = save(net, tmp_path / "p.safetensors", extra=({"other": 1}, {}))
    assert isinstance(load(plain), Network)  # not the wrapper's section: the model itself
    with pytest.raises(ValueError, match=r"must not overwrite.*\['scale'\]"):
        save(Scaled(net, 1.0), tmp_path / "x.safetensors", extra=({"scale": 3}, {}))
    bad = save(net, tmp_path / "bad.safetensors", extra=({"scale": -1}, {}))
    with pytest.raises(ModelFileError, match=r"bad\.safetensors.*scale must be > 0; got -1"):
        load(bad)


# --------------------------------------------------------------------------- ONNX files
def test_an_onnx_file_is_named_as_such_and_save_refuses_the_suffix(tmp_path: Path) -> None:
    from deltaprop.export import export_onnx

    net = Network([2, 3, 1], seed=0)
    export_onnx(net, tmp_path / "m.onnx")
    with pytest.raises(ModelFileError, match=r"not a model file: it is an ONNX file .*export_onnx"):
        load(tmp_path / "m.onnx")
    for name in ("x.onnx", "x.ONNX"):
        with pytest.raises(
            ValueError, match=r"(?i)use deltaprop\.export_onnx.*Received: path='.*x\.onnx'"
        ):
            save(net, str(tmp_path / name))
        assert not (tmp_path / name).exists()
    (tmp_path / "m.onnx").rename(tmp_path / "m.safetensors")  # by its bytes, not its name
    with pytest.raises(ModelFileError, match="it is an ONNX file"):
        load(tmp_path / "m.safetensors")
    assert load(save(net, tmp_path / "m.onnx.safetensors")).get_config() == net.get_config()
